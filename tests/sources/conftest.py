"""Fixtures for the seed loader tests: the project's demo samples and the real public data."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.paths import SHARED_DATA

PROJECT_ROOT = Path(__file__).resolve().parents[2]

JsonlWriter = Callable[[Path, list[Any]], Path]


@pytest.fixture
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture
def sample_dir() -> Path:
    return PROJECT_ROOT / "data" / "sample"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Real public data kept outside the repository (see shared/data/README.md): read, never copied."""
    return SHARED_DATA


@pytest.fixture
def write_jsonl() -> JsonlWriter:
    def write(path: Path, rows: list[Any]) -> Path:
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        return path

    return write
