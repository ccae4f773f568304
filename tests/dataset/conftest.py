"""Rows for the dataset tests: real P3 prompts from ../shared/data, as instructions and responses."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from lamini_assets.schema import INSTRUCTION_SCHEMA, RESPONSE_SCHEMA, make_instruction_id

from tests.support.paths import SHARED_DATA


def read_prompts(pattern: str) -> list[str]:
    """Distinct real P3 prompts of the template files matching `pattern`, first 600 characters each."""
    seen: dict[str, None] = {}
    for path in sorted((SHARED_DATA / "p3_t0_sample").glob(pattern)):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                seen.setdefault(json.loads(line)["prompt"].strip()[:600])
    return list(seen)


@pytest.fixture(scope="session")
def p3_prompts() -> list[str]:
    """Real P3 prompts of the datasets from adversarial_qa to cosmos_qa (templates of one dataset
    share passages, so they are near each other)."""
    return read_prompts("[a-c]*.jsonl")


@pytest.fixture(scope="session")
def hotpotqa_prompts() -> list[str]:
    """Real P3 prompts of KILT HotpotQA templates: other data than p3_prompts."""
    return read_prompts("kilt_tasks_hotpotqa_*.jsonl")


def frames(rows: list[tuple[str, str, str]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(instructions, responses) for (instruction_source, instruction, input) triples, answered."""
    instructions = []
    responses = []
    for number, (source, instruction, input_text) in enumerate(rows):
        instruction_id = make_instruction_id(instruction, input_text)
        generated = source.startswith(("generated", "self_instruct"))
        instructions.append({
            "instruction_id": instruction_id, "instruction_source": source, "instruction": instruction,
            "input": input_text, "template": f"t{number % 7}",
            "origin": f"generation:c{number}" if generated else f"seeds.jsonl:{number + 1}",
            "example_ids": ["a", "b", "c"] if generated else [], "topics": [],
            "generation_cache_key": f"g{number}" if generated else None,
            "generation_template_version": "lamini-generation@1" if generated else None,
        })
        responses.append({
            "instruction_id": instruction_id, "instruction_source": source, "instruction": instruction,
            "input": input_text, "response": f"answer {number}", "finish_reason": "stop", "truncated": False,
            "teacher_model": "offline", "cache_key": f"k{number}", "prompt_tokens": 10, "completion_tokens": 3,
            "error": None, "response_template_version": "lamini-response@1",
        })
    return pl.DataFrame(instructions, schema=INSTRUCTION_SCHEMA), pl.DataFrame(responses, schema=RESPONSE_SCHEMA)
