"""The train/validation/test split of one dataset version, and the evaluation-only guard.

Each row's split comes from a seeded hash of its `row_id`, ranked within its `instruction_source`,
so the split is stratified, reproducible, and changes little when rows are added. Rows that match
an evaluation-only instruction (Self-Instruct's user-oriented set, or any configured evaluation set)
are kept out of every split and counted; `leaked_rows` finds any that got into a split anyway.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from lamini_assets.schema import make_instruction_id, normalise_text
from lamini_assets.training.config import EvaluationOnlySet, SplitConfig

SPLITS: tuple[str, ...] = ("train", "validation", "test")
# The `train_split` table (Students contract).
SPLIT_TABLE_COLUMNS: tuple[str, ...] = ("dataset_version", "row_id", "instruction_id", "instruction_source", "split")
# The split artifact the training script reads: the table's columns plus the text it trains on.
SPLIT_TEXT_COLUMNS: tuple[str, ...] = ("instruction", "response", "task_instruction", "task_input", "teacher_model")
# Splits a student sees while training (the test split is held out for evaluation).
SEEN_SPLITS: tuple[str, ...] = ("train", "validation")


@dataclass(frozen=True)
class EvaluationOnlyIndex:
    """Normalised texts and instruction ids of instructions that must never train a student."""

    texts: frozenset[str]
    instruction_ids: frozenset[str]
    sizes: dict[str, int]  # items per evaluation-only file

    def matches(self, rows: pl.DataFrame) -> pl.Series:
        """True for rows whose instruction (alone or with its input) or instruction_id is evaluation-only."""
        if rows.is_empty():
            return pl.Series("evaluation_only", [], dtype=pl.Boolean)
        by_id = rows["instruction_id"].is_in(list(self.instruction_ids))
        text_columns = [column for column in ("instruction", "task_instruction") if column in rows.columns]
        by_text = pl.Series([False] * rows.height)
        for column in text_columns:
            normalised = rows[column].fill_null("").map_elements(normalise_text, return_dtype=pl.String)
            by_text = by_text | normalised.is_in(list(self.texts))
        return (by_id | by_text).alias("evaluation_only")


def load_evaluation_only(sets: list[EvaluationOnlySet]) -> EvaluationOnlyIndex:
    """Read every evaluation-only file; an unreadable line is an error naming file and line."""
    texts: set[str] = set()
    ids: set[str] = set()
    sizes: dict[str, int] = {}
    for spec in sets:
        count = 0
        for line_number, line in enumerate(Path(spec.path).read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                instruction = item["instruction" if spec.format == "self_instruct" else spec.field]
                inputs = [instance.get("input", "") for instance in item.get("instances", [])] if spec.format == "self_instruct" else []
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
                field = spec.field if spec.format == "text_field" else "instruction/instances"
                raise ValueError(f"{spec.path}:{line_number}: field '{field}': {error!r}") from error
            if not isinstance(instruction, str) or not instruction.strip():
                raise ValueError(f"{spec.path}:{line_number}: field '{spec.field}': empty or not text")
            count += 1
            texts.add(normalise_text(instruction))
            ids.add(make_instruction_id(instruction, ""))
            for input_text in inputs:
                if input_text:
                    # LaMini's `instruction` column: the task, then its input after a blank line.
                    texts.add(normalise_text(f"{instruction}\n\n{input_text}"))
                    ids.add(make_instruction_id(instruction, input_text))
        sizes[spec.path] = count
    return EvaluationOnlyIndex(frozenset(texts), frozenset(ids), sizes)


@dataclass
class Split:
    rows: pl.DataFrame  # SPLIT_TABLE_COLUMNS + SPLIT_TEXT_COLUMNS, one row per kept dataset row
    excluded: pl.DataFrame  # dataset rows kept out because they are evaluation-only
    counts: dict[str, int]  # rows/<source>/<split>, <split>, excluded_evaluation_only

    @property
    def table(self) -> pl.DataFrame:
        return self.rows.select(SPLIT_TABLE_COLUMNS)


def split_hash(config: SplitConfig, evaluation_only: EvaluationOnlyIndex) -> str:
    """Identifies the split settings and evaluation-only sets (part of the artifact key and checkpoint id)."""
    payload = json.dumps(
        {"split": config.model_dump(), "evaluation_only": sorted(evaluation_only.instruction_ids)}, sort_keys=True
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:12]


def _rank_key(seed: int, row_id: str) -> str:
    return hashlib.blake2b(f"{seed}\x1f{row_id}".encode("utf-8"), digest_size=8).hexdigest()


def _held_out(fraction: float, rows: int) -> int:
    # At least one held-out row when a source has a few rows, so every source has a validation loss.
    if fraction <= 0 or rows < 3:
        return 0
    return max(1, round(fraction * rows))


def split_dataset(
    dataset: pl.DataFrame, version: str, config: SplitConfig, evaluation_only: EvaluationOnlyIndex
) -> Split:
    """Assign each dataset row to train, validation or test, stratified by instruction_source."""
    missing = sorted({"row_id", "instruction_id", "instruction_source", *SPLIT_TEXT_COLUMNS} - set(dataset.columns))
    if missing:
        raise ValueError(f"dataset version {version} lacks columns {missing}")
    repeated = dataset.height - dataset["row_id"].n_unique()
    if repeated:
        raise ValueError(f"dataset version {version}: row_id is not unique ({repeated} repeats)")
    flagged = dataset.with_columns(evaluation_only.matches(dataset))
    excluded = flagged.filter(pl.col("evaluation_only")).drop("evaluation_only")
    kept = flagged.filter(~pl.col("evaluation_only")).drop("evaluation_only")
    ranked = kept.with_columns(
        pl.col("row_id").map_elements(lambda row_id: _rank_key(config.seed, row_id), return_dtype=pl.String).alias("_rank")
    ).sort("instruction_source", "_rank")
    parts = []
    counts: dict[str, int] = dict.fromkeys(SPLITS, 0)
    for (source,), group in ranked.group_by("instruction_source", maintain_order=True):
        n_test = _held_out(config.test_fraction, group.height)
        n_validation = _held_out(config.validation_fraction, group.height - n_test)
        labels = ["test"] * n_test + ["validation"] * n_validation + ["train"] * (group.height - n_test - n_validation)
        parts.append(group.with_columns(pl.Series("split", labels)))
        for name in SPLITS:
            counts[f"rows/{source}/{name}"] = labels.count(name)
            counts[name] += labels.count(name)
    columns = [*SPLIT_TABLE_COLUMNS, *SPLIT_TEXT_COLUMNS]
    rows = (
        pl.concat(parts).with_columns(pl.lit(version).alias("dataset_version")).select(columns)
        if parts
        else pl.DataFrame(schema={column: pl.String for column in columns})
    ).sort("instruction_source", "split", "row_id")
    counts["excluded_evaluation_only"] = excluded.height
    return Split(rows=rows, excluded=excluded, counts=counts)


def leaked_rows(split_rows: pl.DataFrame, evaluation_only: EvaluationOnlyIndex) -> pl.DataFrame:
    """Rows of the seen splits (train, validation) that are evaluation-only: must be empty."""
    seen = split_rows.filter(pl.col("split").is_in(list(SEEN_SPLITS)))
    return seen.filter(evaluation_only.matches(seen))
