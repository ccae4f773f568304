"""Fixtures for the teacher tests: a loopback OpenAI-compatible server and configs pointing at it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lamini_assets.teacher import TeacherConfig
from tests.support.loopback_openai import LoopbackServer


@pytest.fixture
def loopback_config(loopback: LoopbackServer, tmp_path: Path) -> Callable[..., TeacherConfig]:
    """An openai-backend config against the loopback server with fast retries; override any field."""

    def make(**overrides: Any) -> TeacherConfig:
        fields: dict[str, Any] = {
            "backend": "openai",
            "model": "loopback-model",
            "base_url": loopback.base_url,
            "cache_dir": tmp_path / "cache",
            "timeout_seconds": 5.0,
            "max_attempts": 3,
            "backoff_initial_seconds": 0.02,
            "backoff_max_seconds": 0.1,
            "max_in_flight": 8,
        }
        fields.update(overrides)
        return TeacherConfig(**fields)

    return make

