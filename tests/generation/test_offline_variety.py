"""At realistic size, the offline stand-in's generated instructions survive the real filters.

2,000 generation calls per partition through `generated_instructions` (the teacher client, the
parser, Self-Instruct's filters and the MinHash novelty index against the whole seed pool), on
the real seeds in ../shared/data. The old stand-in kept about 300 rows whatever the call count
(99 % of its candidates were near-duplicates), so scale runs never exercised the whole path.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from lamini_assets.generation import GenerationConfig
from lamini_assets.generation.partitions import generated_instructions, seed_pool_index
from lamini_assets.schema import SEED_SCHEMA, make_instruction_id
from lamini_assets.teacher import Teacher, TeacherConfig

from tests.support.paths import SHARED_DATA
CALLS = 2_000
MIN_KEPT_SHARE = 0.5


def seed_frame(rows: list[tuple[str, str, str]], pool: str) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"instruction_id": make_instruction_id(text, input_text), "seed_source": pool, "source_name": pool,
             "instruction": text, "input": input_text, "output": "", "template": template, "origin": f"test:{i}"}
            for i, (text, input_text, template) in enumerate(rows)
        ],
        schema=SEED_SCHEMA,
    )


def self_instruct_seeds() -> pl.DataFrame:
    with (SHARED_DATA / "self_instruct_seed_tasks.jsonl").open(encoding="utf-8") as handle:
        tasks = [json.loads(line) for line in handle if line.strip()]
    return seed_frame([(t["instruction"], t["instances"][0]["input"], "self_instruct") for t in tasks], "self_instruct")


def p3_seeds() -> pl.DataFrame:
    """Every prompt of the 142 P3 templates (about 28K rows); template = file stem."""
    rows = []
    for path in sorted((SHARED_DATA / "p3_t0_sample").glob("*.jsonl")):
        with path.open(encoding="utf-8") as handle:
            rows.extend((json.loads(line)["prompt"], "", path.stem) for line in handle if line.strip())
    return seed_frame(rows, "p3")


@pytest.mark.parametrize(("label", "seeds"), [("self_instruct_without_topic", self_instruct_seeds), ("generated_p3", p3_seeds)])
def test_most_generated_candidates_survive_the_filters_at_2000_calls(
    tmp_path: Path, label: str, seeds: object
) -> None:
    pool = seeds()  # type: ignore[operator]
    config = GenerationConfig(calls_per_partition={label: CALLS})
    pool_index, _ = seed_pool_index(pool, config.filters.novelty, tmp_path / "novelty")
    teacher = Teacher(TeacherConfig(cache_dir=tmp_path / "cache"))

    partition = generated_instructions(label, pool, pool_index, [], config, teacher)

    counts = partition.counts
    assert counts["generation_calls"] == CALLS and counts["failed_calls"] == 0
    assert counts["candidates"] == CALLS * config.instructions_per_call[{"generated_p3": "p3"}.get(label, "self_instruct")]
    kept_share = counts["kept"] / counts["candidates"]
    assert kept_share >= MIN_KEPT_SHARE, f"{label}: kept {counts['kept']:,} of {counts['candidates']:,} ({kept_share:.1%}): {counts}"
    assert partition.rows["instruction_id"].is_unique().all()
