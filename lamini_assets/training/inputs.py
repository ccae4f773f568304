"""Which dataset version the split describes, and its rows (the Dataset contract of issue 9)."""

from __future__ import annotations

import hashlib

import duckdb
import polars as pl

from lamini_assets.artifacts import LocalArtifactStore

LATEST_KEY = "lamini_dataset/latest"


def read_latest_dataset(store: LocalArtifactStore, conn: duckdb.DuckDBPyConnection) -> tuple[str, pl.DataFrame]:
    """(version, rows) of the newest dataset version.

    Through `lamini_assets.dataset`'s helpers when that package is installed; otherwise the same
    contract layout read directly (`lamini_dataset/latest`, then `lamini_dataset/<version>/...`), and
    as a last resort the DuckDB table with row ids and a content version computed as the contract says.
    """
    try:
        from lamini_assets.dataset import latest_version, read_version  # type: ignore[import-not-found]
    except ImportError:
        latest_version = read_version = None
    if latest_version is not None and read_version is not None:
        version = latest_version(store)
        if version is None:
            raise ValueError("no lamini_dataset version has been published yet; materialise lamini_dataset first")
        return version, read_version(store, version)
    if store.exists(LATEST_KEY):
        version = store.read_bytes(LATEST_KEY).decode("utf-8").strip()
        with store.local_dir(f"lamini_dataset/{version}/lamini_dataset.parquet") as path:
            return version, pl.read_parquet(path)
    return _from_table(conn)


def _from_table(conn: duckdb.DuckDBPyConnection) -> tuple[str, pl.DataFrame]:
    from lamini_assets.generation.dataset import content_version
    from lamini_assets.warehouse import read_table, table_exists

    if not table_exists(conn, "lamini_dataset"):
        raise ValueError("no lamini_dataset table or published version; materialise lamini_dataset first")
    rows = read_table(conn, "lamini_dataset")
    if "row_id" not in rows.columns:
        rows = rows.with_columns(
            pl.struct("instruction_source", "instruction_id", "cache_key").map_elements(
                lambda row: hashlib.blake2b(
                    f"{row['instruction_source']}\x1f{row['instruction_id']}\x1f{row['cache_key']}".encode(),
                    digest_size=8,
                ).hexdigest(),
                return_dtype=pl.String,
            ).alias("row_id")
        )
    return content_version(rows.drop("row_id")), rows
