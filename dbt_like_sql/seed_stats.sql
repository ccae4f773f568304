-- group: seeds
-- deps: seed_instructions, seed_copy_ranks
-- description: Per-pool statistics in the shape of LaMini's Table 1: rows, unique rows, rows kept
-- description: after exact dedup across pools, duplicates removed, mean instruction (with input) and
-- description: reference-output length in words, the share of rows with an input, and the rows whose
-- description: reference output is empty. The `all` row covers every pool.
with per_pool as (
    select
        seed_source,
        count(*) as rows,
        count(distinct instruction_id) as unique_rows,
        sum(word_count(instruction) + word_count(input)) as instruction_words,
        sum(word_count(output)) as output_words,
        count(*) filter (where input <> '') as rows_with_input,
        count(*) filter (where output = '') as empty_outputs
    from main.seed_instructions
    group by seed_source
),

kept as (
    select seed_source, count(*) as kept_rows
    from main.seed_copy_ranks
    where copy_rank = 1
    group by seed_source
),

every_pool as (
    select
        'all' as seed_source,
        sum(rows)::bigint as rows,
        (select count(distinct instruction_id) from main.seed_instructions) as unique_rows,
        sum(instruction_words) as instruction_words,
        sum(output_words) as output_words,
        sum(rows_with_input)::bigint as rows_with_input,
        sum(empty_outputs)::bigint as empty_outputs
    from per_pool
),

pools as (
    select * from per_pool
    union all by name
    select * from every_pool
),

kept_with_total as (
    select * from kept
    union all
    select 'all', sum(kept_rows)::bigint from kept
)

select
    pools.seed_source,
    pools.rows,
    pools.unique_rows,
    coalesce(kept_with_total.kept_rows, 0) as kept_rows,
    pools.rows - coalesce(kept_with_total.kept_rows, 0) as duplicates_removed,
    round(pools.instruction_words / pools.rows, 2) as mean_instruction_words,
    round(pools.output_words / pools.rows, 2) as mean_output_words,
    round(pools.rows_with_input / pools.rows, 4) as share_with_input,
    pools.empty_outputs
from pools
left join kept_with_total using (seed_source)
order by pools.seed_source = 'all', pools.seed_source
