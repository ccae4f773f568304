"""Near-duplicate filtering: MinHash LSH (lamini_assets.dedup) against Self-Instruct's ROUGE-L rule.

    .lamini/venv/bin/python bench/novelty_filter.py [--baseline-n 3000] [--synthetic 100000 2580000]

1. One stream of real instructions: the 175 Self-Instruct seeds, then the first sentence of each
   P3 prompt in ../shared/data/p3_t0_sample (files in sorted order) until --baseline-n rows. Nothing
   is deduplicated beforehand. Every candidate is checked against everything kept so far, by
   - the baseline: ROUGE-L F > 0.7 against every kept instruction (Self-Instruct/Alpaca), and
   - the MinHash index with the default NoveltyConfig.
   Prints both times, the speed ratio (target >= 200x) and the recall / precision of the MinHash
   drops against the baseline's drops (recall target >= 0.9), overall and on the drops that are
   not exact copies.
2. The MinHash filter alone on synthetic streams (10-50 word sentences from a Zipf vocabulary, 5%
   near-duplicates of an earlier row with one word changed, 2% exact copies): seconds, rows per
   second and peak RSS, each size in its own process so the RSS figures do not mix.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from lamini_assets.dedup import NoveltyConfig, make_novelty_index
from lamini_assets.schema import normalise_text

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
TARGET_SPEEDUP = 200.0
TARGET_RECALL = 0.9
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


def run_filter(config: NoveltyConfig, texts: list[str]) -> tuple[float, set[int]]:
    """Seconds taken and the positions the filter dropped."""
    index = make_novelty_index(config)
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


def compare_on_real_data(baseline_n: int) -> None:
    texts = real_instruction_stream(baseline_n)
    config = NoveltyConfig()
    print(f"real stream: {len(texts)} instructions ({len(set(texts))} distinct strings)")
    print(f"minhash config: {config.model_dump()}")
    minhash_seconds, minhash_dropped = run_filter(config, texts)
    print(f"minhash: {minhash_seconds:.3f} s, dropped {len(minhash_dropped)}")
    rouge_seconds, rouge_dropped = run_filter(NoveltyConfig(method="rouge_l"), texts)
    print(f"rouge-l baseline: {rouge_seconds:.1f} s, dropped {len(rouge_dropped)}")
    print(f"speed ratio: {rouge_seconds / minhash_seconds:.0f}x (target >= {TARGET_SPEEDUP:.0f}x)")
    recall, precision = agreement(minhash_dropped, rouge_dropped)
    print(f"recall of ROUGE-L drops: {recall:.3f} (target >= {TARGET_RECALL}); precision: {precision:.3f}")
    # Exact copies are easy for both; the near (not exact) duplicates are the real test.
    seen: set[str] = set()
    copies: set[int] = set()
    for i, text in enumerate(texts):
        if normalise_text(text) in seen:
            copies.add(i)
        seen.add(normalise_text(text))
    recall, precision = agreement(minhash_dropped - copies, rouge_dropped - copies)
    print(
        f"near duplicates only ({len(rouge_dropped - copies)} ROUGE-L drops that are not exact copies): "
        f"recall {recall:.3f}, precision {precision:.3f}"
    )


def agreement(found: set[int], reference: set[int]) -> tuple[float, float]:
    """Recall and precision of `found` against `reference`."""
    both = len(found & reference)
    return (both / len(reference) if reference else 1.0, both / len(found) if found else 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline-n", type=int, default=3000, help="rows of the real stream (0 skips)")
    parser.add_argument("--synthetic", type=int, nargs="*", default=[100_000, 2_580_000])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(synthetic_run(args.child)))
        return
    if args.baseline_n:
        compare_on_real_data(args.baseline_n)
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
