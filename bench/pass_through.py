"""Pass-through `instructions` partitions (alpaca, original_flan, original_p3) at LaMini's size:
the Polars path (read the pool's deduplicated seeds into Polars, build the partition, write it back,
hash the frame) against the copy inside DuckDB (generation/partitions.py copy_original_instructions).

    lenv python bench/pass_through.py --database /work/bench_full/k1/state_warm/lamini.duckdb [--baseline /work/main]

`--database`: a full-size DuckDB file after a whole run (seed_instructions, seed_copy_ranks and the
seed_instructions_dedup view); it is copied to a temporary folder first, never opened itself. Each
step runs in a fresh process like a Dagster step (it opens the database cold): "before" with the
checkout in `--baseline` first on PYTHONPATH, "after" with this one, alternately on the same copy.
Prints CPU seconds (user+sys, every thread), wall seconds, rows per CPU second, peak RSS and whether
both wrote the same rows with the same data version.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

_COMMON = """
import json, resource, sys, time
def peak_gb():  # VmHWM: ru_maxrss would carry the parent's peak over fork and exec
    line = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024**2
import duckdb, polars as pl
from lamini_assets.schema import INSTRUCTION_REJECT_SCHEMA, LABEL_SEED_POOL, TEACHER_FAILURE_SCHEMA
from lamini_assets.warehouse import read_table, replace_partition, table_version
database, label = sys.argv[1], sys.argv[2]
usage, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
"""
_END = """
after, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - wall
print(json.dumps({"rows": rows, "version": version, "wall": wall, "peak_gb": peak_gb(),
                  "cpu": after.ru_utime - usage.ru_utime + after.ru_stime - usage.ru_stime}))
"""
# The asset's pass-through branch as it was: two connections (read, then write), the frame hashed.
BEFORE = _COMMON + """
from lamini_assets.generation.partitions import original_instructions
with duckdb.connect(database) as conn:
    seeds = read_table(conn, "seed_instructions_dedup", "seed_source", [LABEL_SEED_POOL[label]],
                       columns=["instruction_id", "instruction", "input", "template", "origin"])
partition = original_instructions(label, seeds)
with duckdb.connect(database) as conn:
    replace_partition(conn, "instructions", partition.rows, {"instruction_source": label})
    replace_partition(conn, "instruction_rejects", partition.rejects, {"instruction_source": label})
    replace_partition(conn, "teacher_failures", partition.failures, {"asset": "instructions", "instruction_source": label})
rows, version = partition.rows.height, table_version(partition.rows)
table_version(partition.rejects)
""" + _END
# The asset's pass-through branch now (defs/generation.py _pass_through).
AFTER = _COMMON + """
from lamini_assets.generation.partitions import copy_original_instructions
rejects = pl.DataFrame(schema=INSTRUCTION_REJECT_SCHEMA)
with duckdb.connect(database) as conn:
    copied = copy_original_instructions(conn, label)
    replace_partition(conn, "instruction_rejects", rejects, {"instruction_source": label})
    replace_partition(conn, "teacher_failures", pl.DataFrame(schema=TEACHER_FAILURE_SCHEMA),
                      {"asset": "instructions", "instruction_source": label})
rows, version = copied.rows, copied.version
table_version(rejects)
""" + _END
LABELS = ("alpaca", "original_flan", "original_p3")


def run_in_child(code: str, checkout: Path, database: Path, label: str) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", code, str(database), label], cwd=checkout,
                          env={**os.environ, "PYTHONPATH": str(checkout)}, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{label} with {checkout} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def partition_rows(database: Path, label: str) -> list[tuple[object, ...]]:
    import duckdb

    with duckdb.connect(str(database), read_only=True) as conn:
        # Sorted: the partition's row order was never defined (the dedup view is a right semi join).
        return conn.execute("select * from instructions where instruction_source = ? order by all", [label]).fetchall()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", type=Path, required=True, help="a full-size lamini.duckdb (copied, never opened)")
    parser.add_argument("--baseline", type=Path, default=Path("/work/main"), help="the checkout measured as 'before'")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each path per label (the median is shown)")
    parser.add_argument("--labels", nargs="+", default=list(LABELS), choices=LABELS)
    args = parser.parse_args()
    here, baseline = Path(__file__).resolve().parents[1], args.baseline.resolve()
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR", "/tmp")) as folder:
        database = Path(folder) / "lamini.duckdb"
        shutil.copyfile(args.database, database)
        print(f"{'partition':<15}{'rows':>11}  {'CPU s before -> after':>24}  {'wall s':>16}  {'rows/CPU-s':>22}"
              f"  {'peak GB':>12}  same rows, version")
        sums = {"before": [0.0, 0.0], "after": [0.0, 0.0]}
        for label in args.labels:
            runs: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
            same_rows = True
            for _ in range(args.repeat):
                runs["before"].append(run_in_child(BEFORE, baseline, database, label))
                written_before = partition_rows(database, label)
                runs["after"].append(run_in_child(AFTER, here, database, label))
                same_rows &= partition_rows(database, label) == written_before
            figures = {name: {key: statistics.median(run[key] for run in found) for key in ("cpu", "wall", "peak_gb")}
                       for name, found in runs.items()}
            versions = {run["version"] for found in runs.values() for run in found}
            before, after, rows = figures["before"], figures["after"], int(runs["after"][0]["rows"])
            for name in sums:
                sums[name][0] += figures[name]["cpu"]
                sums[name][1] += figures[name]["wall"]
            print(f"{label:<15}{rows:>11,}  {before['cpu']:>10.2f} -> {after['cpu']:>6.2f} ({before['cpu'] / after['cpu']:.2f}x)"
                  f"  {before['wall']:>6.2f} -> {after['wall']:>6.2f}  {rows / before['cpu']:>9,.0f} -> {rows / after['cpu']:>9,.0f}"
                  f"  {before['peak_gb']:>4.2f} -> {after['peak_gb']:>4.2f}  {same_rows}, {len(versions) == 1}")
        (cpu_b, wall_b), (cpu_a, wall_a) = sums["before"], sums["after"]
        print(f"{'all':<15}{'':>11}  {cpu_b:>10.2f} -> {cpu_a:>6.2f} ({cpu_b / cpu_a:.2f}x)  {wall_b:>6.2f} -> {wall_a:>6.2f}")
        print(f"database file after the runs: {database.stat().st_size / 1e9:.2f} GB")


if __name__ == "__main__":
    main()
