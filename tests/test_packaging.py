"""What pyproject.toml declares exists: every console script imports, every package-data file is there,
and the Makefile leaves a user-set LAMINI_STATE_DIR alone."""

import importlib
import os
import subprocess
import tomllib
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_every_console_script_resolves() -> None:
    for name, target in PYPROJECT["project"].get("scripts", {}).items():
        module, _, attribute = target.partition(":")
        assert callable(getattr(importlib.import_module(module), attribute)), name


def test_every_declared_package_data_file_exists() -> None:
    for package, patterns in PYPROJECT["tool"]["setuptools"].get("package-data", {}).items():
        folder = PROJECT_ROOT / package.replace(".", "/")
        for pattern in patterns:
            assert list(folder.glob(pattern)), f"{package}: {pattern} is declared but absent"


def test_makefile_respects_a_user_set_state_dir(tmp_path: Path) -> None:
    env = {**os.environ, "LAMINI_STATE_DIR": str(tmp_path / "elsewhere")}
    env.pop("DAGSTER_HOME", None)
    dry_run = subprocess.run(
        ["make", "-n", "clean-state"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    assert f"{tmp_path}/elsewhere/dagster_home" in dry_run
    assert f"{PROJECT_ROOT}/.lamini/dagster_home" not in dry_run
