"""Exact dedup plus per-pool statistics (the dbt_like_sql seed models) on LaMini-sized data.

    .lamini/venv/bin/python bench/dedup_stats.py [--rows 2600000]
    lenv python bench/dedup_stats.py --seeds-from /work/bench_full/k1/input [--baseline /work/main]

`--coverage FILE`: only the dedup check's query (validation.count_dedup_coverage), old and new,
alternately on a full-size DuckDB file opened read-only.
`--seeds-from DIR`: `seed_instructions` loaded by this checkout's loaders from the four LaMini-sized
pools in DIR (bench/seed_loaders.py --full shows main's load the same rows), copied to two DuckDB
files; each model then runs in a fresh process per file, once with the code of `--baseline` (e.g.
main's worktree) and once with this checkout's, as the Dagster assets run them (one step each, a cold
connection). Prints CPU seconds (user+sys, every thread), wall seconds, rows per CPU second and peak
RSS per model, the ratios, and whether `seed_stats` and the kept/dropped rows came out the same.

Builds a synthetic `seed_instructions` table shaped like LaMini-instruction (four pools, mean
instruction ~50 words, ~8% exact duplicates within and across pools) in a fresh DuckDB file, then
times the SQL models exactly as the assets run them. Prints seconds, peak RSS and the ratio to the
target (15 s, 3 GB).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ holds the reference implementations

from lamini_assets.schema import SEED_SOURCES
from lamini_assets.warehouse import load_sql_models, run_sql_model
from tests.test_warehouse import OLD_DEDUP_COVERAGE  # the check's query as it was, kept as the test's reference

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


# One model in a fresh interpreter with the measured checkout first on PYTHONPATH; prints one JSON line.
_CHILD = """
import json, resource, sys, time
def peak_gb():  # VmHWM: ru_maxrss would carry the parent's peak over fork and exec
    line = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024**2
import duckdb
from lamini_assets.schema import SEED_SOURCES
from lamini_assets.warehouse import load_sql_models, run_sql_model
(model,) = [m for m in load_sql_models() if m.name == sys.argv[2]]
usage, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
with duckdb.connect(sys.argv[1]) as conn:
    count = run_sql_model(conn, model, {"source_priority": list(SEED_SOURCES)})
after, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - wall
print(json.dumps({"rows": count, "wall": wall, "cpu": after.ru_utime - usage.ru_utime + after.ru_stime - usage.ru_stime,
                  "peak_gb": peak_gb()}))
"""
SEED_MODELS = ("seed_copy_ranks", "seed_duplicates", "seed_instructions_dedup", "seed_stats")


def run_in_child(checkout: Path, database: Path, model: str) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", _CHILD, str(database), model], cwd=checkout,
                          env={**os.environ, "PYTHONPATH": str(checkout)}, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{model} with {checkout} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_full(inputs: Path, baseline: Path) -> None:
    from bench.seed_loaders import FULL_SOURCES
    from lamini_assets.sources import SourceSpec, load_source
    from lamini_assets.warehouse import replace_partition

    here = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as folder:
        databases = {"before": Path(folder) / "before.duckdb", "after": Path(folder) / "after.duckdb"}
        with duckdb.connect(str(databases["before"])) as conn:
            for pool, source in FULL_SOURCES.items():
                rows = load_source(SourceSpec(**source), inputs).rows
                replace_partition(conn, "seed_instructions", rows, {"seed_source": pool})
            total = conn.execute("select count(*) from seed_instructions").fetchone()[0]
        shutil.copy(databases["before"], databases["after"])
        print(f"seed_instructions: {total:,} rows from {inputs} (loading not timed here)")
        print(f"{'model':<26}{'rows':>11}  {'CPU s before -> after':>24}  {'wall s':>16}  {'rows/CPU-s':>22}  {'peak GB':>12}")
        sums = {"before": [0.0, 0.0], "after": [0.0, 0.0]}
        for model in SEED_MODELS:
            before = run_in_child(baseline, databases["before"], model)
            after = run_in_child(here, databases["after"], model)
            for label, figures in (("before", before), ("after", after)):
                sums[label][0] += figures["cpu"]
                sums[label][1] += figures["wall"]
            print(f"{model:<26}{after['rows']:>11,}  {before['cpu']:>10.2f} -> {after['cpu']:>6.2f} ({before['cpu'] / after['cpu']:.2f}x)"
                  f"  {before['wall']:>6.2f} -> {after['wall']:>6.2f}  {total / before['cpu']:>9,.0f} -> {total / after['cpu']:>9,.0f}"
                  f"  {before['peak_gb']:>4.2f} -> {after['peak_gb']:>4.2f}")
        (cpu_b, wall_b), (cpu_a, wall_a) = sums["before"], sums["after"]
        print(f"{'four models':<26}{total:>11,}  {cpu_b:>10.2f} -> {cpu_a:>6.2f} ({cpu_b / cpu_a:.2f}x)  {wall_b:>6.2f} -> {wall_a:>6.2f}"
              f"  {total / cpu_b:>9,.0f} -> {total / cpu_a:>9,.0f}   (rows/CPU-s: seed rows in, per model)")
        same = []
        for query in ("select * from seed_stats order by all", "select instruction_id, seed_source, origin from "
                      "seed_instructions_dedup order by all", "select * exclude (within_pool) from seed_duplicates order by all"):
            found = [duckdb.connect(str(path), read_only=True).execute(query).fetchall() for path in databases.values()]
            same.append(found[0] == found[1])
        print(f"same seed_stats, kept rows and dropped rows: {same}")


def measure_coverage(database: Path, repeat: int) -> None:
    """The seed_dedup_keeps_one_of_each check's query, old and new, alternately on a full-size file
    (opened read-only): median CPU and wall seconds, and whether both count the same."""
    import statistics

    from lamini_assets.validation import count_dedup_coverage

    def timed(run):  # type: ignore[no-untyped-def]
        usage, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        found = run()
        after = resource.getrusage(resource.RUSAGE_SELF)
        return after.ru_utime - usage.ru_utime + after.ru_stime - usage.ru_stime, time.perf_counter() - wall, found

    with duckdb.connect(str(database), read_only=True) as conn:
        rows = conn.execute("select count(*) from seed_instructions").fetchone()[0]
        runs: dict[str, list[tuple[float, float, tuple[int, ...]]]] = {"before": [], "after": []}
        for _ in range(repeat):
            runs["before"].append(timed(lambda: tuple(conn.execute(OLD_DEDUP_COVERAGE).fetchone())))
            runs["after"].append(timed(lambda: tuple(count_dedup_coverage(conn).values())))
    cpu = {name: statistics.median(run[0] for run in found) for name, found in runs.items()}
    wall = {name: statistics.median(run[1] for run in found) for name, found in runs.items()}
    same = len({run[2] for found in runs.values() for run in found}) == 1
    print(f"count_dedup_coverage over {rows:,} seed rows (median of {repeat}): CPU s {cpu['before']:.2f} -> {cpu['after']:.2f} "
          f"({cpu['before'] / cpu['after']:.2f}x), wall s {wall['before']:.2f} -> {wall['after']:.2f}, "
          f"rows/CPU-s {rows / cpu['before']:,.0f} -> {rows / cpu['after']:,.0f}, same counts: {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_600_000)
    parser.add_argument("--seeds-from", type=Path, help="a folder of LaMini-sized inputs (bench/seed_loaders.py --full)")
    parser.add_argument("--baseline", type=Path, default=Path("/work/main"), help="the checkout measured as 'before'")
    parser.add_argument("--coverage", type=Path, help="a full-size lamini.duckdb: time the dedup check's query only")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.coverage is not None:
        measure_coverage(args.coverage, args.repeat)
        return
    if args.seeds_from is not None:
        measure_full(args.seeds_from.resolve(), args.baseline.resolve())
        return

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
