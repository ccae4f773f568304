"""The one instruction schema every stage shares, and the id that ties rows together."""

from __future__ import annotations

import hashlib
import re
import unicodedata

import polars as pl

# The four seed pools: partitions of `seed_instructions`.
SEED_SOURCES: tuple[str, ...] = ("self_instruct", "alpaca", "p3", "flan")

# LaMini's `instruction_source` labels: partitions of `instructions` and `responses`.
INSTRUCTION_SOURCES: tuple[str, ...] = (
    "alpaca",
    "generated_flan",
    "generated_p3",
    "original_flan",
    "original_p3",
    "self_instruct_with_topic",
    "self_instruct_without_topic",
)

# Rows of a seed pool, as every loader returns them.
SEED_SCHEMA: dict[str, pl.DataType] = {
    "instruction_id": pl.String(),  # make_instruction_id(instruction, input)
    "seed_source": pl.String(),  # one of SEED_SOURCES
    "source_name": pl.String(),  # the config entry that loaded the row
    "instruction": pl.String(),
    "input": pl.String(),  # "" when the task has no input
    "output": pl.String(),  # the source's own reference answer
    "template": pl.String(),  # P3/FLAN template family; the source name elsewhere
    "origin": pl.String(),  # where the row came from: "file:line" plus a seed id when there is one
}

# Rows a loader could not read, kept with the reason instead of being dropped.
QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "seed_source": pl.String(),
    "source_name": pl.String(),
    "file": pl.String(),
    "line": pl.Int64(),  # 1-based line (or list index for a JSON array); null when not line-based
    "field": pl.String(),  # the field at fault; null when the whole row is unreadable
    "reason": pl.String(),
    "raw": pl.String(),  # the offending text, truncated to 2,000 characters
}

_WHITESPACE = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """Case-folded, NFKC, whitespace-collapsed text: the form exact dedup compares."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()


def make_instruction_id(instruction: str, input_text: str = "") -> str:
    """Stable 64-bit hex id of the normalised instruction and input."""
    key = normalise_text(instruction) + "\x1f" + normalise_text(input_text)
    return hashlib.blake2b(key.encode("utf-8"), digest_size=8).hexdigest()
