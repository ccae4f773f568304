"""Exact dedup plus per-pool statistics (the dbt_like_sql seed models) on LaMini-sized data.

    .lamini/venv/bin/python bench/dedup_stats.py [--rows 2600000]

Builds a synthetic `seed_instructions` table shaped like LaMini-instruction (four pools, mean
instruction ~50 words, ~8% exact duplicates within and across pools) in a fresh DuckDB file, then
times the SQL models exactly as the assets run them. Prints seconds, peak RSS and the ratio to the
target (15 s, 3 GB).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import duckdb

from lamini_assets.schema import SEED_SOURCES
from lamini_assets.warehouse import load_sql_models, run_sql_model

TARGET_SECONDS = 15.0
TARGET_RSS_GB = 3.0

SYNTHETIC_SEEDS = """
create table main.seed_instructions as
with vocabulary as (
    select list(word) as words
    from (select 'w' || (range % 5000)::varchar as word from range(5000))
),
numbered as (
    -- Every 12th row repeats an earlier row's text, so duplicates exist within and across pools.
    select range as row_number, case when range % 12 = 5 then range // 3 else range end as text_seed
    from range($rows)
),
texts as (
    select
        row_number,
        list_transform(
            range(20 + (hash(text_seed) % 61)::bigint),
            position -> words[1 + (hash(text_seed * 131 + position) % 5000)::bigint]
        ) as tokens,
        text_seed
    from numbered, vocabulary
)
select
    substr(md5(array_to_string(tokens, ' ')), 1, 16) as instruction_id,
    ($pools)[1 + (row_number % 4)::bigint] as seed_source,
    ($pools)[1 + (row_number % 4)::bigint] as source_name,
    array_to_string(tokens, ' ') as instruction,
    case when text_seed % 3 = 0 then 'some input text' else '' end as input,
    array_to_string(tokens[1:30], ' ') as output,
    'template_' || (row_number % 50)::varchar as template,
    'synthetic.jsonl:' || row_number::varchar as origin
from texts
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_600_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        conn = duckdb.connect(str(Path(folder) / "bench.duckdb"))
        started = time.perf_counter()
        conn.execute(SYNTHETIC_SEEDS, {"rows": args.rows, "pools": list(SEED_SOURCES)})
        built = time.perf_counter() - started
        print(f"built {args.rows:,} synthetic rows in {built:.1f} s (not timed below)")

        timings: dict[str, float] = {}
        counts: dict[str, int] = {}
        started = time.perf_counter()
        for model in load_sql_models():
            if "seed_instructions" not in model.deps:
                continue
            model_started = time.perf_counter()
            counts[model.name] = run_sql_model(conn, model, {"source_priority": list(SEED_SOURCES)})
            timings[model.name] = time.perf_counter() - model_started
        total = time.perf_counter() - started
        mean_words = conn.execute("select avg(word_count(instruction)) from main.seed_instructions").fetchone()[0]
        conn.close()

    peak_rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"mean instruction words: {mean_words:.1f}")
    for name, seconds in timings.items():
        print(f"  {name:<28} {seconds:6.2f} s  {counts[name]:>10,} rows")
    print(f"dedup + stats: {total:.2f} s (target {TARGET_SECONDS:.0f} s, ratio {total / TARGET_SECONDS:.2f})")
    print(f"peak RSS: {peak_rss_gb:.2f} GB (target {TARGET_RSS_GB:.0f} GB, ratio {peak_rss_gb / TARGET_RSS_GB:.2f})")


if __name__ == "__main__":
    main()
