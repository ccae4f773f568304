-- group: seeds
-- deps: seed_instructions, seed_copy_ranks
-- description: Every seed row that exact dedup dropped, with the copy it duplicates
-- description: (`duplicate_of` is the kept row's instruction_id, plus its pool, source and origin).
with ranks as (
    select * from main.seed_copy_ranks
),

dropped as (
    select seeds.*
    from main.seed_instructions as seeds
    semi join (select * from ranks where copy_rank > 1) as dropped_keys
        using (instruction_id, seed_source, source_name, origin)
),

kept as (
    select * from ranks where copy_rank = 1
)

select
    dropped.*,
    kept.instruction_id as duplicate_of,
    kept.seed_source as kept_seed_source,
    kept.source_name as kept_source_name,
    kept.origin as kept_origin,
    dropped.seed_source = kept.seed_source as within_pool
from dropped
inner join kept using (instruction_id)
