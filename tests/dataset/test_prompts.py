"""The exact prompt behind a generated and a responded row, read back from the teacher cache."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from lamini_assets.dataset import DatasetConfig, build_lamini_dataset
from lamini_assets.dataset.prompts import requests_behind
from lamini_assets.generation import GenerationConfig
from lamini_assets.generation.partitions import answer_instructions, generated_instructions, seed_pool_index
from lamini_assets.schema import SEED_SCHEMA, make_instruction_id
from lamini_assets.teacher import Teacher, TeacherConfig
from lamini_assets.teacher.cache import ResponseCache

from tests.support.paths import SHARED_DATA

pytestmark = pytest.mark.skipif(
    not hasattr(ResponseCache, "get_requests"), reason="needs ResponseCache.get_requests (issue 8's branch)"
)


def test_prompt_behind_generated_and_responded_rows(tmp_path: Path) -> None:
    tasks = [json.loads(line) for line in (SHARED_DATA / "self_instruct_seed_tasks.jsonl").read_text().splitlines() if line]
    seeds = pl.DataFrame(
        [{"instruction_id": make_instruction_id(t["instruction"], t["instances"][0]["input"]), "seed_source": "self_instruct",
          "source_name": "si", "instruction": t["instruction"], "input": t["instances"][0]["input"], "output": "",
          "template": "si", "origin": f"seed_tasks.jsonl:{n + 1}"} for n, t in enumerate(tasks)],
        schema=SEED_SCHEMA,
    )
    teacher = Teacher(TeacherConfig(cache_dir=tmp_path / "cache"))
    config = GenerationConfig(calls_per_partition={"self_instruct_without_topic": 2})
    pool_index, _ = seed_pool_index(seeds, config.filters.novelty, tmp_path / "novelty")
    generated = generated_instructions("self_instruct_without_topic", seeds, pool_index, [], config, teacher)
    answered = answer_instructions("self_instruct_without_topic", generated.rows, teacher)
    dataset = build_lamini_dataset(answered.rows, generated.rows, DatasetConfig(near_duplicates=None))
    row = dataset.rows.row(0, named=True)

    prompts = requests_behind(dataset.rows, tmp_path / "cache")
    behind = {call: r for call, r in zip(prompts.filter(pl.col("row_id") == row["row_id"])["call"],
                                        prompts.filter(pl.col("row_id") == row["row_id"]).iter_rows(named=True))}
    response_messages = json.loads(behind["response"]["messages"])
    assert response_messages[-1]["content"].startswith(row["task_instruction"])
    assert behind["response"]["template_version"] == row["response_template_version"]
    generation_prompt = json.loads(behind["generation"]["messages"])[-1]["content"]
    shown = seeds.filter(pl.col("instruction_id").is_in(row["example_ids"]))["instruction"].to_list()
    assert "<example>" in generation_prompt and all(text.strip() in generation_prompt for text in shown)
    assert behind["generation"]["cache_key"] == row["generation_cache_key"]
    assert "api_key" not in behind["generation"]["params"]
    assert prompts.height == 2 * dataset.rows.height  # every row: its generation call and its response call
