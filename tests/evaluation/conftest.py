"""Tiny students saved as training saves them, and the tables training writes (the Students
contract), so evaluation is tested before real checkpoints exist."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
import polars as pl
import pytest

from tests.support.tiny_students import save_tiny_gpt2, save_tiny_t5

PROJECT_ROOT = Path(__file__).resolve().parents[2]
from tests.support.paths import SHARED_DATA
DATASET_VERSION = "0123456789abcdef"
STUDENTS = {"t5_tiny": "encoder-decoder", "gpt2_tiny": "decoder-only"}


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path]]:
    """Per student: an untrained `base` and a differently initialised `distilled` model."""
    root = tmp_path_factory.mktemp("tiny_models")
    return {
        "t5_tiny": {"base": save_tiny_t5(root / "t5_base", seed=0), "distilled": save_tiny_t5(root / "t5", seed=1)},
        "gpt2_tiny": {"base": save_tiny_gpt2(root / "gpt2_base", seed=0),
                      "distilled": save_tiny_gpt2(root / "gpt2", seed=1)},
    }


def dataset_rows() -> pl.DataFrame:
    """Real Self-Instruct seed tasks standing in for released pairs (instruction, teacher response)."""
    rows = []
    for line in (SHARED_DATA / "self_instruct_seed_tasks.jsonl").read_text().splitlines():
        task = json.loads(line)
        instance = task["instances"][0]
        text = task["instruction"] + (f"\n\n{instance['input']}" if instance["input"] else "")
        rows.append({"row_id": f"r{len(rows):04d}", "instruction": text, "response": instance["output"]})
    return pl.DataFrame(rows)


@pytest.fixture
def install_checkpoints(tiny_models: dict[str, dict[str, Path]]) -> Callable[[Path, str], None]:
    """Copy the tiny models to `checkpoints/<student>/<checkpoint_id>/` (+ `base/`) in the artifact store
    under a state folder, and write student_checkpoints, train_split and lamini_dataset."""

    def install(state_dir: Path, checkpoint_id: str = "ckpt-0001") -> None:
        artifacts = state_dir / "artifacts"
        rows = []
        for student, family in STUDENTS.items():
            folder = artifacts / "checkpoints" / student / checkpoint_id
            shutil.copytree(tiny_models[student]["distilled"], folder, dirs_exist_ok=True)
            shutil.copytree(tiny_models[student]["base"], folder / "base", dirs_exist_ok=True)
            rows.append({"student": student, "checkpoint_id": checkpoint_id, "family": family, "base": "from_config",
                         "dataset_version": DATASET_VERSION, "uri": str(folder), "base_uri": str(folder / "base"),
                         "created_at": "2026-11-27T05:00:00+00:00", "run_id": "fixture", "config_hash": "c0ffee",
                         "code_version": "fixture", "hyperparameters": "{}", "train_loss": 1.0,
                         "validation_loss": 1.1})
        dataset = dataset_rows()
        split = dataset.select(pl.lit(DATASET_VERSION).alias("dataset_version"), "row_id",
                               pl.col("row_id").alias("instruction_id"),
                               pl.lit("self_instruct_without_topic").alias("instruction_source"),
                               pl.when(pl.int_range(pl.len()) % 10 == 0).then(pl.lit("test"))
                               .otherwise(pl.lit("train")).alias("split"))
        checkpoints = pl.DataFrame(rows)  # noqa: F841 (DuckDB reads the locals by name)
        with duckdb.connect(str(state_dir / "lamini.duckdb")) as conn:
            conn.execute("create or replace table student_checkpoints as select * from checkpoints")
            conn.execute("create or replace table train_split as select * from split")
            conn.execute("create or replace table lamini_dataset as select * from dataset")

    return install
