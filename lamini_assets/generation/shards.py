"""Response shards: a source's instructions split into slices of about `responses.shard_rows` rows.

A source with R instructions has ceil(R / shard_rows) shards (at least one). A row's shard is 64 bits
of the MD5 of its instruction_id, as an integer, modulo that count: stable across runs, computed the
same way in Python (`shard_of`) and in DuckDB (`md5_number_lower`, so the SQL below never moves rows
through Python). 64 bits, not the whole 128-bit `md5_number`: DuckDB divides 128-bit integers in
software, 7.0 s of CPU per 1.2M ids against 0.9 s, and a shard run filters its rows eight times.
Shard keys are zero-padded indexes ("0000"); a source uses the first `count` of them.
"""

from __future__ import annotations

import hashlib
import re
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
    """The shard of one row: equal to DuckDB's `md5_number_lower(instruction_id) % count` (DuckDB's
    "lower" half is the digest's last 8 bytes, little-endian)."""
    return int.from_bytes(hashlib.md5(instruction_id.encode("utf-8")).digest()[8:], "little") % count


def in_shard_sql(shard: int, count: int, column: str = "instruction_id") -> str:
    """SQL true for rows of shard `shard` of `count`: plain `true` when the source has one shard (no
    hash per row; at one shard per source that was ~10 % of a 1.2M-row responses step). The numbers
    are typed literals: a bound integer parameter made the modulo a DOUBLE, and most shards wrong."""
    if count == 1:
        return "true"
    return f"md5_number_lower({checked_identifier(column)}) % {int(count)}::ubigint = {int(shard)}::ubigint"


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
    id_column: str = "instruction_id", where: Mapping[str, str] | None = None, skip_unchanged: bool = False,
) -> int | None:
    """Atomically replace one shard's rows of `table` with `frame`; returns the rows deleted, or None
    when nothing had to be written.

    Deleted: the source's rows (also matching `where`) whose id falls in this shard, wherever an
    earlier run put them, and the source's rows whose instruction is gone from `instructions`
    (they belong to no shard). Rows are placed by their id, so a changed shard count (the source
    grew or shrank) moves a row when its new shard runs and never leaves two copies of it.

    `skip_unchanged`: when the rows the delete would remove are exactly `frame` (same columns and
    types, same rows counted with repeats; compared with the table itself, never with a remembered
    version), the table is left untouched and None is returned: a warm rerun of an unchanged shard
    compares (~2 s of CPU at 600k rows of a 1.2M-row source) instead of deleting and rewriting its rows
    (~5 s, and the WAL).
    """
    id_column = checked_identifier(id_column)
    extra = "".join(f" and {checked_identifier(column)} = ${column}" for column in where or {})
    orphans = (
        f" or {id_column} not in (select instruction_id from main.instructions where instruction_source = $source)"
        if table_exists(conn, "instructions") else ""
    )
    condition = f"instruction_source = $source{extra} and ({in_shard_sql(shard, count, id_column)}{orphans})"
    params = {"source": source, **(where or {})}
    if skip_unchanged and table_exists(conn, checked_identifier(table)) and _holds_exactly(conn, table, condition, params, frame):
        return None
    return replace_where(conn, table, frame, condition, params)


def _holds_exactly(
    conn: duckdb.DuckDBPyConnection, table: str, condition: str, params: Mapping[str, str], frame: pl.DataFrame,
) -> bool:
    """Whether the rows of `table` matching `condition` are `frame`'s rows: the same column names and
    types, the same row count, and the same sum of a 64-bit hash of every row (DuckDB's `hash`, ~10x
    cheaper than the md5 of content_hash; both sides hashed now by the same DuckDB, so its hash need not
    be stable across versions). Rows that differ go unnoticed with probability about 2^-64."""
    def literal(value: str) -> str:
        return "'" + str(value).replace("'", "''") + "'"

    # A view's SQL cannot take parameters: they are inlined as quoted literals.
    inlined = re.sub(r"\$([A-Za-z_]\w*)", lambda match: literal(params[match.group(1)]), condition)
    conn.execute(f"create or replace temporary view stored_shard as select * from main.{table} where {inlined}")
    conn.register("new_shard", frame.to_arrow(compat_level=pl.CompatLevel.newest()))
    try:
        described = [conn.execute(f"describe {name}").fetchall() for name in ("stored_shard", "new_shard")]
        if [row[:2] for row in described[0]] != [row[:2] for row in described[1]]:
            return False
        columns = ", ".join('"' + str(row[0]).replace('"', '""') + '"' for row in described[0])
        figures = f"select count(*), coalesce(sum(hash({columns})::hugeint), 0) from "
        stored = conn.execute(figures + "stored_shard").fetchone()
        # The new rows are hashed only when their count matches: a shard written for the first time (a
        # fresh state) holds none, and hashing the whole frame to find that out cost ~1.5 s at 741k rows.
        return stored is not None and stored[0] == frame.height and stored == conn.execute(figures + "new_shard").fetchone()
    finally:
        conn.unregister("new_shard")
        conn.execute("drop view if exists stored_shard")
