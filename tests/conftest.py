"""Fixtures every test folder shares: paths, and run state isolated in a temporary folder."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.loopback_openai import LoopbackServer, LoopbackSettings, start_loopback_server

PROJECT_ROOT = Path(__file__).resolve().parents[1]
from tests.support.paths import SHARED_DATA

# A hub lookup hangs ~26 s before failing; nothing here may reach a hub.
for _name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ[_name] = "1"


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh LAMINI_STATE_DIR and DAGSTER_HOME: the DuckDB file, cache and runs of one test."""
    state = tmp_path / "state"
    dagster_home = state / "dagster_home"
    dagster_home.mkdir(parents=True)
    shutil.copy(PROJECT_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    monkeypatch.setenv("LAMINI_STATE_DIR", str(state))
    monkeypatch.delenv("LAMINI_CONFIG", raising=False)  # the demo config, whatever the user selected
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    return state


@pytest.fixture
def loopback() -> Iterator[LoopbackServer]:
    """An OpenAI-compatible server on 127.0.0.1 with no injected faults (a test may override it)."""
    server = start_loopback_server(LoopbackSettings())
    try:
        yield server
    finally:
        server.stop()
