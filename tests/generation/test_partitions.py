"""Partition rows from seeds and the offline teacher: pass-through, generation, responses."""

from pathlib import Path

import polars as pl
import pytest

from lamini_assets.generation import RESPONSE_TEMPLATE_VERSION, TEMPLATE_VERSION, GenerationConfig
from lamini_assets.generation.partitions import (
    answer_instructions,
    generated_instructions,
    original_instructions,
    seed_pool_index,
)
from lamini_assets.schema import INSTRUCTION_SCHEMA, RESPONSE_SCHEMA, SEED_SCHEMA, make_instruction_id
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
