"""Response shards in the warehouse: Python and DuckDB agree on a row's shard, and replacing a shard
never loses or doubles a row, also when the shard count changes between runs."""

import json
from collections import Counter

import duckdb
import pytest
import polars as pl

from lamini_assets.generation.shards import (
    in_shard_sql,
    read_shard,
    replace_shard,
    shard_count,
    shard_of,
)
from lamini_assets.schema import make_instruction_id
from tests.support.paths import SHARED_DATA


def p3_ids(limit: int) -> list[str]:
    ids: dict[str, None] = {}
    for path in sorted((SHARED_DATA / "p3_t0_sample").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines()[:40]:
            ids[make_instruction_id(json.loads(line)["prompt"])] = None
    return list(ids)[:limit]


def test_shard_counts_and_python_agrees_with_duckdb_on_real_ids() -> None:
    assert [shard_count(rows, 400) for rows in (0, 1, 400, 401, 5_000)] == [1, 1, 1, 2, 13]
    ids = p3_ids(5_000)
    assert len(ids) > 4_000
    with duckdb.connect() as conn:
        conn.execute("create table t as select unnest(?) as instruction_id", [ids])
        for count in (1, 7, 13):
            for shard in range(count):
                found = {row[0] for row in conn.execute(f"select instruction_id from t where {in_shard_sql(shard, count)}").fetchall()}
                assert found == {i for i in ids if shard_of(i, count) == shard}
    sizes = Counter(shard_of(i, 13) for i in ids)
    assert len(sizes) == 13 and max(sizes.values()) < 1.3 * len(ids) / 13  # an even spread


def test_replacing_shards_keeps_every_row_once_across_a_changed_shard_count() -> None:
    ids = p3_ids(3_000)
    with duckdb.connect() as conn:
        instructions = pl.DataFrame({"instruction_id": ids, "instruction_source": "original_p3"})
        conn.execute("create table instructions as select * from instructions")

        def answer(count: int, shard: int, run: int) -> pl.DataFrame:
            rows = read_shard(conn, "instructions", "original_p3", shard, count)
            return rows.with_columns(pl.lit(run).alias("run"))

        for shard in range(3):  # three shards
            replace_shard(conn, "responses", answer(3, shard, 1), "original_p3", shard, 3)
        # The source shrinks to two shards then grows to five: after each shard, no id is ever doubled.
        for count, run in ((2, 2), (5, 3)):
            for shard in range(count):
                replace_shard(conn, "responses", answer(count, shard, run), "original_p3", shard, count)
                repeated = conn.execute("select count(*) - count(distinct instruction_id) from responses").fetchone()[0]
                assert repeated == 0
            final = conn.execute("select instruction_id, run from responses").pl()
            assert sorted(final["instruction_id"].to_list()) == sorted(ids) and set(final["run"]) == {run}
        # An instruction that is gone leaves with the next shard run, whatever its shard was.
        conn.execute("delete from instructions where instruction_id = ?", [ids[0]])
        deleted = replace_shard(conn, "responses", answer(5, 0, 4), "original_p3", 0, 5)
        assert deleted == Counter(shard_of(i, 5) for i in ids)[0] + (shard_of(ids[0], 5) != 0)
        assert conn.execute("select count(*) from responses").fetchone()[0] == len(ids) - 1


def test_an_unchanged_shard_is_left_untouched_and_any_difference_rewrites_it() -> None:
    ids = p3_ids(3_000)
    with duckdb.connect() as conn:
        instructions = pl.DataFrame({"instruction_id": ids, "instruction_source": "original_p3"})
        conn.execute("create table instructions as select * from instructions")
        shard = read_shard(conn, "instructions", "original_p3", 1, 3).with_columns(pl.lit("a").alias("answer"))
        # The first write has nothing to compare with.
        assert replace_shard(conn, "responses", shard, "original_p3", 1, 3, skip_unchanged=True) == 0
        # The same rows again: nothing written.
        assert replace_shard(conn, "responses", shard, "original_p3", 1, 3, skip_unchanged=True) is None
        # One changed value, or another row order and one row fewer, rewrites the shard.
        changed = shard.with_columns(pl.when(pl.int_range(pl.len()) == 7).then(pl.lit("b")).otherwise("answer").alias("answer"))
        assert replace_shard(conn, "responses", changed, "original_p3", 1, 3, skip_unchanged=True) == shard.height
        fewer = changed.reverse().tail(-1)
        assert replace_shard(conn, "responses", fewer, "original_p3", 1, 3, skip_unchanged=True) == shard.height
        assert replace_shard(conn, "responses", fewer, "original_p3", 1, 3, skip_unchanged=True) is None
        # An orphan (its instruction is gone) in another shard's slice is deleted by this shard's run:
        # not unchanged, though this shard's own rows are.
        other = read_shard(conn, "instructions", "original_p3", 2, 3).with_columns(pl.lit("a").alias("answer"))
        replace_shard(conn, "responses", other, "original_p3", 2, 3)
        conn.execute("delete from instructions where instruction_id = ?", [other["instruction_id"][0]])
        assert replace_shard(conn, "responses", fewer, "original_p3", 1, 3, skip_unchanged=True) == fewer.height + 1
        assert conn.execute("select count(*) from responses").fetchone()[0] == fewer.height + other.height - 1
        # Rows of another source with the same ids are no part of the comparison.
        conn.execute("insert into responses select instruction_id, 'alpaca', answer from fewer")
        assert replace_shard(conn, "responses", fewer, "original_p3", 1, 3, skip_unchanged=True) is None
        # An empty text and a null, or the same values under another type, are not the same rows.
        empty = fewer.with_columns(pl.when(pl.int_range(pl.len()) == 3).then(pl.lit("")).otherwise("answer").alias("answer"))
        replace_shard(conn, "responses", empty, "original_p3", 1, 3, skip_unchanged=True)
        null = empty.with_columns(pl.when(pl.int_range(pl.len()) == 3).then(None).otherwise("answer").alias("answer"))
        assert replace_shard(conn, "responses", null, "original_p3", 1, 3, skip_unchanged=True) == null.height
        conn.execute("create table numbers (instruction_id varchar, instruction_source varchar, n bigint)")
        numbers = null.select("instruction_id", "instruction_source", pl.lit(1, dtype=pl.Int64).alias("n"))
        replace_shard(conn, "numbers", numbers, "original_p3", 1, 3)
        assert replace_shard(conn, "numbers", numbers, "original_p3", 1, 3, skip_unchanged=True) is None
        with pytest.raises(ValueError, match="has columns"):  # not skipped as equal: rewritten, and refused
            replace_shard(conn, "numbers", numbers.rename({"n": "m"}), "original_p3", 1, 3, skip_unchanged=True)
        assert replace_shard(conn, "numbers", numbers.with_columns(pl.col("n").cast(pl.Int32)), "original_p3", 1, 3,
                             skip_unchanged=True) == numbers.height
