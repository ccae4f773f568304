"""The DuckDB warehouse: partition-safe table writes and the SQL models in dbt_like_sql/."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

import duckdb

# DuckDB scans Polars' Arrow buffers through Acero, which by default prints a warning to stderr for
# every unaligned buffer it meets (Polars does not promise 64-byte alignment): noise in every run log.
# "reallocate" copies such a buffer to an aligned one, silently.
os.environ.setdefault("ACERO_ALIGNMENT_HANDLING", "reallocate")
import polars as pl

SQL_MODELS_DIR = Path(__file__).resolve().parents[1] / "dbt_like_sql"
MACROS_FILE = "_macros.sql"
_HEADER = re.compile(r"^--\s*(\w+):\s*(.*)$")
_PARAMETER = re.compile(r"\$([A-Za-z_]\w*)")
_IDENTIFIER = re.compile(r"^[A-Za-z_]\w*$")
_CALLS_WORD_COUNT = re.compile(r"\bword_count\s*\(")


class WarehouseWriteError(RuntimeError):
    """A table write that failed at the storage level (e.g. a full disk); the table was left as it was."""


class DatabaseLockTimeout(TimeoutError):
    """Another process held the DuckDB file for longer than the wait allowed."""


_held_locks: dict[str, tuple[int, int]] = {}  # lock file -> (descriptor, depth) held by this process
_held_locks_guard = threading.Lock()


def lock_path(database: Path | str) -> Path:
    return Path(f"{database}.lock")


@contextmanager
def database_lock(database: Path | str, timeout_seconds: float = 1800.0) -> Iterator[None]:
    """Hold the DuckDB file's lock (`<file>.lock`, fcntl.flock) so processes on this host take turns.

    DuckDB lets one process open a file for writing; a second one fails at once ("Could not set lock on
    file"). Steps of parallel runs and Celery workers therefore wait here instead, for at most
    `timeout_seconds`. The lock is re-entrant within a process (DuckDB shares one database per process),
    and the kernel releases it when a process dies, so a killed step never leaves it stuck.
    """
    path = str(lock_path(database))
    with _held_locks_guard:
        if path in _held_locks:
            descriptor, depth = _held_locks[path]
            _held_locks[path] = (descriptor, depth + 1)
            acquired_here = False
        else:
            acquired_here = True
    if acquired_here:
        descriptor = _acquire(path, timeout_seconds)
        with _held_locks_guard:
            _held_locks[path] = (descriptor, 1)
    try:
        yield
    finally:
        with _held_locks_guard:
            descriptor, depth = _held_locks[path]
            if depth > 1:
                _held_locks[path] = (descriptor, depth - 1)
            else:
                del _held_locks[path]
                fcntl.flock(descriptor, fcntl.LOCK_UN)
                os.close(descriptor)


def publish_read_snapshot(database: Path | str, snapshot: Path | str, timeout_seconds: float = 1800.0) -> bool:
    """Copy the DuckDB file to `snapshot` for readers, when it changed since the last copy (False: unchanged).

    DuckDB refuses a second process while one writes, and a reader holding the file makes the writing
    steps fail; readers open this copy instead (read-only), which runs never write. The copy is taken
    under the database lock after a CHECKPOINT (so the file holds every committed write) and moved into
    place atomically: a reader with the old copy open keeps reading it until it reconnects.
    """
    database, snapshot = Path(database), Path(snapshot)
    if not database.exists():
        return False
    with database_lock(database, timeout_seconds):
        if snapshot.exists() and snapshot.stat().st_mtime_ns == _written_at(database):
            return False
        with duckdb.connect(str(database)) as conn:
            conn.execute("checkpoint")
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        staging = snapshot.with_name(f".{snapshot.name}.{os.getpid()}.tmp")
        shutil.copyfile(database, staging)
        written = _written_at(database)
        os.utime(staging, ns=(written, written))  # the next call sees the copy is current
        os.replace(staging, snapshot)
        return True


def _written_at(database: Path) -> int:
    """The database's last write: its file, or its write-ahead log when that is newer."""
    wal = Path(f"{database}.wal")
    return max(database.stat().st_mtime_ns, wal.stat().st_mtime_ns if wal.exists() else 0)


def _acquire(path: str, timeout_seconds: float) -> int:
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + timeout_seconds
    delay = 0.01
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() > deadline:
                holder = os.pread(descriptor, 64, 0).decode(errors="replace").strip() or "unknown"
                os.close(descriptor)
                raise DatabaseLockTimeout(
                    f"{path}: waited {timeout_seconds:.0f} s for the DuckDB file; process {holder} still holds it"
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.25)
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)  # named in the timeout message of a waiter
    return descriptor


def checked_identifier(name: str) -> str:
    # Table names cannot be bound as parameters, so they are validated instead.
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return name


def table_exists(conn: duckdb.DuckDBPyConnection, table: str) -> bool:
    found = conn.execute(
        "select count(*) from information_schema.tables where table_schema = 'main' and table_name = ?",
        [table],
    ).fetchone()
    return bool(found and found[0])


def _create_like(conn: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    arrow_frame = frame.to_arrow()  # noqa: F841  (DuckDB reads the local by name)
    conn.execute(f"create table if not exists main.{table} as select * from arrow_frame limit 0")
    existing = [row[0] for row in conn.execute(f"describe main.{table}").fetchall()]
    if existing != frame.columns:
        raise ValueError(
            f"table main.{table} has columns {existing} but the asset now writes {frame.columns}; "
            "drop the table (or remove the state folder) to rebuild it"
        )


def replace_partition(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    frame: pl.DataFrame,
    partition: Mapping[str, str],
) -> None:
    """Atomically replace the rows whose columns equal `partition`, creating the table (even empty) if needed."""
    where = " and ".join(f"{checked_identifier(column)} = ${column}" for column in partition)
    replace_where(conn, table, frame, where, partition)


def replace_where(
    conn: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame, condition: str, params: Mapping[str, Any],
) -> int:
    """Atomically delete the rows matching a SQL `condition` (named $parameters from `params`) and
    insert `frame`, creating the table (even empty) if needed; returns the rows deleted. For a
    slice that is not a set of column values (a response shard: a hash of the id)."""
    conn.register("replaced_rows", frame.to_arrow())
    try:
        deleted, _ = _replace(conn, table, frame, condition, params, "select * from replaced_rows", {}, f"{frame.height} rows")
    finally:
        conn.unregister("replaced_rows")
    return deleted


def replace_partition_from_query(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    like: pl.DataFrame,
    partition: Mapping[str, str],
    query: str,
    query_params: Mapping[str, Any],
) -> int:
    """replace_partition with the rows of a SQL `query` over tables of this database (named
    $parameters from `query_params`), its columns named as `like`'s: the rows go from table to table
    inside DuckDB, never through Python. Returns the rows inserted."""
    where = " and ".join(f"{checked_identifier(column)} = $partition_{column}" for column in partition)
    params = {f"partition_{column}": value for column, value in partition.items()}
    _, inserted = _replace(conn, table, like, where, params, query, query_params, "the query's rows")
    return inserted


def _replace(
    conn: duckdb.DuckDBPyConnection, table: str, like: pl.DataFrame, condition: str, params: Mapping[str, Any],
    query: str, query_params: Mapping[str, Any], what: str,
) -> tuple[int, int]:
    """In one transaction: create `table` like `like` if needed, delete the rows matching `condition`,
    insert the rows of `query` by column name; (rows deleted, rows inserted)."""
    table = checked_identifier(table)
    conn.execute("begin transaction")
    try:
        _create_like(conn, table, like)
        deleted = conn.execute(f"delete from main.{table} where {condition}", dict(params)).fetchone()
        inserted = conn.execute(f"insert into main.{table} by name {query}", dict(query_params)).fetchone()
        conn.execute("commit")
    except (duckdb.IOException, duckdb.TransactionException) as error:  # a full disk (at insert or commit)
        _rollback(conn)
        raise WarehouseWriteError(
            f"table main.{table}: writing {what} for {dict(params)} failed and was rolled back "
            f"(the table keeps its previous rows): {error}"
        ) from error
    except BaseException:
        _rollback(conn)
        raise
    return (int(deleted[0]) if deleted else 0), (int(inserted[0]) if inserted else 0)


def _rollback(conn: duckdb.DuckDBPyConnection) -> None:
    try:
        conn.execute("rollback")
    except duckdb.TransactionException:
        pass  # a failed commit has already ended (and undone) the transaction


def replace_table(conn: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    """Replace a whole table with a frame, keeping its column types."""
    table = checked_identifier(table)
    arrow_frame = frame.to_arrow()  # noqa: F841
    try:
        conn.execute(f"create or replace table main.{table} as select * from arrow_frame")
    except duckdb.IOException as error:
        raise WarehouseWriteError(
            f"table main.{table}: writing {frame.height} rows failed (the table keeps its previous rows): {error}"
        ) from error


@contextmanager
def memory_limit(conn: duckdb.DuckDBPyConnection, limit: str) -> Iterator[None]:
    """DuckDB's memory limit set to `limit` (e.g. "2GB") inside the block, the previous one after.
    DuckDB keeps what it reads and builds in memory up to its limit (80% of RAM by default) and
    spills to its temp directory beyond it."""
    previous = conn.execute("select current_setting('memory_limit')").fetchone()
    conn.execute("set memory_limit = ?", [limit])
    try:
        yield
    finally:
        if previous is not None:
            conn.execute("set memory_limit = ?", [previous[0]])


def rename_table(conn: duckdb.DuckDBPyConnection, staging: str, table: str) -> None:
    """Replace `table` with the table `staging` in one transaction: a rename, no copy of the rows."""
    staging, table = checked_identifier(staging), checked_identifier(table)
    conn.execute("begin transaction")
    try:
        conn.execute(f"drop table if exists main.{table}")
        conn.execute(f"alter table main.{staging} rename to {table}")
        conn.execute("commit")
    except BaseException:
        _rollback(conn)
        raise


def content_hash(
    conn: duckdb.DuckDBPyConnection, relation: str, where: str | None = None, params: Mapping[str, Any] | None = None
) -> str:
    """16 hex chars naming a table's content (`relation`: a table, view or registered frame in `conn`).

    sha256 over the column names and DuckDB types, the row count, and the sums of every row's md5
    (its 128 bits as two 64-bit halves, summed as HUGEINT: no overflow below 2^63 rows). Sums make
    it independent of row order without sorting, and count repeated rows; md5 and the sums are the
    same in every DuckDB version. Hashed inside DuckDB: no Python loop over rows. The one way this
    project hashes a table's content (dataset versions, data versions of tables and partitions).
    `where` (a SQL condition, named $parameters from `params`) hashes only those rows: a partition.
    """
    relation = checked_identifier(relation)
    described = conn.execute(f"describe {relation}").fetchall()
    schema = ",".join(f"{name}:{dtype}" for name, dtype, *_ in described)
    found = conn.execute(
        f"""
        select count(*), coalesce(sum((digest >> 64)::ubigint::hugeint), 0),
               coalesce(sum((digest & 18446744073709551615::uhugeint)::ubigint::hugeint), 0)
        from (select md5_number(concat_ws(chr(31), {_row_text(described)})) as digest from {relation}
              {f"where {where}" if where else ""})
        """,
        dict(params or {}),
    ).fetchone()
    assert found is not None
    material = f"{schema}\n{found[0]}\n{found[1]}\n{found[2]}"
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:16]


def _row_text(described: list[tuple[Any, ...]]) -> str:
    """SQL parts whose chr(31)-joined text identifies a row: a null is chr(0); a list is its length
    and its items joined by chr(30). (A whole-row to_json costs 5x more at 2.58M rows.)"""
    parts = []
    for name, dtype, *_ in described:
        column = '"' + str(name).replace('"', '""') + '"'
        if str(dtype).endswith("[]"):
            parts.append(f"coalesce(len({column}) || chr(30) || array_to_string({column}, chr(30)), chr(0))")
        else:
            parts.append(f"coalesce({column}::varchar, chr(0))")
    return ", ".join(parts)


def table_version(frame: pl.DataFrame) -> str:
    """A content hash of a frame (16 hex chars, `content_hash`): the Dagster data version of a table
    or partition, so it changes only when a row does and downstream goes stale only then."""
    # Arrow string views share polars' buffers (the default large strings would copy every text).
    with duckdb.connect() as conn:
        conn.register("content", frame.to_arrow(compat_level=pl.CompatLevel.newest()))
        return content_hash(conn, "content")


def read_table(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    partition_column: str | None = None,
    partition_keys: list[str] | None = None,
    columns: Sequence[str] | None = None,
) -> pl.DataFrame:
    """A table, or some of its partitions, as a Polars frame (only `columns` when given)."""
    table = checked_identifier(table)
    selected = ", ".join(checked_identifier(column) for column in columns) if columns else "*"
    if partition_column is None or partition_keys is None:
        return conn.execute(f"select {selected} from main.{table}").pl()
    return conn.execute(
        f"select {selected} from main.{table} where {checked_identifier(partition_column)} in (select unnest(?))",
        [partition_keys],
    ).pl()


@dataclass(frozen=True)
class SqlModel:
    """One file of dbt_like_sql/: a SELECT that becomes a table (or view) of the same name."""

    name: str
    sql: str
    group: str
    description: str
    deps: tuple[str, ...]
    materialized: str = "table"
    parameters: tuple[str, ...] = field(default=())

    def code_version(self, values: dict[str, Any]) -> str:
        """Hash of the model's SQL, the shared macros it runs with and the values bound to its
        parameters: the asset's code version, so an edited model or macro, or a changed bound config
        value, shows as changed in the UI."""
        from lamini_assets.sql_functions import SQL_FUNCTIONS_VERSION

        macros = (SQL_MODELS_DIR / MACROS_FILE).read_text(encoding="utf-8")
        material = json.dumps([self.sql, macros, self.bind(values)], sort_keys=True, default=str)
        if _CALLS_WORD_COUNT.search(self.sql):  # the Python function's version: the other models keep theirs
            material += SQL_FUNCTIONS_VERSION
        return hashlib.sha256(material.encode("utf-8")).hexdigest()[:12]

    def bind(self, values: dict[str, Any]) -> dict[str, Any]:
        missing = [name for name in self.parameters if name not in values]
        if missing:
            raise KeyError(f"{self.name}.sql needs parameters {missing}")
        return {name: values[name] for name in self.parameters}


def parse_sql_model(path: Path) -> SqlModel:
    """Read a model's header comments (group, deps, description, materialized) and its SELECT."""
    headers: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _HEADER.match(line.strip())
        if not match:
            break
        key, value = match.groups()
        headers[key] = f"{headers[key]} {value}".strip() if key in headers else value.strip()
    unknown = set(headers) - {"group", "deps", "description", "materialized"}
    if unknown or "group" not in headers or "description" not in headers:
        raise ValueError(f"{path}: header needs group and description and allows deps, materialized; got {sorted(headers)}")
    materialized = headers.get("materialized", "table")
    if materialized not in {"table", "view"}:
        raise ValueError(f"{path}: materialized must be table or view, got {materialized!r}")
    sql = path.read_text(encoding="utf-8")
    return SqlModel(
        name=checked_identifier(path.stem),
        sql=sql,
        group=headers["group"],
        description=headers["description"],
        deps=tuple(dep.strip() for dep in headers.get("deps", "").split(",") if dep.strip()),
        materialized=materialized,
        parameters=tuple(dict.fromkeys(_PARAMETER.findall(sql))),
    )


def load_sql_models(directory: Path = SQL_MODELS_DIR) -> list[SqlModel]:
    """Every model in the folder, upstream models first."""
    models = {
        path.stem: parse_sql_model(path) for path in sorted(directory.glob("*.sql")) if path.name != MACROS_FILE
    }
    order = TopologicalSorter({name: [dep for dep in model.deps if dep in models] for name, model in models.items()})
    return [models[name] for name in order.static_order()]


def run_sql_model(conn: duckdb.DuckDBPyConnection, model: SqlModel, parameters: dict[str, Any]) -> int:
    """(Re)build a model's table or view; returns its row count."""
    if _CALLS_WORD_COUNT.search(model.sql):  # a Python function (numba), registered where a model calls it
        from lamini_assets.sql_functions import register_sql_functions

        register_sql_functions(conn)
    conn.execute((SQL_MODELS_DIR / MACROS_FILE).read_text(encoding="utf-8"))
    kind = "view" if model.materialized == "view" else "table"
    # DuckDB does not allow prepared parameters in a view's definition.
    if kind == "view" and model.parameters:
        raise ValueError(f"{model.name}.sql: a view cannot take parameters ({', '.join(model.parameters)})")
    conn.execute(f"create or replace {kind} main.{model.name} as {model.sql}", model.bind(parameters))
    count = conn.execute(f"select count(*) from main.{model.name}").fetchone()
    return int(count[0]) if count else 0
