"""Near-duplicate filtering: MinHash LSH (lamini_assets.dedup) against Self-Instruct's ROUGE-L rule,
and the index against the implementation it replaced (issue 14: pickled index, per-row regex).

    lenv python bench/novelty_filter.py [--baseline-n 3000] [--synthetic 100000 2580000]
        [--build 2600000] [--old-build 300000] [--old-commit 702b064]

1. One stream of real instructions: the 175 Self-Instruct seeds, then the first sentence of each
   P3 prompt in ../shared/data/p3_t0_sample (files in sorted order) until --baseline-n rows. Nothing
   is deduplicated beforehand. Every candidate is checked against everything kept so far, by
   - the baseline: ROUGE-L F > 0.7 against every kept instruction (Self-Instruct/Alpaca), and
   - the MinHash index with the default NoveltyConfig.
   Prints both times, the speed ratio (target >= 200x) and the recall / precision of the MinHash
   drops against the baseline's drops (recall target >= 0.9), overall and on the drops that are
   not exact copies.
   The same stream through the old implementation (lamini_assets/dedup/novelty.py at --old-commit,
   read with `git show`), so recall and precision before and after sit side by side.
2. The MinHash filter alone on synthetic streams (10-50 word sentences from a Zipf vocabulary, 5%
   near-duplicates of an earlier row with one word changed, 2% exact copies): seconds, rows per
   second and peak RSS, each size in its own process so the RSS figures do not mix.
3. Building the pool index (`add_pool`) at --build rows (LaMini's pool is 2.66M; target >= 100K
   rows/s), saving it, reloading it, and an unchanged-pool rerun through `load_pool_index` (reads
   only ids); the old implementation builds --old-build rows and pickles/unpickles them, for the
   rows/s ratio in the same run. Wall and CPU seconds: on a shared machine wall time is indicative.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import pickle
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import polars as pl

from lamini_assets.dedup import NoveltyConfig, load_novelty_index, load_pool_index, make_novelty_index
from lamini_assets.schema import normalise_text

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
TARGET_SPEEDUP = 200.0
TARGET_RECALL = 0.9
TARGET_BUILD_ROWS_PER_SECOND = 100_000
PROJECT_ROOT = Path(__file__).resolve().parents[1]
_SENTENCE_END = re.compile(r"(?<=[.?!])\s")


def first_sentence(prompt: str) -> str:
    """First sentence of the first non-empty line."""
    line = next((line for line in prompt.splitlines() if line.strip()), "").strip()
    return _SENTENCE_END.split(line, maxsplit=1)[0].strip()


def real_instruction_stream(limit: int) -> list[str]:
    """Self-Instruct seed instructions, then first sentences of P3 prompts, `limit` rows in all."""
    texts: list[str] = []
    with (SHARED_DATA / "self_instruct_seed_tasks.jsonl").open(encoding="utf-8") as handle:
        texts.extend(json.loads(line)["instruction"] for line in handle if line.strip())
    for path in sorted((SHARED_DATA / "p3_t0_sample").glob("*.jsonl")):
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if len(texts) >= limit:
                    return texts
                texts.append(first_sentence(json.loads(line)["prompt"]))
    return texts[:limit]


def old_module(commit: str) -> ModuleType | None:
    """lamini_assets/dedup/novelty.py as it was at `commit` (None without git history)."""
    try:
        source = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "show", f"{commit}:lamini_assets/dedup/novelty.py"],
            check=True, capture_output=True, text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(tempfile.mkdtemp()) / "novelty_old.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("novelty_old", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["novelty_old"] = module  # pickling needs the module importable by name
    spec.loader.exec_module(module)
    return module


def run_filter(config: NoveltyConfig, texts: list[str], module: ModuleType | None = None) -> tuple[float, set[int]]:
    """Seconds taken and the positions the filter dropped (by `module`'s index: the current one by default)."""
    make = make_novelty_index if module is None else module.make_novelty_index
    settings = config if module is None else module.NoveltyConfig(**config.model_dump())
    # Once per process, outside the timing (as the old index's datasketch import always was): imports and,
    # for the numba kernels, loading them from their cache (~0.6 s, numba's own start-up).
    started = time.perf_counter()
    make(settings).check_and_add_batch(["warm-up"], ["one text to start the index's code"])
    if config.method == "minhash":
        print(f"  one-time start of {'the old' if module is not None else 'this'} index: {time.perf_counter() - started:.2f} s",
              file=sys.stderr)  # stderr: a child process's stdout is its JSON report
    index = make(settings)
    started = time.perf_counter()
    decisions = index.check_and_add_batch([str(i) for i in range(len(texts))], texts)
    seconds = time.perf_counter() - started
    return seconds, {i for i, (is_novel, _) in enumerate(decisions) if not is_novel}


def synthetic_instructions(count: int, seed: int = 0) -> tuple[list[str], set[int]]:
    """Sentences of 10-50 words from a 30k-word Zipf (1/rank) vocabulary, and the positions of the
    planted near duplicates (an earlier row with one word changed) and exact copies."""
    rng = np.random.default_rng(seed)
    vocabulary = np.array([f"w{i}" for i in range(30_000)], dtype=object)
    lengths = rng.integers(10, 51, size=count)
    frequency = 1.0 / np.arange(1, len(vocabulary) + 1)  # Zipf's law, as in English text
    words = rng.choice(len(vocabulary), size=int(lengths.sum()), p=frequency / frequency.sum())
    texts: list[str] = []
    planted: set[int] = set()
    position = 0
    kind = rng.random(count)
    for i, length in enumerate(lengths):
        chosen = words[position : position + length]
        position += length
        if i > 0 and kind[i] < 0.05:  # an earlier row with one word changed
            earlier = texts[int(rng.integers(0, i))].split()
            earlier[int(rng.integers(0, len(earlier)))] = str(vocabulary[chosen[0]])
            texts.append(" ".join(earlier))
            planted.add(i)
        elif i > 0 and kind[i] < 0.07:
            texts.append(texts[int(rng.integers(0, i))])
            planted.add(i)
        else:
            texts.append(" ".join(vocabulary[chosen]))
    return texts, planted


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # ru_maxrss is KiB on Linux


def synthetic_run(count: int) -> dict[str, float]:
    """Time the MinHash filter on `count` synthetic rows (run in a child process)."""
    started = time.perf_counter()
    texts, planted = synthetic_instructions(count)
    generate_seconds = time.perf_counter() - started
    rss_before = peak_rss_gb()
    seconds, dropped = run_filter(NoveltyConfig(), texts)
    return {
        "rows": count,
        "generate_seconds": generate_seconds,
        "filter_seconds": seconds,
        "rows_per_second": count / seconds,
        "dropped": len(dropped),
        "planted": len(planted),
        "planted_dropped": len(planted & dropped),
        "peak_rss_gb_before_filter": rss_before,
        "peak_rss_gb": peak_rss_gb(),
    }


def compare_on_real_data(baseline_n: int, old: ModuleType | None) -> None:
    texts = real_instruction_stream(baseline_n)
    config = NoveltyConfig()
    print(f"real stream: {len(texts)} instructions ({len(set(texts))} distinct strings)")
    print(f"minhash config: {config.model_dump()}")
    rouge_seconds, rouge_dropped = run_filter(NoveltyConfig(method="rouge_l"), texts)
    print(f"rouge-l baseline: {rouge_seconds:.1f} s, dropped {len(rouge_dropped)}")
    # Exact copies are easy for both; the near (not exact) duplicates are the real test.
    seen: set[str] = set()
    copies: set[int] = set()
    for i, text in enumerate(texts):
        if normalise_text(text) in seen:
            copies.add(i)
        seen.add(normalise_text(text))
    for name, module in (("minhash (old)", old), ("minhash (new)", None)):
        if name.endswith("(old)") and module is None:
            print("minhash (old): skipped, no git history to read the old implementation from")
            continue
        minhash_seconds, minhash_dropped = run_filter(config, texts, module)
        recall, precision = agreement(minhash_dropped, rouge_dropped)
        near_recall, near_precision = agreement(minhash_dropped - copies, rouge_dropped - copies)
        print(
            f"{name}: {minhash_seconds:.3f} s ({rouge_seconds / minhash_seconds:.0f}x ROUGE-L's speed, target >= "
            f"{TARGET_SPEEDUP:.0f}x), dropped {len(minhash_dropped)}; recall of ROUGE-L drops {recall:.3f} "
            f"(target >= {TARGET_RECALL}), precision {precision:.3f}; near duplicates only "
            f"({len(rouge_dropped - copies)} ROUGE-L drops that are not exact copies): recall {near_recall:.3f}, "
            f"precision {near_precision:.3f}"
        )


def timed(action) -> tuple[object, float, float]:  # noqa: ANN001
    """(result, wall seconds, CPU seconds of this process, all threads)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = action()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def build_run(count: int, implementation: str, old_commit: str) -> dict[str, float]:
    """Build the pool index of `count` synthetic rows, save and reload it (run in a child process)."""
    texts, _ = synthetic_instructions(count)
    ids = [f"{i:016x}" for i in range(count)]
    rss_before = peak_rss_gb()
    figures: dict[str, float] = {"rows": count}
    folder = Path(tempfile.mkdtemp(prefix="novelty-bench-"))
    if implementation == "old":
        module = old_module(old_commit)
        index = module.make_novelty_index(module.NoveltyConfig())
        _, figures["build_wall"], figures["build_cpu"] = timed(lambda: index.add_pool(ids, texts))
        figures["peak_rss_gb_built"] = peak_rss_gb()
        _, figures["save_wall"], _ = timed(lambda: index.save(folder / "index.pkl"))
        figures["saved_bytes"] = (folder / "index.pkl").stat().st_size
        del index
        _, figures["reload_wall"], figures["reload_cpu"] = timed(
            lambda: module.load_novelty_index(folder / "index.pkl", module.NoveltyConfig())
        )
    else:
        config = NoveltyConfig()
        index = make_novelty_index(config)
        _, figures["build_wall"], figures["build_cpu"] = timed(lambda: index.add_pool(ids, texts))
        figures["peak_rss_gb_built"] = peak_rss_gb()
        _, figures["save_wall"], _ = timed(lambda: index.save(folder / "index"))
        figures["saved_bytes"] = sum(path.stat().st_size for path in (folder / "index").resolve().iterdir())
        del index
        reloaded, figures["reload_wall"], figures["reload_cpu"] = timed(lambda: load_novelty_index(folder / "index", config))
        candidates = texts[:5_000] + [f"{text} extra words here" for text in texts[5_000:10_000]]
        _, figures["check_10k_after_reload_wall"], _ = timed(
            lambda: reloaded.check_and_add_batch([f"new{i}" for i in range(len(candidates))], candidates)
        )
        # An unchanged pool: the rerun of a generated partition (ids compared, no text read).
        read: list[int] = []

        def read_rows(wanted: pl.Series | None) -> pl.DataFrame:
            read.append(count if wanted is None else len(wanted))
            return pl.DataFrame({"id": ids, "text": texts})

        load_pool_index(folder / "pool", config, ids, read_rows)
        (_, counts), figures["unchanged_rerun_wall"], figures["unchanged_rerun_cpu"] = timed(
            lambda: load_pool_index(folder / "pool", config, ids, read_rows)
        )
        figures["unchanged_rerun_texts_read"] = sum(read[1:])
        figures["unchanged_rerun_reused"] = counts["pool_reused"]
    figures["rows_per_second"] = count / figures["build_wall"]
    figures["rows_per_cpu_second"] = count / figures["build_cpu"]
    figures["peak_rss_gb_before_build"] = rss_before
    figures["peak_rss_gb"] = peak_rss_gb()
    return figures


def print_build(name: str, figures: dict[str, float]) -> None:
    extra = ""
    if "unchanged_rerun_wall" in figures:
        extra = (
            f"; checking 10K candidates after reload {figures['check_10k_after_reload_wall']:.2f} s; unchanged-pool "
            f"rerun {figures['unchanged_rerun_wall']:.2f} s wall / {figures['unchanged_rerun_cpu']:.2f} s CPU, "
            f"{figures['unchanged_rerun_reused']:,} rows reused, {figures['unchanged_rerun_texts_read']:,} texts read"
        )
    print(
        f"build {name} {figures['rows']:,} rows: {figures['build_wall']:.1f} s wall ({figures['rows_per_second']:,.0f} "
        f"rows/s), {figures['build_cpu']:.1f} s CPU ({figures['rows_per_cpu_second']:,.0f} rows per CPU second); "
        f"peak RSS {figures['peak_rss_gb']:.2f} GB ({figures['peak_rss_gb_before_build']:.2f} GB with the rows "
        f"generated, {figures['peak_rss_gb_built']:.2f} GB built); save {figures['save_wall']:.1f} s "
        f"({figures['saved_bytes'] / 1e9:.2f} GB); reload {figures['reload_wall']:.2f} s wall / "
        f"{figures['reload_cpu']:.2f} s CPU{extra}"
    )


def agreement(found: set[int], reference: set[int]) -> tuple[float, float]:
    """Recall and precision of `found` against `reference`."""
    both = len(found & reference)
    return (both / len(reference) if reference else 1.0, both / len(found) if found else 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline-n", type=int, default=3000, help="rows of the real stream (0 skips)")
    parser.add_argument("--synthetic", type=int, nargs="*", default=[100_000, 2_580_000])
    parser.add_argument("--build", type=int, default=2_600_000, help="pool rows to index (0 skips)")
    parser.add_argument("--old-build", type=int, default=300_000, help="pool rows for the old implementation (0 skips)")
    parser.add_argument("--old-commit", default="702b064", help="commit holding the old implementation")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-build", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--implementation", default="new", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(synthetic_run(args.child)))
        return
    if args.child_build is not None:
        print(json.dumps(build_run(args.child_build, args.implementation, args.old_commit)))
        return
    if args.baseline_n:
        compare_on_real_data(args.baseline_n, old_module(args.old_commit))
    builds: dict[str, dict[str, float]] = {}
    for name, count in (("old", args.old_build), ("new", args.old_build), ("new", args.build)):
        if not count or (name == "old" and old_module(args.old_commit) is None):
            continue
        child = subprocess.run(
            [sys.executable, __file__, "--child-build", str(count), "--implementation", name,
             "--old-commit", args.old_commit],
            check=True, capture_output=True, text=True,
        )
        figures = json.loads(child.stdout)
        builds[f"{name}-{count}"] = figures
        print_build(name, figures)
    old, new = builds.get(f"old-{args.old_build}"), builds.get(f"new-{args.old_build}")
    if old and new:
        print(
            f"at {args.old_build:,} rows, new/old: build {new['rows_per_second'] / old['rows_per_second']:.1f}x rows/s "
            f"(wall), {new['rows_per_cpu_second'] / old['rows_per_cpu_second']:.1f}x rows per CPU second; reload "
            f"{old['reload_wall'] / new['reload_wall']:.1f}x faster; saved size {new['saved_bytes'] / old['saved_bytes']:.2f}x"
        )
    if f"new-{args.build}" in builds:
        rate = builds[f"new-{args.build}"]["rows_per_second"]
        print(f"build at {args.build:,} rows: {rate:,.0f} rows/s (target >= {TARGET_BUILD_ROWS_PER_SECOND:,})")
    for count in args.synthetic:
        child = subprocess.run(
            [sys.executable, __file__, "--child", str(count)], check=True, capture_output=True, text=True
        )
        figures = json.loads(child.stdout)
        print(
            f"synthetic {figures['rows']:,} rows: filter {figures['filter_seconds']:.1f} s "
            f"({figures['rows_per_second']:,.0f} rows/s), dropped {figures['dropped']:,} "
            f"({figures['planted_dropped']:,} of {figures['planted']:,} planted duplicates), "
            f"peak RSS {figures['peak_rss_gb']:.2f} GB ({figures['peak_rss_gb_before_filter']:.2f} GB "
            f"before filtering; generating the rows took {figures['generate_seconds']:.1f} s)"
        )


if __name__ == "__main__":
    main()
