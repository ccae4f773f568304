"""The DuckDB warehouse: partition-safe table writes and the SQL models in dbt_like_sql/."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

SQL_MODELS_DIR = Path(__file__).resolve().parents[1] / "dbt_like_sql"
MACROS_FILE = "_macros.sql"
_HEADER = re.compile(r"^--\s*(\w+):\s*(.*)$")
_PARAMETER = re.compile(r"\$([A-Za-z_]\w*)")
_IDENTIFIER = re.compile(r"^[A-Za-z_]\w*$")


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
    table = checked_identifier(table)
    where = " and ".join(f"{checked_identifier(column)} = ?" for column in partition)
    conn.execute("begin transaction")
    try:
        _create_like(conn, table, frame)
        conn.execute(f"delete from main.{table} where {where}", list(partition.values()))
        arrow_frame = frame.to_arrow()  # noqa: F841
        conn.execute(f"insert into main.{table} select * from arrow_frame")
        conn.execute("commit")
    except (duckdb.IOException, duckdb.TransactionException) as error:  # a full disk (at insert or commit)
        _rollback(conn)
        raise WarehouseWriteError(
            f"table main.{table}: writing {frame.height} rows for {dict(partition)} failed and was rolled back "
            f"(the table keeps its previous rows): {error}"
        ) from error
    except BaseException:
        _rollback(conn)
        raise


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


def table_version(frame: pl.DataFrame) -> str:
    """A content hash of the rows in a fixed order (16 hex chars): the Dagster data version of a
    table or partition, so it changes only when a row does and downstream goes stale only then."""
    digest = hashlib.sha256()
    for row in frame.sort(frame.columns, nulls_last=True).iter_rows():
        digest.update(json.dumps(row, ensure_ascii=False, default=str).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()[:16]


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
        macros = (SQL_MODELS_DIR / MACROS_FILE).read_text(encoding="utf-8")
        material = json.dumps([self.sql, macros, self.bind(values)], sort_keys=True, default=str)
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
    conn.execute((SQL_MODELS_DIR / MACROS_FILE).read_text(encoding="utf-8"))
    kind = "view" if model.materialized == "view" else "table"
    # DuckDB does not allow prepared parameters in a view's definition.
    if kind == "view" and model.parameters:
        raise ValueError(f"{model.name}.sql: a view cannot take parameters ({', '.join(model.parameters)})")
    conn.execute(f"create or replace {kind} main.{model.name} as {model.sql}", model.bind(parameters))
    count = conn.execute(f"select count(*) from main.{model.name}").fetchone()
    return int(count[0]) if count else 0
