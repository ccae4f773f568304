"""Immutable dataset versions: a folder per content hash in the artifact store, the `latest`
pointer, and the `dataset_versions` / `dataset_rows` tables that say what each version holds."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import duckdb
import polars as pl

from lamini_assets.artifacts import ArtifactStore
from lamini_assets.dataset.build import LaminiDataset
from lamini_assets.dataset.exports import PARQUET_FILE, write_exports
from lamini_assets.warehouse import checked_identifier

PREFIX = "lamini_dataset"
LATEST_KEY = f"{PREFIX}/latest"
_VERSION = re.compile(r"^[0-9a-f]{16}$")


def version_key(version: str) -> str:
    """`lamini_dataset/<version>`: the store key of a version's folder."""
    if not _VERSION.match(version):
        raise ValueError(f"not a dataset version (16 lowercase hex characters): {version!r}")
    return f"{PREFIX}/{version}"


def publish_version(store: ArtifactStore, dataset: LaminiDataset, card: str) -> str:
    """Write the version's files to a staging folder and rename it into place (all or nothing);
    a version already published is left byte for byte as it is. Returns the folder's uri."""
    return store.publish_dir(version_key(dataset.version), lambda folder: write_exports(dataset, folder, card))


def point_latest(store: ArtifactStore, version: str) -> str:
    """Replace the `latest` pointer atomically with the version's name."""
    version_key(version)  # validates the name
    return store.write_bytes(LATEST_KEY, version.encode("ascii"))


def latest_version(store: ArtifactStore) -> str | None:
    """The newest published version, or None before the first."""
    if not store.exists(LATEST_KEY):
        return None
    return store.read_bytes(LATEST_KEY).decode("ascii").strip() or None


def read_version(store: ArtifactStore, version: str) -> pl.DataFrame:
    """Every row of a published version (its parquet file)."""
    key = version_key(version)
    if not store.exists(f"{key}/{PARQUET_FILE}"):
        raise FileNotFoundError(f"dataset version {version} is not published at {store.uri(key)}")
    with store.local_dir(key) as folder:
        return pl.read_parquet(folder / PARQUET_FILE)


@dataclass(frozen=True)
class VersionRecord:
    """One row of `dataset_versions`."""

    version: str
    run_id: str
    created_at: str  # ISO-8601 UTC
    rows_per_source: dict[str, int]
    config_hash: str
    code_version: str
    uri: str


_VERSIONS_DDL = """
create table if not exists main.dataset_versions (
    version varchar primary key, run_id varchar, created_at timestamptz, rows_per_source json,
    config_hash varchar, code_version varchar, uri varchar
)
"""
_ROWS_DDL = "create table if not exists main.dataset_rows (version varchar, row_id varchar)"


def record_version(conn: duckdb.DuckDBPyConnection, record: VersionRecord, row_ids: pl.Series | str) -> bool:
    """Add the version to `dataset_versions` and its row ids (a Series, or a table in `conn` with a
    `row_id` column) to `dataset_rows` in one transaction.
    A version already recorded is left as it is (False): unchanged content adds no version."""
    conn.execute(_VERSIONS_DDL)
    conn.execute(_ROWS_DDL)
    conn.execute("begin transaction")
    try:
        known = conn.execute("select count(*) from main.dataset_versions where version = ?", [record.version]).fetchone()
        if known and known[0]:
            conn.execute("rollback")
            return False
        conn.execute(
            "insert into main.dataset_versions values (?, ?, ?::timestamptz, ?::json, ?, ?, ?)",
            [record.version, record.run_id, record.created_at, json.dumps(record.rows_per_source),
             record.config_hash, record.code_version, record.uri],
        )
        if isinstance(row_ids, str):
            source = checked_identifier(row_ids)
        else:
            conn.register("version_row_ids", pl.DataFrame({"row_id": row_ids}).to_arrow())
            source = "version_row_ids"
        conn.execute(f"insert into main.dataset_rows select ?, row_id from {source}", [record.version])
        if source == "version_row_ids":
            conn.unregister(source)
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise
    return True
