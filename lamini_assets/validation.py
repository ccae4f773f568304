"""Validators behind the asset checks: plain SQL counts over one table or one partition of it."""

from __future__ import annotations

import duckdb

from lamini_assets.warehouse import checked_identifier, table_exists


def count_rows_problems(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    partition_column: str | None = None,
    partition_key: str | None = None,
) -> dict[str, int]:
    """Rows, empty instructions and repeated instruction ids in a table or one partition of it."""
    table = checked_identifier(table)
    if not table_exists(conn, table):
        return {"rows": 0, "empty_instructions": 0, "repeated_ids": 0}
    where = f"where {checked_identifier(partition_column)} = $partition_key" if partition_column else ""
    params = {"partition_key": partition_key} if partition_column else {}
    rows, empty, distinct_ids = conn.execute(
        f"""
        select
            count(*),
            count(*) filter (where instruction is null or trim(instruction) = ''),
            count(distinct instruction_id)
        from main.{table} {where}
        """,
        params,
    ).fetchone() or (0, 0, 0)
    return {"rows": rows, "empty_instructions": empty, "repeated_ids": rows - distinct_ids}
