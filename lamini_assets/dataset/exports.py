"""The files of one dataset version: parquet, an HF `datasets` folder, Alpaca JSON and the card.

Every file is written in batches, by Arrow or DuckDB, from the version's DuckDB table or the parquet
file beside it: the rows' text (2.3 GB at LaMini's 2.58M rows) never sits whole in memory.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

if TYPE_CHECKING:
    from lamini_assets.dataset.build import LaminiDataset

PARQUET_FILE = "lamini_dataset.parquet"
HF_FOLDER = "hf_dataset"
ALPACA_FILE = "alpaca_format.json"
CARD_FILE = "dataset_card.md"
BATCH_ROWS = 100_000  # rows per Arrow batch and parquet row group
HF_SHARD_BYTES = 500_000_000  # `datasets`' own default max_shard_size
# Low-cardinality columns get parquet dictionaries; ids and text would only pay to try one.
_DICTIONARY_COLUMNS = ["instruction_source", "template", "topics", "teacher_model", "finish_reason",
                       "generation_template_version", "response_template_version"]


def write_parquet(dataset: LaminiDataset, folder: Path) -> None:
    """The version's table as one zstd parquet file, in its order, streamed from DuckDB as Arrow
    batches (pyarrow's writer: 1.6x less CPU than DuckDB's COPY at 2.58M rows, same size)."""
    import pyarrow.parquet as pq

    reader = dataset.conn.execute(f"select * from {dataset.table}").to_arrow_reader(BATCH_ROWS)
    with pq.ParquetWriter(folder / PARQUET_FILE, reader.schema, compression="zstd",
                          use_dictionary=_DICTIONARY_COLUMNS) as writer:
        for batch in reader:
            writer.write_batch(batch)


def write_hf_dataset(folder: Path, version: str) -> None:
    """`datasets.load_from_disk` folder of the parquet file beside it, fingerprinted by the version
    (`Dataset.from_polars` would hash every row again; the version already names the content).

    Written a shard at a time (at most HF_SHARD_BYTES of Arrow in memory, as `save_to_disk` shards
    by default): each shard is saved by `datasets` itself, then the shards' files are gathered into
    one folder whose state.json lists them all, as `save_to_disk` lists its own shards.
    """
    import datasets  # heavy import; only the export needs it
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets.table import InMemoryTable

    datasets.disable_progress_bars()
    parquet = pq.ParquetFile(folder / PARQUET_FILE)
    parts = folder / f".{HF_FOLDER}.parts"
    saved: list[Path] = []
    pending: list[pa.RecordBatch] = []
    pending_bytes = 0

    def save_shard() -> None:
        table = pa.Table.from_batches(pending, schema=parquet.schema_arrow)
        part = parts / str(len(saved))
        datasets.Dataset(InMemoryTable(table), fingerprint=version).save_to_disk(str(part), num_shards=1)
        saved.append(part)

    for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
        pending.append(batch)
        pending_bytes += batch.nbytes
        if pending_bytes >= HF_SHARD_BYTES:
            save_shard()
            pending, pending_bytes = [], 0
    if pending or not saved:
        save_shard()
    target = folder / HF_FOLDER
    target.mkdir()
    names = [f"data-{index:05d}-of-{len(saved):05d}.arrow" for index in range(len(saved))]
    for part, name in zip(saved, names, strict=True):
        (part / "data-00000-of-00001.arrow").rename(target / name)
    state = json.loads((saved[0] / "state.json").read_text(encoding="utf-8"))
    state["_data_files"] = [{"filename": name} for name in names]
    (target / "state.json").write_text(json.dumps(state, indent=2, sort_keys=True), encoding="utf-8")
    (saved[0] / "dataset_info.json").rename(target / "dataset_info.json")
    shutil.rmtree(parts)


def write_alpaca_json(parquet: Path, folder: Path) -> None:
    """Alpaca's `[{instruction, input, output}, ...]` plus `instruction_source`, in the parquet file's
    order, streamed from it by DuckDB (one JSON array)."""
    with duckdb.connect() as conn:
        conn.execute(
            f"""copy (select task_instruction as instruction, task_input as input, response as output, instruction_source
                      from read_parquet({_sql_path(parquet)}))
                to {_sql_path(folder / ALPACA_FILE)} (format json, array true)"""
        )


def _sql_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def write_exports(dataset: LaminiDataset, folder: Path, card: str) -> None:
    """Every file of a version into `folder` (a staging folder that publish_dir renames into place)."""
    write_parquet(dataset, folder)
    write_hf_dataset(folder, dataset.version)
    write_alpaca_json(folder / PARQUET_FILE, folder)
    (folder / CARD_FILE).write_text(card, encoding="utf-8")
