"""The released LaMini-instruction dataset: usable responses only, with ids and provenance, and its exports."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl


@dataclass
class LaminiDataset:
    rows: pl.DataFrame
    counts: dict[str, int]  # responses, kept, excluded_{failed,truncated,empty}
    version: str  # hash of the content: changes only when a row does


def build_lamini_dataset(responses: pl.DataFrame) -> LaminiDataset:
    """Keep answered, complete, non-empty responses; count every row excluded, by reason.

    `instruction` is what the teacher was asked, as LaMini released it: the task instruction, and
    its input after a blank line when there is one; the parts stay in task_instruction/task_input.
    """
    reason = (
        pl.when(pl.col("response").is_null()).then(pl.lit("failed"))
        .when(pl.col("truncated")).then(pl.lit("truncated"))
        .when(pl.col("response").str.strip_chars() == "").then(pl.lit("empty"))
        .otherwise(pl.lit(None))
    )
    marked = responses.with_columns(reason.alias("excluded_because"))
    counts = {"responses": responses.height}
    for name in ("failed", "truncated", "empty"):
        counts[f"excluded_{name}"] = marked.filter(pl.col("excluded_because") == name).height
    rows = (
        marked.filter(pl.col("excluded_because").is_null())
        .with_columns(
            pl.when(pl.col("input") == "").then(pl.col("instruction"))
            .otherwise(pl.concat_str([pl.col("instruction"), pl.lit("\n\n"), pl.col("input")]))
            .alias("full_instruction"),
        )
        .select(
            pl.col("full_instruction").alias("instruction"),
            "response",
            "instruction_source",
            "instruction_id",
            pl.col("instruction").alias("task_instruction"),
            pl.col("input").alias("task_input"),
            "teacher_model",
            "cache_key",
        )
        .sort("instruction_source", "instruction_id")
    )
    counts["kept"] = rows.height
    return LaminiDataset(rows=rows, counts=counts, version=content_version(rows))


def content_version(rows: pl.DataFrame) -> str:
    """sha256 of the rows in a fixed order, so equal content always gives the same version."""
    digest = hashlib.sha256()
    for row in rows.sort(list(rows.columns)).iter_rows():
        digest.update(json.dumps(row, ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()[:16]


def export_lamini_dataset(rows: pl.DataFrame, directory: Path) -> dict[str, Path]:
    """Parquet, HF `datasets` save_to_disk and Alpaca-style JSON, written atomically side by side."""
    import datasets  # heavy import; only the export needs it

    datasets.disable_progress_bars()

    directory.mkdir(parents=True, exist_ok=True)
    parquet = directory / "lamini_dataset.parquet"
    rows.write_parquet(parquet.with_suffix(".parquet.tmp"))
    parquet.with_suffix(".parquet.tmp").replace(parquet)

    hf_dir = directory / "hf_dataset"
    datasets.Dataset.from_polars(rows).save_to_disk(str(hf_dir))

    alpaca = directory / "alpaca_format.json"
    records = [
        {"instruction": row["task_instruction"], "input": row["task_input"], "output": row["response"],
         "instruction_source": row["instruction_source"]}
        for row in rows.iter_rows(named=True)
    ]
    alpaca.with_suffix(".json.tmp").write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
    alpaca.with_suffix(".json.tmp").replace(alpaca)
    return {"parquet": parquet, "hf_dataset": hf_dir, "alpaca_json": alpaca}
