"""Non-pad tokens per second of the training script's batching against two baselines, same tiny model.

    python bench/training_batching.py [--family encoder-decoder|decoder-only] [--rows 480] [--pad-max-steps 10]

Rows have LaMini-like lengths: instructions of ~50 words on average and responses of ~33 (log-normal,
so a long tail as in P3/FLAN), built from the words of the real P3 sample when ../shared/data is
there. Each configuration trains the same randomly initialised tiny student on batches from the
trainer's own dataloader: ours and the HF default for one whole epoch (the same rows, so the same
non-pad tokens), pad-to-max-length for a few random batches (every batch has the same shape):

- ours: length-grouped sampling (`train_sampling_strategy="group_by_length"`) + padding to the
  batch's longest sequence (lamini_assets.training.data);
- pad-to-max-length: every batch padded to the limits, random order: 512 source and 512 target
  tokens for encoder-decoder students, 512 tokens of prompt and response for decoder-only ones;
- HF default: random order, padding to the batch's longest sequence.

The figure is non-pad tokens trained per second of the process's CPU time (forward, backward,
optimiser step), with torch on one thread: on a shared machine, wall time measures the neighbours.
Wall-clock figures are printed beside it.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # stable figures on a shared machine
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
import torch  # noqa: E402
from transformers import Trainer, TrainingArguments  # noqa: E402
from transformers.utils import logging as transformers_logging  # noqa: E402

from lamini_assets.training.config import StudentSpec  # noqa: E402
from lamini_assets.training.data import DynamicPaddingCollator, encode, non_pad_tokens  # noqa: E402
from lamini_assets.training.models import build_tiny_model, train_tokenizer  # noqa: E402

P3_SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "p3_t0_sample"
MAX_LENGTH = 512


def vocabulary() -> list[str]:
    words: list[str] = []
    for path in sorted(P3_SAMPLE.glob("*.jsonl"))[:40]:
        words += re.findall(r"[A-Za-z]+|[.,?]", path.read_text(encoding="utf-8"))
    return words or [f"w{i}{chr(97 + i % 26)}" for i in range(5000)]


def lamini_like_rows(rows: int, seed: int = 0) -> pl.DataFrame:
    """Log-normal word counts with means ~50 (instruction) and ~33 (response), sigma 0.8."""
    rng = np.random.default_rng(seed)
    words = vocabulary()
    sigma = 0.8

    def texts(mean: float) -> list[str]:
        counts = np.clip(rng.lognormal(np.log(mean) - sigma**2 / 2, sigma, rows).astype(int), 2, 400)
        return [" ".join(words[start:start + count]) for start, count in
                zip(rng.integers(0, len(words) - 400, rows), counts)]

    instructions, responses = texts(50), texts(33)
    return pl.DataFrame({"instruction": instructions, "response": responses, "task_instruction": instructions,
                         "task_input": [""] * rows})


def run(name: str, family: str, encoded, tokenizer, strategy: str, pad_to: int | None, steps: int, batch: int) -> float:
    spec = StudentSpec(name="bench", family=family, max_source_length=MAX_LENGTH, max_target_length=MAX_LENGTH)
    model = build_tiny_model(spec, tokenizer)  # seeded: the same initial weights for every configuration
    seq2seq = family == "encoder-decoder"
    collator = DynamicPaddingCollator(tokenizer, model=model if seq2seq else None,
                                      pad_to_length=(pad_to if not seq2seq else None))
    if pad_to and seq2seq:
        # Both sides to the limit: the encoder reads 512 tokens and the decoder 512 targets.
        collator = _PadBothSides(tokenizer, model, pad_to)
    arguments = TrainingArguments(output_dir="/tmp/bench_training_batching", per_device_train_batch_size=batch,
                                  train_sampling_strategy=strategy, remove_unused_columns=False, report_to="none",
                                  use_cpu=True, seed=0, data_seed=0, dataloader_num_workers=0)
    trainer = Trainer(model=model, args=arguments, train_dataset=encoded, data_collator=collator,
                      processing_class=tokenizer)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4)
    batches = iter(trainer.get_train_dataloader())
    model.train()
    tokens, cpu, wall, done = 0, 0.0, 0.0, 0
    for inputs in batches:
        if steps and done >= steps:
            break
        done += 1
        started_cpu, started_wall = time.process_time(), time.perf_counter()
        model(**inputs).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        cpu += time.process_time() - started_cpu
        wall += time.perf_counter() - started_wall
        tokens += non_pad_tokens(inputs)
    rate = tokens / cpu
    print(f"  {name:<40} {rate:>8,.0f} non-pad tokens/CPU-s  ({tokens:,} tokens, {done} steps, "
          f"{cpu:.1f} CPU-s, {tokens / wall:,.0f} tokens/wall-s)", flush=True)
    return rate


class _PadBothSides:
    def __init__(self, tokenizer, model, length: int) -> None:
        self.inner = DynamicPaddingCollator(tokenizer, model=model, pad_to_length=length)
        self.length = length

    def __call__(self, features):
        features = [{**feature, "labels": feature["labels"] + [-100] * (self.length - len(feature["labels"]))}
                    for feature in features]
        return self.inner(features)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--family", default="encoder-decoder", choices=["encoder-decoder", "decoder-only"])
    parser.add_argument("--rows", type=int, default=480)  # one epoch of these for ours and the HF default
    parser.add_argument("--pad-max-steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    transformers_logging.set_verbosity_error()
    torch.manual_seed(0)

    rows = lamini_like_rows(args.rows)
    tokenizer = train_tokenizer([*rows["instruction"], *rows["response"]], vocab_size=2000)
    # Decoder-only: prompt and response share the 512 positions (responses keep up to 128 tokens).
    limits = (MAX_LENGTH, MAX_LENGTH) if args.family == "encoder-decoder" else (MAX_LENGTH - 128, 128)
    encoded = encode(rows, tokenizer, args.family, *limits)
    source = np.array([len(ids) for ids in encoded["input_ids"]])
    words_in, words_out = rows["instruction"].str.split(" ").list.len(), rows["response"].str.split(" ").list.len()
    print(f"{args.rows} rows: instruction {words_in.mean():.1f} words, response {words_out.mean():.1f} words on average; "
          f"{args.family} {'source' if args.family == 'encoder-decoder' else 'sequence'} tokens mean {source.mean():.0f}, "
          f"p95 {np.percentile(source, 95):.0f}, max {source.max()}; batch {args.batch}, "
          f"torch threads {torch.get_num_threads()}")
    ours = run("ours (group_by_length, pad-to-longest)", args.family, encoded, tokenizer, "group_by_length", None,
               0, args.batch)
    pad_max = run(f"pad-to-max-length ({MAX_LENGTH}), random order", args.family, encoded, tokenizer, "random",
                  MAX_LENGTH, args.pad_max_steps, args.batch)
    hf_default = run("HF default (random, pad-to-longest)", args.family, encoded, tokenizer, "random", None,
                     0, args.batch)
    print(f"ours / pad-to-max-length: {ours / pad_max:.1f}x   (target >= 12x)")
    print(f"ours / HF default:        {ours / hf_default:.2f}x  (target >= 1.3x)")


if __name__ == "__main__":
    main()
