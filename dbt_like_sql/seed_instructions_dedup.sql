-- group: seeds
-- deps: seed_instructions, seed_copy_ranks
-- materialized: view
-- description: Seed instructions after exact dedup: every seed row that `seed_copy_ranks` keeps,
-- description: with all its columns.
select seeds.*
from main.seed_instructions as seeds
semi join (select * from main.seed_copy_ranks where copy_rank = 1) as kept
    using (instruction_id, seed_source, source_name, origin)
