"""Version, hash and export LaMini-sized datasets: seconds and peak RSS per phase.

    .lamini/venv/bin/python bench/dataset_versions.py [--rows 2585615] [--near-duplicates]

Builds synthetic `instructions` and `responses` shaped like LaMini-instruction (lamini_assets/
dataset/synthetic.py: per-source counts and lengths), then runs what the `lamini_dataset` asset
runs: build (join, exclusions, row ids, content hash), card, publish the version folder (parquet,
HF `save_to_disk`, Alpaca JSON, card; staged and renamed), and record it in DuckDB
(`lamini_dataset`, `dataset_versions`, `dataset_rows`). A second publish of the same content
is timed too (it must add nothing). Target: <= 60 s and <= 4 GB for all of it. With
--near-duplicates, the cross-source near-duplicate filter is timed as a phase of its own (off by
default: it is the generation novelty filter's cost, see bench/novelty_filter.py).
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from lamini_assets.artifacts import LocalArtifactStore
from lamini_assets.dataset import (
    CardFacts,
    DatasetConfig,
    VersionRecord,
    build_lamini_dataset,
    content_version,
    point_latest,
    publish_version,
    record_version,
    render_card,
)
from lamini_assets.dataset.build import drop_cross_source_near_duplicates
from lamini_assets.dataset.config import DEFAULT_SOURCE_PRIORITY
from lamini_assets.dataset.synthetic import LAMINI_TOTAL_ROWS, synthetic_dataset, synthetic_upstream
from lamini_assets.dedup import NoveltyConfig
from lamini_assets.warehouse import replace_table

TARGET_SECONDS = 60.0
TARGET_RSS_GB = 4.0


def cpu_seconds() -> float:
    """User + system CPU of this process, every thread (DuckDB's and Arrow's included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize()


class PhaseTimer:
    """Seconds and peak RSS (sampled every 20 ms) of each phase."""

    def __init__(self) -> None:
        self.figures: list[tuple[str, float, float, bool, float]] = []

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
        self.figures.append((name, seconds, peak / 1e9, counted, cpu))
        print(f"  {name:<58} {seconds:7.2f} s wall {cpu:7.2f} s CPU   peak RSS {peak / 1e9:5.2f} GB", flush=True)
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=LAMINI_TOTAL_ROWS)
    parser.add_argument("--near-duplicates", action="store_true", help="also time the cross-source near-duplicate filter")
    args = parser.parse_args()

    timer = PhaseTimer()
    print(f"{args.rows:,} synthetic rows (LaMini's per-source shares and lengths)")
    rows = timer.run("generate synthetic rows (not in the target)", lambda: synthetic_dataset(args.rows), counted=False)
    instructions, responses = synthetic_upstream(rows)
    words = rows["instruction"].str.count_matches(" ").mean() + 1
    print(f"  mean instruction {words:.1f} words; {rows.estimated_size() / 1e9:.2f} GB in memory")
    del rows
    config = DatasetConfig(near_duplicates=None)

    with tempfile.TemporaryDirectory() as folder:
        store = LocalArtifactStore(Path(folder) / "artifacts")
        conn = duckdb.connect(str(Path(folder) / "bench.duckdb"))
        dataset = timer.run("build: join, exclusions, row ids, content hash",
                            lambda: build_lamini_dataset(responses, instructions, config))
        del instructions, responses
        timer.run("content hash alone (DuckDB md5 per row + sha256)", lambda: content_version(dataset.rows))
        facts = CardFacts(run_id="bench", created_at="2026-11-27T00:00:00+00:00", config_hash="bench", code_version="bench")
        card = timer.run("dataset card", lambda: render_card(dataset, facts))
        uri = timer.run("publish version folder (parquet, HF, Alpaca JSON)", lambda: publish_version(store, dataset, card))

        def record() -> bool:
            replace_table(conn, "lamini_dataset", dataset.rows)
            record_ = VersionRecord(dataset.version, "bench", facts.created_at, dataset.rows_per_source(), "bench", "bench", uri)
            new = record_version(conn, record_, dataset.rows["row_id"])
            point_latest(store, dataset.version)
            return new

        assert timer.run("record: lamini_dataset, dataset_versions, dataset_rows", record) is True
        assert timer.run("unchanged content again: publish + record (adds nothing)", lambda: (
            publish_version(store, dataset, card),
            record_version(conn, VersionRecord(dataset.version, "again", facts.created_at, {}, "", "", uri), dataset.rows["row_id"]),
        )[1]) is False
        sizes = {p.name: sum(f.stat().st_size for f in p.rglob("*")) if p.is_dir() else p.stat().st_size for p in Path(uri).iterdir()}
        print("  version folder: " + ", ".join(f"{name} {size / 1e9:.2f} GB" for name, size in sorted(sizes.items())))

        if args.near_duplicates:
            timer.run("cross-source near-duplicates (MinHash, not in the target)", lambda: drop_cross_source_near_duplicates(
                dataset.rows, NoveltyConfig(), list(DEFAULT_SOURCE_PRIORITY)), counted=False)

    counted = [f for f in timer.figures if f[3]]
    total = sum(f[1] for f in counted)
    cpu = sum(f[4] for f in counted)
    peak = max(f[2] for f in counted)
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    with open("/proc/loadavg") as handle:
        load = handle.read().split()[0]
    print(f"\nversion, hash and export of {dataset.rows.height:,} rows: {total:.1f} s wall, {cpu:.1f} s CPU "
          f"(load average {load} on {os.cpu_count()} cores) "
          f"({total / TARGET_SECONDS:.2f} x the {TARGET_SECONDS:.0f} s target), peak RSS {peak:.2f} GB "
          f"({peak / TARGET_RSS_GB:.2f} x the {TARGET_RSS_GB:.0f} GB target; process high-water mark {max_rss:.2f} GB, "
          "synthetic generation included)")


if __name__ == "__main__":
    main()
