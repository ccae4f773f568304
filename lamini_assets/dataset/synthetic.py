"""Synthetic rows shaped like LaMini-instruction, for benchmarks at full size (2.58M rows).

Rows per source follow the released dataset's split by `instruction_source`, scaled to the
requested total; lengths are in words, with the long P3/FLAN prompts and short Self-Instruct and
Alpaca ones, so the overall means come near the paper's 50.6 / 32.9 tokens (about 38 / 25 words).
The figures are approximations for benchmarking, not a statistic of the real data.
Text is drawn from a 5,000-word vocabulary by DuckDB (no Python loop per row), deterministic per seed.
"""

from __future__ import annotations

import duckdb
import polars as pl

from lamini_assets.dataset.build import DATASET_SCHEMA, with_row_ids
from lamini_assets.schema import INSTRUCTION_SCHEMA, RESPONSE_SCHEMA

LAMINI_TOTAL_ROWS = 2_585_615
# Approximate rows per source in the released dataset (sums to LAMINI_TOTAL_ROWS).
LAMINI_SOURCE_ROWS: dict[str, int] = {
    "alpaca": 51_985,
    "generated_flan": 917_094,
    "generated_p3": 297_312,
    "original_flan": 388_795,
    "original_p3": 464_396,
    "self_instruct_with_topic": 280_997,
    "self_instruct_without_topic": 185_036,
}
# Mean words of (instruction with input, response) per source.
LAMINI_SOURCE_WORDS: dict[str, tuple[int, int]] = {
    "alpaca": (18, 40),
    "generated_flan": (30, 22),
    "generated_p3": (32, 20),
    "original_flan": (70, 18),
    "original_p3": (75, 16),
    "self_instruct_with_topic": (14, 42),
    "self_instruct_without_topic": (15, 40),
}

_GENERATE = """
with sources as (
    select * from (select unnest($sources) as source, unnest($counts) as rows_in_source,
                          unnest($instruction_words) as mean_instruction, unnest($response_words) as mean_response)
),
vocabulary as (select list('w' || (range % 5000)::varchar) as words from range(5000)),
numbered as (
    select source, mean_instruction, mean_response, range as n, hash(source, range, $seed) as h
    from sources, range(rows_in_source)
)
select
    source,
    n,
    source like 'generated%' or source like 'self_instruct%' as generated,
    array_to_string(list_transform(range(greatest(3, mean_instruction // 2 + (h % mean_instruction::ubigint)::bigint)),
                                   i -> words[1 + (hash(h, i) % 5000)::bigint]), ' ') as task_instruction,
    case when h % 3 = 0 then array_to_string(list_transform(range(8), i -> words[1 + (hash(h, i, 'in') % 5000)::bigint]), ' ')
         else '' end as task_input,
    array_to_string(list_transform(range(greatest(1, mean_response // 2 + (hash(h, 'r') % mean_response::ubigint)::bigint)),
                                   i -> words[1 + (hash(h, i, 'r') % 5000)::bigint]), ' ') as response,
    h
from numbered, vocabulary
order by list_position($sources, source), n  -- DuckDB's threads return rows in any order
"""


def synthetic_dataset(total_rows: int = LAMINI_TOTAL_ROWS, seed: int = 0) -> pl.DataFrame:
    """Rows in the `lamini_dataset` schema (DATASET_SCHEMA), LaMini's per-source shares and lengths."""
    scale = total_rows / LAMINI_TOTAL_ROWS
    counts = {source: max(1, round(rows * scale)) for source, rows in LAMINI_SOURCE_ROWS.items()}
    with duckdb.connect() as conn:
        base = conn.execute(_GENERATE, {
            "sources": list(counts), "counts": list(counts.values()),
            "instruction_words": [LAMINI_SOURCE_WORDS[s][0] for s in counts],
            "response_words": [LAMINI_SOURCE_WORDS[s][1] for s in counts], "seed": seed,
        }).pl()
    hex16 = pl.col("h").cast(pl.String).str.zfill(20)
    rows = base.select(
        pl.lit("").alias("row_id"),
        pl.when(pl.col("task_input") == "").then(pl.col("task_instruction"))
        .otherwise(pl.concat_str([pl.col("task_instruction"), pl.lit("\n\n"), pl.col("task_input")])).alias("instruction"),
        "response",
        pl.col("source").alias("instruction_source"),
        hex16.str.slice(4, 16).alias("instruction_id"),
        "task_instruction",
        "task_input",
        pl.when(pl.col("generated")).then(pl.concat_str([pl.lit("generation:"), hex16]))
        .otherwise(pl.concat_str([pl.lit("seeds.jsonl:"), pl.col("n").cast(pl.String)])).alias("origin"),
        pl.concat_str([pl.lit("template_"), (pl.col("h") % 50).cast(pl.String)]).alias("template"),
        pl.when(pl.col("generated")).then(pl.concat_list([hex16.str.slice(0, 16), hex16.str.slice(2, 16), hex16.str.slice(4, 16)]))
        .otherwise(pl.lit([], dtype=pl.List(pl.String()))).alias("example_ids"),
        pl.when(pl.col("source") == "self_instruct_with_topic").then(pl.lit(["Jazz", "Opera", "Infantry"]))
        .otherwise(pl.lit([], dtype=pl.List(pl.String()))).alias("topics"),
        pl.when(pl.col("generated")).then(pl.concat_str([pl.lit("g"), hex16, hex16, hex16])).alias("generation_cache_key"),
        pl.concat_str([pl.lit("r"), hex16, hex16, hex16]).alias("cache_key"),
        pl.lit("gpt-3.5-turbo").alias("teacher_model"),
        pl.lit("stop").alias("finish_reason"),
        pl.when(pl.col("generated")).then(pl.lit("lamini-generation@1")).alias("generation_template_version"),
        pl.lit("lamini-response@1").alias("response_template_version"),
    )
    return with_row_ids(rows.drop("row_id")).select(list(DATASET_SCHEMA)).cast(DATASET_SCHEMA)


def synthetic_upstream(rows: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(instructions, responses) tables that `build_lamini_dataset` turns back into `rows`."""
    instructions = rows.select(
        "instruction_id", "instruction_source", pl.col("task_instruction").alias("instruction"),
        pl.col("task_input").alias("input"), "template", "origin", "example_ids", "topics",
        "generation_cache_key", "generation_template_version",
    ).cast(INSTRUCTION_SCHEMA)
    responses = rows.select(
        "instruction_id", "instruction_source", pl.col("task_instruction").alias("instruction"),
        pl.col("task_input").alias("input"), "response", "finish_reason", pl.lit(False).alias("truncated"),
        "teacher_model", "cache_key",
        (pl.col("instruction").str.len_chars() // 4).cast(pl.Int64).alias("prompt_tokens"),
        (pl.col("response").str.len_chars() // 4).cast(pl.Int64).alias("completion_tokens"),
        pl.lit(None, dtype=pl.String()).alias("error"), "response_template_version",
    ).cast(RESPONSE_SCHEMA)
    return instructions, responses
