"""One writer process of the DuckDB lock test: `python -m tests.support.lock_writer DB PARTITION ROUNDS [--no-lock]`.

Each round replaces its partition of `rows` (1,000 rows) and appends one row to `writes`, every time
through a fresh connection, as parallel steps do.
"""

import contextlib
import sys

import duckdb
import polars as pl

from lamini_assets.warehouse import database_lock, replace_partition


def main() -> None:
    database, partition, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    use_lock = "--no-lock" not in sys.argv
    for round_number in range(rounds):
        frame = pl.DataFrame({
            "part": [partition] * 1000,
            "round": [round_number] * 1000,
            "value": list(range(1000)),
        })
        with database_lock(database) if use_lock else contextlib.nullcontext():
            with duckdb.connect(database) as conn:
                replace_partition(conn, "rows", frame, {"part": partition})
                conn.execute("create table if not exists writes (part varchar, round integer)")
                conn.execute("insert into writes values (?, ?)", [partition, round_number])


if __name__ == "__main__":
    main()
