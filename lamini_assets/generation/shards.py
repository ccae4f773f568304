"""Response shards: a source's instructions split into slices of about `responses.shard_rows` rows.

A source with R instructions has ceil(R / shard_rows) shards (at least one). A row's shard is the MD5
of its instruction_id, as an integer, modulo that count: stable across runs, computed the same way in
Python (`shard_of`) and in DuckDB (`md5_number`, so the SQL below never moves rows through Python).
Shard keys are zero-padded indexes ("0000"); a source uses the first `count` of them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import duckdb
import polars as pl

from lamini_assets.warehouse import checked_identifier, replace_where, table_exists

SHARD_KEY_WIDTH = 4


def shard_count(rows: int, shard_rows: int) -> int:
    """How many shards a source of `rows` instructions has (at least one, even when empty)."""
    return max(1, -(-rows // shard_rows))


def shard_key(index: int) -> str:
    return f"{index:0{SHARD_KEY_WIDTH}d}"


def shard_keys(count: int) -> list[str]:
    return [shard_key(index) for index in range(count)]


def shard_index(key: str) -> int:
    if not (key.isdigit() and len(key) == SHARD_KEY_WIDTH):
        raise ValueError(f"not a response shard key: {key!r} (expected {SHARD_KEY_WIDTH} digits, e.g. '0000')")
    return int(key)


def shard_of(instruction_id: str, count: int) -> int:
    """The shard of one row: equal to DuckDB's `md5_number(instruction_id) % count`."""
    return int.from_bytes(hashlib.md5(instruction_id.encode("utf-8")).digest(), "little") % count


def in_shard_sql(shard: int, count: int, column: str = "instruction_id") -> str:
    """SQL true for rows of shard `shard` of `count`: plain `true` when the source has one shard (no
    hash per row; at one shard per source that was ~10 % of a 1.2M-row responses step). The numbers
    are literals: a bound integer parameter would make the modulo a DOUBLE, and most shards wrong."""
    if count == 1:
        return "true"
    return f"md5_number({checked_identifier(column)}) % {int(count)}::uhugeint = {int(shard)}::uhugeint"


def source_rows(conn: duckdb.DuckDBPyConnection, source: str) -> int:
    """Instructions of a source now (what its shard count is computed from)."""
    if not table_exists(conn, "instructions"):
        return 0
    found = conn.execute("select count(*) from main.instructions where instruction_source = ?", [source]).fetchone()
    return int(found[0]) if found else 0


def read_shard(
    conn: duckdb.DuckDBPyConnection, table: str, source: str, shard: int, count: int,
    columns: Sequence[str] | None = None, id_column: str = "instruction_id",
) -> pl.DataFrame:
    """The rows of one source whose id falls in `shard` of `count`."""
    table = checked_identifier(table)
    selected = ", ".join(checked_identifier(column) for column in columns) if columns else "*"
    return conn.execute(
        f"select {selected} from main.{table} where instruction_source = $source and {in_shard_sql(shard, count, id_column)}",
        {"source": source},
    ).pl()


def replace_shard(
    conn: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame, source: str, shard: int, count: int,
    id_column: str = "instruction_id", where: Mapping[str, str] | None = None,
) -> int:
    """Atomically replace one shard's rows of `table` with `frame`; returns the rows deleted.

    Deleted: the source's rows (also matching `where`) whose id falls in this shard, wherever an
    earlier run put them, and the source's rows whose instruction is gone from `instructions`
    (they belong to no shard). Rows are placed by their id, so a changed shard count (the source
    grew or shrank) moves a row when its new shard runs and never leaves two copies of it.
    """
    id_column = checked_identifier(id_column)
    extra = "".join(f" and {checked_identifier(column)} = ${column}" for column in where or {})
    orphans = (
        f" or {id_column} not in (select instruction_id from main.instructions where instruction_source = $source)"
        if table_exists(conn, "instructions") else ""
    )
    return replace_where(
        conn, table, frame, f"instruction_source = $source{extra} and ({in_shard_sql(shard, count, id_column)}{orphans})",
        {"source": source, **(where or {})},
    )
