-- group: seeds
-- deps: seed_instructions
-- description: Exact dedup decisions, one narrow row per seed row: copies share an instruction_id
-- description: (normalised instruction + input) within and across pools; of each set the row whose
-- description: pool comes first in `dedup.source_priority` is kept (then source name, then origin).
-- description: Narrow on purpose: the full-text views below join it instead of copying the text. It
-- description: also carries each row's word counts, so seed_stats aggregates it without a join.
select
    instruction_id,
    seed_source,
    source_name,
    origin,
    row_number() over (
        partition by instruction_id
        order by list_position($source_priority, seed_source), source_name, origin
    ) as copy_rank,
    (word_count(instruction) + word_count(input))::integer as instruction_words,
    word_count(output)::integer as output_words,
    input <> '' as has_input,
    output = '' as empty_output
from main.seed_instructions
