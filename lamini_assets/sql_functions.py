"""Functions the dbt_like_sql models call that DuckDB has no fast form of, registered on the
connection before every model runs (warehouse.run_sql_model).

`word_count(text)`: runs of characters that are not ASCII whitespace (space, tab, newline, CR, VT,
FF), as Python's str.split() counts on ASCII text; NULL for NULL. A numba byte loop over the Arrow
strings DuckDB hands over: at 2.58M LaMini-shaped rows it counts instructions, inputs and outputs in
about 4.8 s of CPU where the SQL macro it replaces (string functions, a regex for text with runs of
whitespace) took 15.6 s, and DuckDB's own regex functions 25 s or more.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
from duckdb import sqltypes

from lamini_assets.sources.kernels import count_words

# Part of every SQL model's code version (with _macros.sql): bump it when a function's result changes.
SQL_FUNCTIONS_VERSION = "word_count:1"


def _word_count(texts: pa.Array | pa.ChunkedArray) -> pa.Array:
    return count_words(texts)


def register_sql_functions(conn: duckdb.DuckDBPyConnection) -> None:
    """Register the functions on `conn` (once per connection). A `word_count` macro that an older
    version stored in the database would hide the function (and block registering it): dropped."""
    found = conn.execute(
        "select database_name, schema_name, function_type from duckdb_functions() where function_name = 'word_count'"
    ).fetchall()
    for database, schema, kind in found:
        if kind == "macro" and database != "system":
            conn.execute(f'drop macro "{database}"."{schema}".word_count')
    if not any(database == "system" and kind == "scalar" for database, _, kind in found):
        conn.create_function("word_count", _word_count, [sqltypes.VARCHAR], sqltypes.INTEGER, type="arrow",
                             null_handling="special", side_effects=False)
