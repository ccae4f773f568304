"""Partition rows from seeds and the offline teacher: pass-through, generation, responses."""

from pathlib import Path

import polars as pl
import pytest

from lamini_assets.generation import RESPONSE_TEMPLATE_VERSION, TEMPLATE_VERSION, GenerationConfig
from lamini_assets.generation.partitions import (
    copy_original_instructions,
    answer_instructions,
    generated_instructions,
    original_instructions,
    seed_pool_index,
)
from lamini_assets.schema import INSTRUCTION_SCHEMA, LABEL_SEED_POOL, RESPONSE_SCHEMA, SEED_SCHEMA, make_instruction_id
from lamini_assets.teacher import Teacher, TeacherConfig


def seed_frame(rows: list[dict[str, str]], pool: str) -> pl.DataFrame:
    return pl.DataFrame(
        [{"seed_source": pool, "source_name": pool, "output": "", "origin": f"x:{i}", **row} for i, row in enumerate(rows)],
        schema=SEED_SCHEMA,
    )


@pytest.fixture
def teacher(tmp_path: Path) -> Teacher:
    return Teacher(TeacherConfig(cache_dir=tmp_path / "cache"))


def test_original_source_passes_seeds_through(self_instruct_rows: list[dict[str, str]]) -> None:
    seeds = seed_frame(self_instruct_rows[:10], "alpaca")
    partition = original_instructions("alpaca", seeds)
    assert partition.rows.schema == pl.Schema(INSTRUCTION_SCHEMA)
    assert partition.rows["instruction_id"].to_list() == seeds["instruction_id"].to_list()
    assert set(partition.rows["instruction_source"]) == {"alpaca"}
    with pytest.raises(ValueError, match="not an original source"):
        original_instructions("generated_p3", seeds)


def test_generation_keeps_filtered_novel_rows_and_accounts_for_every_candidate(
    self_instruct_rows: list[dict[str, str]], teacher: Teacher, tmp_path: Path
) -> None:
    seeds = seed_frame(self_instruct_rows, "self_instruct")
    config = GenerationConfig(calls_per_partition={"self_instruct_without_topic": 3})
    pool_index, pool_counts = seed_pool_index(seeds, config.filters.novelty, tmp_path / "novelty")
    assert pool_counts == {"pool_reused": 0, "pool_added": 0, "pool_rebuilt": len(self_instruct_rows)}
    partition = generated_instructions("self_instruct_without_topic", seeds, pool_index, [], config, teacher)

    assert partition.counts["generation_calls"] == 3 and partition.counts["candidates"] == 60
    assert partition.counts["candidates"] == partition.rows.height + partition.rejects.height
    assert partition.counts["kept"] == partition.rows.height > 0
    assert partition.rows["instruction_id"].is_unique().all()
    assert not set(partition.rows["instruction_id"]) & set(seeds["instruction_id"])  # novel w.r.t. the pool
    assert all(len(ids) == 3 and set(ids) <= set(seeds["instruction_id"]) for ids in partition.rows["example_ids"])
    assert partition.teacher_stats.misses == 3
    assert set(partition.rows["generation_template_version"]) == {TEMPLATE_VERSION}

    # A rerun reloads the saved pool index (not the one this run added its candidates to).
    pool_index, pool_counts = seed_pool_index(seeds, config.filters.novelty, tmp_path / "novelty")
    assert pool_counts["pool_reused"] == len(self_instruct_rows) and pool_counts["pool_rebuilt"] == 0
    again = generated_instructions("self_instruct_without_topic", seeds, pool_index, [], config, teacher)
    assert again.teacher_stats.cache_hits == 3 and again.teacher_stats.misses == 0
    assert again.rows.equals(partition.rows)


def test_topic_guided_generation_names_topics(
    self_instruct_rows: list[dict[str, str]], teacher: Teacher, tmp_path: Path
) -> None:
    seeds = seed_frame(self_instruct_rows, "self_instruct")
    config = GenerationConfig(calls_per_partition={"self_instruct_with_topic": 2})
    pool_index, _ = seed_pool_index(seeds, config.filters.novelty, tmp_path)
    topics = ["Conidae", "Infantry", "Jazz", "Opera"]
    partition = generated_instructions("self_instruct_with_topic", seeds, pool_index, topics, config, teacher)
    assert partition.rows.height > 0
    assert all(len(topics) == 3 for topics in partition.rows["topics"])


def test_responses_cover_every_instruction(teacher: Teacher) -> None:
    instructions = pl.DataFrame(
        [
            {"instruction_id": make_instruction_id(text, inp), "instruction_source": "alpaca", "instruction": text,
             "input": inp, "template": "alpaca", "origin": "x", "example_ids": [], "topics": [], "generation_cache_key": None}
            for text, inp in [("Name three primary colours.", ""), ("Summarise the text.", "Cats sleep a lot.")]
        ],
        schema=INSTRUCTION_SCHEMA,
    )
    answered = answer_instructions("alpaca", instructions, teacher)
    assert answered.rows.schema == pl.Schema(RESPONSE_SCHEMA)
    assert answered.counts == {"instructions": 2, "answered": 2, "failed": 0, "truncated": 0}
    assert set(answered.rows["response_template_version"]) == {RESPONSE_TEMPLATE_VERSION}


def test_pass_through_copied_in_duckdb_equals_the_polars_path_on_real_p3() -> None:
    """copy_original_instructions (table to table inside DuckDB) writes the rows, in the order, and
    gives the data version that read_table + original_instructions + replace_partition + table_version
    did: the warm teacher cache and every dataset version depend on them. 28,246 real P3 rows (plus
    the Self-Instruct tasks as a second pool, some planted as copies so dedup drops rows)."""
    import duckdb

    from lamini_assets.sources import SourceSpec, load_source
    from lamini_assets.warehouse import load_sql_models, read_table, replace_partition, run_sql_model, table_version
    from tests.support.paths import SHARED_DATA

    p3 = load_source(SourceSpec(name="p3", format="p3_templates", path=str(SHARED_DATA / "p3_t0_sample")), SHARED_DATA).rows
    alpaca = load_source(SourceSpec(name="si", format="self_instruct_jsonl", pool="alpaca",
                                    path=str(SHARED_DATA / "self_instruct_seed_tasks.jsonl")), SHARED_DATA).rows
    alpaca = pl.concat([alpaca, p3.head(500).with_columns(seed_source=pl.lit("alpaca"), source_name=pl.lit("si"))])
    with duckdb.connect() as conn:
        replace_partition(conn, "seed_instructions", p3, {"seed_source": "p3"})
        replace_partition(conn, "seed_instructions", alpaca, {"seed_source": "alpaca"})
        for model in load_sql_models():
            if model.name in ("seed_copy_ranks", "seed_instructions_dedup"):
                run_sql_model(conn, model, {"source_priority": ["self_instruct", "alpaca", "flan", "p3"]})

        results = {}
        for label in ("original_p3", "alpaca"):
            seeds = read_table(conn, "seed_instructions_dedup", "seed_source", [LABEL_SEED_POOL[label]],
                               columns=["instruction_id", "instruction", "input", "template", "origin"])
            before = original_instructions(label, seeds).rows
            replace_partition(conn, "instructions", before, {"instruction_source": label})
            stored = conn.execute("select * from instructions where instruction_source = ?", [label]).pl()
            results[label] = (before, stored)
        planted = pl.col("instruction_id").is_in(p3.head(500)["instruction_id"].implode())
        assert results["original_p3"][0].height == p3.filter(~planted)["instruction_id"].n_unique() > 20_000

        for label in ("original_p3", "alpaca"):
            before, stored_before = results[label]
            copied = copy_original_instructions(conn, label)
            stored = conn.execute("select * from instructions where instruction_source = ?", [label]).pl()
            # The same rows and types (their order is not defined: DuckDB's right semi join emits its hash table's).
            assert stored.sort("instruction_id").equals(before.sort("instruction_id"))
            assert stored_before.sort("instruction_id").equals(before.sort("instruction_id"))
            assert copied.version == table_version(before)
            assert copied.rows == before.height and copied.counts == {"seeds": before.height, "kept": before.height}
            assert copied.head.height == 20 and copied.head.schema == before.schema
        assert conn.execute("select count(*) from instructions").fetchone()[0] == sum(r[0].height for r in results.values())
        with pytest.raises(ValueError, match="not an original source"):
            copy_original_instructions(conn, "generated_p3")
