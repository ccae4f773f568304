"""The files of one dataset version: parquet, an HF `datasets` folder, Alpaca JSON and the card."""

from __future__ import annotations

from pathlib import Path

import polars as pl

PARQUET_FILE = "lamini_dataset.parquet"
HF_FOLDER = "hf_dataset"
ALPACA_FILE = "alpaca_format.json"
CARD_FILE = "dataset_card.md"


def write_parquet(rows: pl.DataFrame, folder: Path) -> None:
    rows.write_parquet(folder / PARQUET_FILE)


def write_hf_dataset(rows: pl.DataFrame, folder: Path, version: str) -> None:
    """`datasets.load_from_disk` folder built from the Arrow table, fingerprinted by the version:
    `Dataset.from_polars` would hash every row again (the version already names the content)."""
    import datasets  # heavy import; only the export needs it
    from datasets.table import InMemoryTable

    datasets.disable_progress_bars()
    dataset = datasets.Dataset(InMemoryTable(rows.to_arrow()), fingerprint=version)
    dataset.save_to_disk(str(folder / HF_FOLDER))


def write_alpaca_json(rows: pl.DataFrame, folder: Path) -> None:
    """Alpaca's `[{instruction, input, output}, ...]` plus `instruction_source`, written by polars."""
    rows.select(
        pl.col("task_instruction").alias("instruction"),
        pl.col("task_input").alias("input"),
        pl.col("response").alias("output"),
        "instruction_source",
    ).write_json(folder / ALPACA_FILE)


def write_exports(rows: pl.DataFrame, folder: Path, version: str, card: str) -> None:
    """Every file of a version into `folder` (a staging folder that publish_dir renames into place)."""
    write_parquet(rows, folder)
    write_hf_dataset(rows, folder, version)
    write_alpaca_json(rows, folder)
    (folder / CARD_FILE).write_text(card, encoding="utf-8")
