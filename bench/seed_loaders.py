"""Seed loaders on full-size synthetic inputs: Alpaca's 52K-row JSON list and a FLAN JSONL
folder sampled per template.

    lenv python bench/seed_loaders.py [--alpaca-rows 52002] [--flan-rows 300000] [--p3-rows 300000]
    lenv python bench/seed_loaders.py --full /work/bench_full/k1/input [--baseline /work/main]

`--full DIR`: the four LaMini-sized pools in DIR (self_instruct_seed_tasks.jsonl, alpaca_data.json,
p3/, flan/, as bench/full_size.py writes them), each loaded in a fresh process by the code in
`--baseline` (a checkout, e.g. main's worktree, put first on PYTHONPATH) and by this checkout: CPU
seconds (user+sys, every thread), wall seconds, rows per CPU second and peak RSS, the ratios, and
whether both loaded the same rows. `--write` also times the step's write of the loaded rows into a
fresh DuckDB file (replace_partition as each checkout's seeds asset calls it, then a checkpoint) and
prints its CPU and wall seconds and the file's size.

Each load runs in a fresh process so its peak RSS is its own, twice: the per-row load as it was
before the columnar path (tests/sources/test_columnar_loaders.py keeps it as the reference) and the
loader as it is. Prints seconds, rows per second, peak RSS, the after/before ratios and the ratio to
the target (Alpaca: 10 s and 1.5 GB; FLAN: 30 s and 2 GB).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ holds the reference implementations

from lamini_assets.sources import LOADERS, SourceSpec, load_source
from tests.sources.test_columnar_loaders import reference_load

WORDS = [
    "data",
    "model",
    "answer",
    "question",
    "river",
    "light",
    "quick",
    "explain",
    "write",
    "list",
    "table",
    "summary",
    "city",
    "music",
    "energy",
    "number",
    "simple",
    "history",
    "garden",
    "story",
    "reason",
    "create",
    "compare",
    "describe",
    "translate",
]


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def write_alpaca(path: Path, rows: int, rng: random.Random) -> None:
    # Alpaca's shape: ~13-word instructions, 40% with an input, ~45-word outputs.
    data = [
        {
            "instruction": sentence(rng, rng.randint(5, 25)),
            "input": sentence(rng, rng.randint(5, 40)) if rng.random() < 0.4 else "",
            "output": sentence(rng, rng.randint(10, 90)),
        }
        for _ in range(rows)
    ]
    path.write_text(json.dumps(data, indent=4), encoding="utf-8")


def write_flan(folder: Path, rows: int, rng: random.Random) -> None:
    folder.mkdir()
    families = [(f"task_{t}", kind) for t in range(60) for kind in ("zs_opt", "fs_noopt")]
    per_file = rows // 10
    for part in range(10):
        with (folder / f"part_{part:02d}.jsonl").open("w", encoding="utf-8") as handle:
            for _ in range(per_file):
                task, kind = rng.choice(families)
                row = {
                    "inputs": sentence(rng, rng.randint(20, 120)),
                    "targets": sentence(rng, rng.randint(1, 20)),
                    "task_name": task,
                    "template_type": kind,
                }
                handle.write(json.dumps(row) + "\n")


def write_p3(folder: Path, rows: int, rng: random.Random) -> None:
    folder.mkdir()
    handles = [(folder / f"template_{t:03d}.jsonl").open("w", encoding="utf-8") for t in range(100)]
    for _ in range(rows):
        row = {"prompt": sentence(rng, rng.randint(20, 120)), "completion": " " + sentence(rng, rng.randint(1, 20)) + "<|endoftext|>"}
        rng.choice(handles).write(json.dumps(row) + "\n")
    for handle in handles:
        handle.close()


def timed_load(spec: SourceSpec, base_dir: Path, before: bool, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    started = time.perf_counter()
    loaded = reference_load(LOADERS[spec.format](spec, base_dir)) if before else load_source(spec, base_dir)
    seconds = time.perf_counter() - started
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    results.put((seconds, peak_gb, loaded.counts))


def measure(label: str, spec: SourceSpec, base_dir: Path, target_seconds: float, target_gb: float) -> None:
    figures = {}
    for before in (True, False):
        results: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
        process = multiprocessing.get_context("fork").Process(target=timed_load, args=(spec, base_dir, before, results))
        process.start()
        figures[before] = results.get()
        process.join()
    for before, (seconds, peak_gb, counts) in figures.items():
        print(
            f"{label} {'before (per row)' if before else 'after (columnar)'}: {counts['read']:,} rows read, "
            f"{counts['loaded']:,} kept, {seconds:.2f} s ({counts['read'] / seconds:,.0f} rows/s), peak RSS {peak_gb:.2f} GB "
            f"-> {seconds / target_seconds:.2f}x of {target_seconds:.0f} s, {peak_gb / target_gb:.2f}x of {target_gb} GB"
        )
    (old_seconds, old_gb, _), (new_seconds, new_gb, _) = figures[True], figures[False]
    print(f"{label} after/before: {new_seconds / old_seconds:.2f}x the time ({old_seconds / new_seconds:.1f}x faster), "
          f"{new_gb / old_gb:.2f}x the peak RSS")


FULL_SOURCES = {
    "self_instruct": {"name": "self_instruct_seeds", "format": "self_instruct_jsonl", "path": "self_instruct_seed_tasks.jsonl"},
    "alpaca": {"name": "alpaca_52k", "format": "alpaca_json", "path": "alpaca_data.json"},
    "p3": {"name": "p3_t0", "format": "p3_templates", "path": "p3"},
    "flan": {"name": "flan_v2", "format": "flan", "path": "flan"},
}

# Run in a fresh interpreter with the measured checkout first on PYTHONPATH; prints one JSON line.
_CHILD = """
import hashlib, json, resource, sys, time
def peak_gb():  # VmHWM: ru_maxrss would carry the parent's peak over fork and exec
    line = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024**2
from pathlib import Path
from lamini_assets.sources import SourceSpec, load_source
spec, base = SourceSpec(**json.loads(sys.argv[1])), Path(sys.argv[2])
usage, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
rows = load_source(spec, base).rows
after, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - wall
digest = hashlib.sha256(rows.hash_rows(seed=0).to_numpy().tobytes()).hexdigest()  # every row, in order
written = {}
if sys.argv[3]:  # the step's write too, as this checkout's seeds asset does it, into a fresh file
    import os, duckdb
    from lamini_assets.warehouse import replace_partition
    start, start_wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    with duckdb.connect(sys.argv[3]) as conn:
        replace_partition(conn, "seed_instructions", rows, {"seed_source": sys.argv[4]})
        conn.execute("checkpoint")
    end = resource.getrusage(resource.RUSAGE_SELF)
    written = {"write_wall": time.perf_counter() - start_wall, "file_mb": os.path.getsize(sys.argv[3]) / 1e6,
               "write_cpu": end.ru_utime - start.ru_utime + end.ru_stime - start.ru_stime}
print(json.dumps({"rows": rows.height, "wall": wall, "digest": digest,
                  "cpu": after.ru_utime - usage.ru_utime + after.ru_stime - usage.ru_stime,
                  "peak_gb": peak_gb(), **written}))
"""


def load_in_child(checkout: Path, source: dict[str, str], base: Path, database: Path | None = None,
                  pool: str = "") -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    done = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(source), str(base), str(database or ""), pool],
                          env=env, cwd=checkout, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"loading {source['name']} with {checkout} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_full(base: Path, baseline: Path, write: bool = False) -> None:
    here = Path(__file__).resolve().parents[1]
    totals = {"before": [0.0, 0.0, 0], "after": [0.0, 0.0, 0]}
    writes: list[str] = []
    print(f"{'pool':<14}{'rows':>10}  {'CPU s before -> after':>24}  {'wall s':>16}  {'rows/CPU-s':>20}  {'peak GB':>12}  same rows")
    for pool, source in FULL_SOURCES.items():
        with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as folder:
            databases = (Path(folder) / "before.duckdb", Path(folder) / "after.duckdb") if write else (None, None)
            before = load_in_child(baseline, source, base, databases[0], pool)
            after = load_in_child(here, source, base, databases[1], pool)
        if write:
            writes.append(
                f"{pool:<14}{after['rows']:>10,}  {before['write_cpu']:>10.2f} -> {after['write_cpu']:>6.2f} "
                f"({before['write_cpu'] / after['write_cpu']:.2f}x)  {before['write_wall']:>6.2f} -> {after['write_wall']:>6.2f}"
                f"  {before['rows'] / before['write_cpu']:>8,.0f} -> {after['rows'] / after['write_cpu']:>8,.0f}"
                f"  {before['file_mb']:>5.0f} -> {after['file_mb']:>5.0f}")
            for label, figures in (("before", before), ("after", after)):
                totals[label][0] += figures["write_cpu"]
                totals[label][1] += figures["write_wall"]
        for label, figures in (("before", before), ("after", after)):
            totals[label][0] += figures["cpu"]
            totals[label][1] += figures["wall"]
            totals[label][2] += int(figures["rows"])
        print(f"{pool:<14}{after['rows']:>10,}  {before['cpu']:>10.2f} -> {after['cpu']:>6.2f} ({before['cpu'] / after['cpu']:.2f}x)"
              f"  {before['wall']:>6.2f} -> {after['wall']:>6.2f}  {before['rows'] / before['cpu']:>8,.0f} -> {after['rows'] / after['cpu']:>8,.0f}"
              f"  {before['peak_gb']:>4.2f} -> {after['peak_gb']:>4.2f}  {before['digest'] == after['digest'] and before['rows'] == after['rows']}")
    if write:
        print(f"the step's DuckDB write (replace_partition into a fresh file, checkpointed)\n"
              f"{'pool':<14}{'rows':>10}  {'CPU s before -> after':>24}  {'wall s':>16}  {'rows/CPU-s':>20}  {'file MB':>13}")
        print("\n".join(writes))
    (cpu_b, wall_b, rows), (cpu_a, wall_a, _) = totals["before"], totals["after"]
    print(f"{'all four':<14}{rows:>10,}  {cpu_b:>10.2f} -> {cpu_a:>6.2f} ({cpu_b / cpu_a:.2f}x)  {wall_b:>6.2f} -> {wall_a:>6.2f}"
          f"  {rows / cpu_b:>8,.0f} -> {rows / cpu_a:>8,.0f}   ({'load + write' if write else 'load'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alpaca-rows", type=int, default=52_002)
    parser.add_argument("--flan-rows", type=int, default=300_000)
    parser.add_argument("--p3-rows", type=int, default=300_000)
    parser.add_argument("--full", type=Path, help="a folder of LaMini-sized inputs (see above)")
    parser.add_argument("--baseline", type=Path, default=Path("/work/main"), help="the checkout measured as 'before'")
    parser.add_argument("--write", action="store_true", help="with --full: also time the step's DuckDB write")
    args = parser.parse_args()
    if args.full is not None:
        measure_full(args.full.resolve(), args.baseline.resolve(), args.write)
        return
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        write_alpaca(base / "alpaca_data.json", args.alpaca_rows, rng)
        write_flan(base / "flan", args.flan_rows, rng)
        print(f"alpaca_data.json: {(base / 'alpaca_data.json').stat().st_size / 1e6:.1f} MB")
        measure("alpaca_json", SourceSpec(name="alpaca", format="alpaca_json", path="alpaca_data.json"), base, 10, 1.5)
        flan = SourceSpec(name="flan", format="flan", path="flan", max_rows_per_template=500, max_rows=40_000)
        measure("flan (sampled)", flan, base, 30, 2.0)
        measure("flan (whole)", SourceSpec(name="flan", format="flan", path="flan"), base, 30, 2.0)
        write_p3(base / "p3", args.p3_rows, rng)
        measure("p3 (whole)", SourceSpec(name="p3", format="p3_templates", path="p3"), base, 30, 2.0)


if __name__ == "__main__":
    main()
