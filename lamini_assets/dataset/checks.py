"""Validators behind the dataset's blocking checks: plain counts over the `lamini_dataset` table."""

from __future__ import annotations

from collections.abc import Iterable

import duckdb

from lamini_assets.schema import INSTRUCTION_SOURCES
from lamini_assets.warehouse import table_exists


def repeated_row_ids(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows, and rows whose row_id another row has too."""
    if not table_exists(conn, "lamini_dataset"):
        return {"rows": 0, "repeated_row_ids": 0}
    rows, distinct = conn.execute("select count(*), count(distinct row_id) from main.lamini_dataset").fetchone() or (0, 0)
    return {"rows": rows, "repeated_row_ids": rows - distinct}


def missing_sources(conn: duckdb.DuckDBPyConnection, absent_allowed: Iterable[str]) -> dict[str, list[str]]:
    """Sources with no row in the dataset, split into those configured absent and the rest."""
    present: set[str] = set()
    if table_exists(conn, "lamini_dataset"):
        present = {row[0] for row in conn.execute("select distinct instruction_source from main.lamini_dataset").fetchall()}
    allowed = set(absent_allowed)
    missing = [source for source in INSTRUCTION_SOURCES if source not in present]
    return {
        "missing": [source for source in missing if source not in allowed],
        "absent_as_configured": [source for source in missing if source in allowed],
    }
