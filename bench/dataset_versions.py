"""Version, hash and export LaMini-sized datasets: seconds, CPU seconds and peak RSS per phase.

    .lamini/venv/bin/python bench/dataset_versions.py [--rows 2585615] [--no-baseline] [--near-duplicates]

Builds synthetic `instructions` and `responses` shaped like LaMini-instruction (lamini_assets/
dataset/synthetic.py: per-source counts and lengths) into a DuckDB file, as the warehouse holds them,
then runs in a fresh process what the `lamini_dataset` asset runs: build inside DuckDB (exclusions,
join, row ids, sort, content hash), card, publish the version folder (parquet by DuckDB COPY, HF
`save_to_disk` from Arrow with the version as fingerprint, Alpaca JSON streamed by DuckDB, card;
staged and renamed), and record it (`lamini_dataset`, `dataset_versions`, `dataset_rows`, `latest`).
A second publish of the same content is timed too (it must add nothing). Target: <= 60 s and <= 4 GB
for all of it.

The baseline, in another fresh process on the same DuckDB file, is the implementation before the
build moved into DuckDB (bench/dataset_versions_baseline.py): upstream read into polars, built and
exported from polars. Both also time the data version of the 2.58M-row `responses` table
(`warehouse.table_version`: now hashed in DuckDB, before a json.dumps loop per row; not in the
target). With --near-duplicates, the cross-source near-duplicate filter is timed as a phase of its
own (off by default: it is the generation novelty filter's cost, see bench/novelty_filter.py).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lamini_assets.artifacts import LocalArtifactStore  # noqa: E402
from lamini_assets.dataset import (  # noqa: E402
    CardFacts,
    DatasetConfig,
    VersionRecord,
    build_dataset_table,
    point_latest,
    publish_version,
    record_version,
    render_card,
    version_key,
)
from lamini_assets.dataset.build import drop_cross_source_near_duplicates  # noqa: E402
from lamini_assets.dataset.config import DEFAULT_SOURCE_PRIORITY  # noqa: E402
from lamini_assets.dataset.synthetic import LAMINI_TOTAL_ROWS, synthetic_dataset, synthetic_upstream  # noqa: E402
from lamini_assets.dedup import NoveltyConfig  # noqa: E402
from lamini_assets.warehouse import content_hash, rename_table, replace_table, table_version  # noqa: E402

TARGET_SECONDS = 60.0
TARGET_RSS_GB = 4.0
FACTS = CardFacts(run_id="bench", created_at="2026-11-27T00:00:00+00:00", config_hash="bench", code_version="bench")


def cpu_seconds() -> float:
    """User + system CPU of this process, every thread (DuckDB's and Arrow's included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize()


class PhaseTimer:
    """Seconds, CPU seconds and peak RSS (sampled every 20 ms) of each phase."""

    def __init__(self) -> None:
        self.figures: list[dict[str, Any]] = []

    def run(self, name: str, work: Callable[[], Any], counted: bool = True) -> Any:
        gc.collect()
        peak = rss_bytes()
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.wait(0.02):
                peak = max(peak, rss_bytes())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.perf_counter()
        cpu_started = cpu_seconds()
        result = work()
        seconds = time.perf_counter() - started
        cpu = cpu_seconds() - cpu_started
        done.set()
        sampler.join()
        peak = max(peak, rss_bytes())
        self.figures.append({"name": name, "seconds": seconds, "cpu": cpu, "peak_gb": peak / 1e9, "counted": counted})
        print(f"  {name:<62} {seconds:7.2f} s wall {cpu:7.2f} s CPU   peak RSS {peak / 1e9:5.2f} GB", flush=True)
        return result

    def totals(self) -> dict[str, float]:
        counted = [f for f in self.figures if f["counted"]]
        return {"seconds": sum(f["seconds"] for f in counted), "cpu": sum(f["cpu"] for f in counted),
                "peak_gb": max(f["peak_gb"] for f in counted)}


def folder_sizes(uri: str) -> str:
    sizes = {p.name: sum(f.stat().st_size for f in p.rglob("*")) if p.is_dir() else p.stat().st_size
             for p in Path(uri).iterdir()}
    return ", ".join(f"{name} {size / 1e9:.2f} GB" for name, size in sorted(sizes.items()))


def run_new(warehouse: Path, store_root: Path, near_duplicates: bool) -> dict[str, float]:
    """What the `lamini_dataset` asset does now, on the warehouse's tables."""
    timer = PhaseTimer()
    store = LocalArtifactStore(store_root)
    conn = duckdb.connect(str(warehouse))
    config = DatasetConfig(near_duplicates=None)
    conn.execute("set memory_limit = ?", [config.duckdb_memory_limit])  # as the asset does (warehouse.memory_limit)
    dataset = timer.run("build in DuckDB: exclusions, join, row ids, sort, content hash",
                        lambda: build_dataset_table(conn, config))
    assert timer.run("content hash alone (warehouse.content_hash: md5 sums in DuckDB)",
                     lambda: content_hash(conn, dataset.table)) == dataset.version
    card = timer.run("dataset card", lambda: render_card(dataset, FACTS))
    uri = timer.run("publish version folder (parquet, HF, Alpaca JSON)", lambda: publish_version(store, dataset, card))

    def record() -> bool:
        rename_table(conn, dataset.table, "lamini_dataset")
        replace_table(conn, "dataset_near_duplicates", dataset.near_duplicates)
        new = record_version(conn, VersionRecord(dataset.version, "bench", FACTS.created_at, dataset.rows_per_source(),
                                                 "bench", "bench", uri), "lamini_dataset")
        point_latest(store, dataset.version)
        return new

    assert timer.run("record: lamini_dataset, dataset_versions, dataset_rows, latest", record) is True
    assert timer.run("unchanged content again: publish + record (adds nothing)", lambda: (
        publish_version(store, dataset, card),
        record_version(conn, VersionRecord(dataset.version, "again", FACTS.created_at, {}, "", "", uri), "lamini_dataset"),
    )[1]) is False
    print(f"  {dataset.height:,} rows, version {dataset.version}; folder: {folder_sizes(uri)}")
    responses = conn.execute("select * from main.responses").pl()
    timer.run("data version of responses (warehouse.table_version; not in the target)",
              lambda: table_version(responses), counted=False)
    del responses
    if near_duplicates:
        texts = conn.execute("select row_id, instruction_source, instruction_id, task_instruction, task_input"
                             " from main.lamini_dataset").pl()
        timer.run("cross-source near-duplicates (MinHash, not in the target)", lambda: drop_cross_source_near_duplicates(
            texts, NoveltyConfig(), list(DEFAULT_SOURCE_PRIORITY)), counted=False)
    conn.close()
    return {**timer.totals(), "rows": dataset.height}


def run_baseline(warehouse: Path, store_root: Path) -> dict[str, float]:
    """The same work as before: upstream read into polars, built, hashed and exported from polars."""
    import dataset_versions_baseline as baseline

    timer = PhaseTimer()
    store = LocalArtifactStore(store_root)
    conn = duckdb.connect(str(warehouse))
    responses, instructions = timer.run("read responses and instructions' provenance into polars", lambda: (
        conn.execute("select * from main.responses").pl(),
        conn.execute("select instruction_source, instruction_id, origin, template, example_ids, topics,"
                     " generation_cache_key, generation_template_version from main.instructions").pl(),
    ))
    rows, version = timer.run("build in polars: exclusions, join, row ids, sort, content hash",
                              lambda: baseline.build(responses, instructions))
    del instructions
    timer.run("content hash alone (DuckDB md5 per row, sorted string_agg, sha256)", lambda: baseline.content_version(rows))
    uri = timer.run("publish version folder (parquet, HF, Alpaca JSON) from polars", lambda: store.publish_dir(
        version_key(version), lambda folder: baseline.write_exports(rows, folder, version, "card")))

    def record() -> bool:
        replace_table(conn, "lamini_dataset", rows)
        new = record_version(conn, VersionRecord(version, "bench", FACTS.created_at, {}, "bench", "bench", uri), rows["row_id"])
        point_latest(store, version)
        return new

    assert timer.run("record: lamini_dataset, dataset_versions, dataset_rows, latest", record) is True
    print(f"  {rows.height:,} rows; folder: {folder_sizes(uri)}")
    del rows
    timer.run("data version of responses (json.dumps loop per row; not in the target)",
              lambda: baseline.table_version(responses), counted=False)
    conn.close()
    return {**timer.totals(), "per_row_table_version": timer.figures[-1]["cpu"]}


def child(kind: str, warehouse: Path, store_root: Path, near_duplicates: bool) -> dict[str, Any]:
    """Run one implementation in a fresh process, so neither's memory counts against the other."""
    print(f"\n{kind}:", flush=True)
    command = [sys.executable, __file__, "--child", kind, "--warehouse", str(warehouse), "--store", str(store_root)]
    if near_duplicates:
        command.append("--near-duplicates")
    completed = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    lines = completed.stdout.splitlines()
    print("\n".join(lines[:-1]), flush=True)
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=LAMINI_TOTAL_ROWS)
    parser.add_argument("--no-baseline", action="store_true", help="skip the implementation before (about 4x longer)")
    parser.add_argument("--near-duplicates", action="store_true", help="also time the cross-source near-duplicate filter")
    parser.add_argument("--child", choices=["new", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--warehouse", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run = run_new if args.child == "new" else run_baseline
        extra = (args.near_duplicates,) if args.child == "new" else ()
        print(json.dumps(run(args.warehouse, args.store, *extra)), flush=True)
        return

    print(f"{args.rows:,} synthetic rows (LaMini's per-source shares and lengths)")
    with tempfile.TemporaryDirectory() as folder:
        warehouse = Path(folder) / "warehouse.duckdb"
        started = time.perf_counter()
        rows = synthetic_dataset(args.rows)
        words = rows["instruction"].str.count_matches(" ").mean() + 1
        print(f"  mean instruction {words:.1f} words; {rows.estimated_size() / 1e9:.2f} GB in polars")
        instructions, responses = synthetic_upstream(rows)
        del rows
        with duckdb.connect(str(warehouse)) as conn:
            replace_table(conn, "instructions", instructions)
            replace_table(conn, "responses", responses)
        del instructions, responses
        print(f"  generated and written to the DuckDB warehouse in {time.perf_counter() - started:.1f} s (not timed below)")
        results = {}
        for kind in ([] if args.no_baseline else ["baseline"]) + ["new"]:
            results[kind] = child(kind, warehouse, Path(folder) / kind, args.near_duplicates)

    new = results["new"]
    with open("/proc/loadavg") as handle:
        load = " ".join(handle.read().split()[:3])
    print(f"\nversion, hash and export of {new['rows']:,} rows: {new['seconds']:.1f} s wall, {new['cpu']:.1f} s CPU, "
          f"peak RSS {new['peak_gb']:.2f} GB (load average {load} on {os.cpu_count()} cores)")
    print(f"  against the target ({TARGET_SECONDS:.0f} s, {TARGET_RSS_GB:.0f} GB): {new['seconds'] / TARGET_SECONDS:.2f} x wall, "
          f"{new['cpu'] / TARGET_SECONDS:.2f} x in CPU seconds, {new['peak_gb'] / TARGET_RSS_GB:.2f} x peak RSS")
    if "baseline" in results:
        old = results["baseline"]
        print(f"  baseline (before, same run): {old['seconds']:.1f} s wall, {old['cpu']:.1f} s CPU, peak RSS "
              f"{old['peak_gb']:.2f} GB -> new/baseline {new['seconds'] / old['seconds']:.2f} wall, "
              f"{new['cpu'] / old['cpu']:.2f} CPU, {new['peak_gb'] / old['peak_gb']:.2f} peak RSS")


if __name__ == "__main__":
    pl.Config.set_tbl_rows(0)
    main()
