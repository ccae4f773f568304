-- group: seeds
-- deps: seed_copy_ranks
-- description: Per-pool statistics in the shape of LaMini's Table 1, before and after exact dedup:
-- description: rows, unique rows, rows kept after dedup across pools, duplicates removed; then mean
-- description: instruction (with input) and reference-output length in words, the share of rows with
-- description: an input and the rows whose reference output is empty, each over all loaded rows
-- description: (`_before_dedup`) and over the rows dedup keeps (`_after_dedup`). Words are runs of
-- description: non-whitespace (word_count). The `all` row covers every pool.
with counted as (
    -- seed_copy_ranks holds one row per seed row with its word counts: no join, no second text scan.
    select *, copy_rank = 1 as kept
    from main.seed_copy_ranks
),

per_pool as (
    select
        seed_source,
        count(*) as rows,
        count(distinct instruction_id) as unique_rows,
        count(*) filter (where kept) as kept_rows,
        sum(instruction_words) as instruction_words,
        sum(output_words) as output_words,
        count(*) filter (where has_input) as rows_with_input,
        count(*) filter (where empty_output) as empty_outputs,
        sum(instruction_words) filter (where kept) as kept_instruction_words,
        sum(output_words) filter (where kept) as kept_output_words,
        count(*) filter (where kept and has_input) as kept_rows_with_input,
        count(*) filter (where kept and empty_output) as kept_empty_outputs
    from counted
    group by seed_source
),

every_pool as (
    select
        'all' as seed_source,
        sum(rows)::bigint as rows,
        (select count(distinct instruction_id) from main.seed_copy_ranks) as unique_rows,
        sum(kept_rows)::bigint as kept_rows,
        sum(instruction_words) as instruction_words,
        sum(output_words) as output_words,
        sum(rows_with_input)::bigint as rows_with_input,
        sum(empty_outputs)::bigint as empty_outputs,
        sum(kept_instruction_words) as kept_instruction_words,
        sum(kept_output_words) as kept_output_words,
        sum(kept_rows_with_input)::bigint as kept_rows_with_input,
        sum(kept_empty_outputs)::bigint as kept_empty_outputs
    from per_pool
),

pools as (
    select * from per_pool
    union all by name
    select * from every_pool
)

select
    seed_source,
    rows,
    unique_rows,
    kept_rows,
    rows - kept_rows as duplicates_removed,
    round(instruction_words / rows, 2) as mean_instruction_words_before_dedup,
    round(kept_instruction_words / nullif(kept_rows, 0), 2) as mean_instruction_words_after_dedup,
    round(output_words / rows, 2) as mean_output_words_before_dedup,
    round(kept_output_words / nullif(kept_rows, 0), 2) as mean_output_words_after_dedup,
    round(rows_with_input / rows, 4) as share_with_input_before_dedup,
    round(kept_rows_with_input / nullif(kept_rows, 0), 4) as share_with_input_after_dedup,
    empty_outputs as empty_outputs_before_dedup,
    kept_empty_outputs as empty_outputs_after_dedup
from pools
order by seed_source = 'all', seed_source
