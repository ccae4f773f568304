from pathlib import Path

import duckdb
import polars as pl
import pytest

from lamini_assets.schema import SEED_SCHEMA, make_instruction_id
from lamini_assets.warehouse import load_sql_models, parse_sql_model, replace_partition, run_sql_model

PRIORITY = ["self_instruct", "alpaca", "flan", "p3"]


def seed_rows(*rows: tuple[str, str, str, str]) -> pl.DataFrame:
    """(seed_source, instruction, input, output) tuples as SEED_SCHEMA rows."""
    return pl.DataFrame(
        [
            {
                "instruction_id": make_instruction_id(instruction, input_text),
                "seed_source": pool,
                "source_name": pool,
                "instruction": instruction,
                "input": input_text,
                "output": output,
                "template": pool,
                "origin": f"{pool}.jsonl:{line}",
            }
            for line, (pool, instruction, input_text, output) in enumerate(rows, start=1)
        ],
        schema=SEED_SCHEMA,
    )


def build_models(conn: duckdb.DuckDBPyConnection, priority: list[str] = PRIORITY) -> None:
    for model in load_sql_models():
        if model.group == "seeds":
            run_sql_model(conn, model, {"source_priority": priority})


@pytest.fixture
def conn() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    frame = seed_rows(
        ("alpaca", "Give three tips for staying healthy.", "", "Eat well, sleep, move."),
        ("self_instruct", "give three tips  for staying HEALTHY.", "", "Sleep."),
        ("alpaca", "Translate to French.", "Good morning", "Bonjour"),
        ("alpaca", "Translate to French.", "Good night", "Bonne nuit"),
        ("p3", "Translate to French.", "Good morning", "Bonjour !"),
        ("p3", "What is 2 + 2?", "", "4"),
        ("p3", "what is 2 + 2?", "", "four"),
    )
    for pool in frame["seed_source"].unique():
        replace_partition(connection, "seed_instructions", frame.filter(pl.col("seed_source") == pool), {"seed_source": pool})
    return connection


def test_dedup_keeps_the_priority_copy_and_records_the_rest(conn: duckdb.DuckDBPyConnection) -> None:
    build_models(conn)
    kept = conn.execute("select seed_source, instruction, input from seed_instructions_dedup order by all").fetchall()
    assert kept == [
        ("alpaca", "Translate to French.", "Good morning"),
        ("alpaca", "Translate to French.", "Good night"),
        ("p3", "What is 2 + 2?", ""),
        ("self_instruct", "give three tips  for staying HEALTHY.", ""),
    ]
    dropped = conn.execute(
        "select seed_source, kept_seed_source, within_pool, duplicate_of = instruction_id from seed_duplicates order by all"
    ).fetchall()
    assert dropped == [("alpaca", "self_instruct", False, True), ("p3", "alpaca", False, True), ("p3", "p3", True, True)]
    total = conn.execute("select count(*) from seed_instructions").fetchone()[0]
    assert total == len(kept) + len(dropped)  # nothing lost


def test_priority_order_decides(conn: duckdb.DuckDBPyConnection) -> None:
    build_models(conn, ["p3", "flan", "alpaca", "self_instruct"])
    kept_pools = dict(conn.execute("select instruction, seed_source from seed_instructions_dedup where input = ''").fetchall())
    assert kept_pools["What is 2 + 2?"] == "p3"
    assert "give three tips  for staying HEALTHY." not in kept_pools and kept_pools["Give three tips for staying healthy."] == "alpaca"


def test_stats_in_table_one_shape(conn: duckdb.DuckDBPyConnection) -> None:
    build_models(conn)
    stats = {row["seed_source"]: row for row in conn.execute("select * from seed_stats").pl().to_dicts()}
    assert list(stats) == ["alpaca", "p3", "self_instruct", "all"]
    assert stats["alpaca"]["rows"] == 3 and stats["alpaca"]["unique_rows"] == 3
    assert stats["alpaca"]["kept_rows"] == 2 and stats["alpaca"]["duplicates_removed"] == 1
    assert stats["p3"]["duplicates_removed"] == 2
    assert stats["all"]["rows"] == 7 and stats["all"]["unique_rows"] == 4 and stats["all"]["kept_rows"] == 4
    # alpaca instructions+inputs: 6 + 5 + 5 words; outputs 4 + 1 + 2 words. Dedup gives the first
    # to self_instruct and keeps the two translations (5 + 5 words; outputs 1 + 2).
    alpaca = stats["alpaca"]
    assert alpaca["mean_instruction_words_before_dedup"] == pytest.approx(16 / 3, abs=0.01)
    assert alpaca["mean_instruction_words_after_dedup"] == pytest.approx(5.0)
    assert alpaca["mean_output_words_before_dedup"] == pytest.approx(7 / 3, abs=0.01)
    assert alpaca["mean_output_words_after_dedup"] == pytest.approx(1.5)
    assert alpaca["share_with_input_before_dedup"] == pytest.approx(2 / 3, abs=1e-4)
    assert alpaca["share_with_input_after_dedup"] == pytest.approx(1.0)
    # p3 keeps only "What is 2 + 2?" (5 words; output 1 word) of its 3 rows (5 + 5 + 5 words; outputs 2 + 1 + 1).
    assert stats["p3"]["mean_instruction_words_before_dedup"] == pytest.approx(5.0)
    assert stats["p3"]["mean_output_words_before_dedup"] == pytest.approx(4 / 3, abs=0.01)
    assert stats["p3"]["mean_output_words_after_dedup"] == pytest.approx(1.0)
    # self_instruct's one row has a double space: 6 words, not 7.
    assert stats["self_instruct"]["mean_instruction_words_after_dedup"] == pytest.approx(6.0)
    assert stats["all"]["mean_instruction_words_after_dedup"] == pytest.approx((6 + 5 + 5 + 5) / 4)
    assert stats["all"]["empty_outputs_before_dedup"] == stats["all"]["empty_outputs_after_dedup"] == 0


def test_word_counts_count_words_not_spaces() -> None:
    """Hand-counted: double spaces, tabs, newlines and edge spaces separate words, never make them."""
    connection = duckdb.connect()
    frame = seed_rows(
        ("alpaca", "give three tips  for staying HEALTHY.", "", "Sleep   well."),  # 6 words; output 2
        ("alpaca", "Sort these\nnumbers:", "3,\t1,  2", "1,\n2,\n3"),  # 3 + 3 words; output 3
        ("alpaca", "Name a colour.", "", ""),  # 3 words; output 0
    )
    replace_partition(connection, "seed_instructions", frame, {"seed_source": "alpaca"})
    build_models(connection)
    texts = ["", " ", "one", " lead and trail ", "a\u000bb", "x\r\ny", "tab\there  and   there"]
    counted = [connection.execute("select word_count(?)", [text]).fetchone()[0] for text in texts]
    assert counted == [len(text.split()) for text in texts] == [0, 0, 1, 3, 2, 2, 4]

    (instruction_words, output_words), = connection.execute(
        "select mean_instruction_words_before_dedup, mean_output_words_before_dedup from seed_stats where seed_source = 'alpaca'"
    ).fetchall()
    assert instruction_words == pytest.approx((6 + 6 + 3) / 3, abs=0.01)
    assert output_words == pytest.approx((2 + 3 + 0) / 3, abs=0.01)


def test_replace_partition_touches_only_its_partition(conn: duckdb.DuckDBPyConnection) -> None:
    replace_partition(conn, "seed_instructions", seed_rows(("p3", "Only row now.", "", "x")), {"seed_source": "p3"})
    counts = dict(conn.execute("select seed_source, count(*) from seed_instructions group by 1").fetchall())
    assert counts == {"alpaca": 3, "self_instruct": 1, "p3": 1}


def test_replace_partition_creates_empty_table_and_rejects_changed_columns() -> None:
    conn = duckdb.connect()
    replace_partition(conn, "seed_instructions", pl.DataFrame(schema=SEED_SCHEMA), {"seed_source": "p3"})
    assert conn.execute("select count(*) from seed_instructions").fetchone() == (0,)
    with pytest.raises(ValueError, match="has columns"):
        replace_partition(conn, "seed_instructions", pl.DataFrame({"seed_source": ["p3"]}), {"seed_source": "p3"})


def test_sql_model_header_is_required(tmp_path: Path) -> None:
    path = tmp_path / "bad_model.sql"
    path.write_text("-- group: seeds\nselect 1\n")
    with pytest.raises(ValueError, match="header needs group and description"):
        parse_sql_model(path)
    model = load_sql_models()
    assert [m.name for m in model].index("seed_copy_ranks") < [m.name for m in model].index("seed_stats")


OLD_DEDUP_COVERAGE = """
    with seeds as (select distinct instruction_id from main.seed_instructions),
    kept as (select instruction_id, count(*) as copies from main.seed_instructions_dedup group by instruction_id)
    select
        (select count(*) from seeds),
        (select coalesce(sum(copies), 0) from kept),
        (select count(*) from seeds anti join kept using (instruction_id)),
        (select count(*) from kept anti join seeds using (instruction_id)),
        (select coalesce(sum(copies - 1), 0) from kept)
"""


def test_dedup_coverage_counts_as_the_query_it_replaced(conn: duckdb.DuckDBPyConnection) -> None:
    """count_dedup_coverage's one aggregate gives the counts of the distinct + group by + anti joins it
    replaced, with dedup up to date, out of date (seeds added and removed) and keeping a copy twice."""
    from lamini_assets.validation import count_dedup_coverage

    def both() -> tuple[dict[str, int], tuple[int, ...]]:
        return count_dedup_coverage(conn), tuple(int(value) for value in conn.execute(OLD_DEDUP_COVERAGE).fetchone())

    build_models(conn)
    found, old = both()
    assert tuple(found.values()) == old == (4, 4, 0, 0, 0)
    # Dedup out of date and wrong at once: P3's own id missing, two ids twice, one id no seed has.
    conn.execute("""create or replace view seed_instructions_dedup as
        (select * from seed_instructions where seed_source <> 'p3')
        union all (select * from seed_instructions where seed_source = 'alpaca' order by origin limit 1)
        union all (select * replace ('extra' as instruction_id) from seed_instructions order by origin limit 1)""")
    found, old = both()
    assert tuple(found.values()) == old
    assert (found["missing_ids"], found["extra_ids"], found["repeated_ids"]) == (1, 1, 2)
