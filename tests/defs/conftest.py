from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    """Write a pipeline YAML into tmp_path and return its path."""

    def write(body: str) -> Path:
        path = tmp_path / "pipeline.yaml"
        path.write_text(body, encoding="utf-8")
        return path

    return write
