"""Real seed rows for the generation tests, read from ../shared/data (never copied)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lamini_assets.schema import make_instruction_id

from tests.support.paths import SHARED_DATA
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def seed_row(instruction: str, input_text: str, template: str) -> dict[str, str]:
    return {
        "instruction_id": make_instruction_id(instruction, input_text),
        "instruction": instruction,
        "input": input_text,
        "template": template,
    }


@pytest.fixture(scope="session")
def self_instruct_rows() -> list[dict[str, str]]:
    """The 175 Self-Instruct seed tasks as seed rows (first instance's input)."""
    with (SHARED_DATA / "self_instruct_seed_tasks.jsonl").open(encoding="utf-8") as handle:
        tasks = [json.loads(line) for line in handle if line.strip()]
    return [seed_row(t["instruction"], t["instances"][0]["input"], "self_instruct") for t in tasks]


@pytest.fixture(scope="session")
def p3_rows() -> list[dict[str, str]]:
    """Five prompts from each of the first 12 P3 template files; template = file stem."""
    rows: list[dict[str, str]] = []
    for path in sorted((SHARED_DATA / "p3_t0_sample").glob("*.jsonl"))[:12]:
        with path.open(encoding="utf-8") as handle:
            for line, _ in zip(handle, range(5)):
                rows.append(seed_row(json.loads(line)["prompt"], "", path.stem))
    return rows


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return PROJECT_ROOT / "data" / "sample" / "wikipedia"
