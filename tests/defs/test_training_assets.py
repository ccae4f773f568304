"""Materialisation tests of the training stage: the split and its evaluation-only guard, and one
checkpoint per student trained through Dagster Pipes (a real subprocess), with its lineage tables."""

import json
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from lamini_assets.config import load_config
from lamini_assets.defs import build_definitions
from lamini_assets.training.models import load_checkpoint
from tests.support.dagster_runs import PROJECT_ROOT, materialization_metadata, materialize
from tests.support.lamini_dataset_fixture import dataset_frame, p3_rows, publish_version

EVAL_ONLY = PROJECT_ROOT / "data" / "sample" / "eval_only_instructions.jsonl"
TINY = "tiny: {vocab_size: 400, hidden_size: 32, layers: 1, heads: 2, feed_forward_size: 64}"
STEPS = "hyperparameters: {max_steps: 4, per_device_batch_size: 4, save_steps: 2, logging_steps: 1, learning_rate: 1.0e-3}"


def training_config(tmp_path: Path, evaluation_only: list[Path]) -> Path:
    sets = "\n".join(f"    - path: {path}" for path in evaluation_only)
    path = tmp_path / "pipeline.yaml"
    path.write_text(
        f"""sources: []
students:
  - {{name: t5-tiny, family: encoder-decoder, max_source_length: 48, max_target_length: 16, {TINY}, {STEPS}}}
  - {{name: gpt2-tiny, family: decoder-only, max_source_length: 64, max_target_length: 16, {TINY}, {STEPS},
      sources: [alpaca, original_p3, generated_p3]}}
training:
  split: {{seed: 0, validation_fraction: 0.05, test_fraction: 0.05}}
  evaluation_only:
{sets}
compute: {{backend: subprocess, env: {{OMP_NUM_THREADS: "1"}}}}
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def published(state_dir: Path, tmp_path: Path) -> tuple[Path, pl.DataFrame]:
    """A config and a dataset version of 300 real P3 rows plus one evaluation-only instruction."""
    config_path = training_config(tmp_path, [EVAL_ONLY])
    leaked_instruction = json.loads(EVAL_ONLY.read_text().splitlines()[3])["instruction"]
    frame = dataset_frame([*p3_rows(300), (leaked_instruction.upper() + "  ", "=SUMIF(A:A, \"paid\", B:B)")])
    publish_version(load_config(config_path).artifact_store(), frame)
    return config_path, frame


def check_evaluations(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {evaluation.check_name: evaluation for evaluation in result.get_asset_check_evaluations()}


def test_split_excludes_evaluation_only_rows_and_the_blocking_check_passes(published, state_dir) -> None:
    config_path, frame = published
    defs = build_definitions(config_path)
    result = materialize(defs, ["train_split"])
    assert result.success
    metadata = materialization_metadata(result, "train_split")
    assert metadata["excluded_evaluation_only"] == 1
    assert metadata["train"] + metadata["validation"] + metadata["test"] == frame.height - 1
    check = check_evaluations(result)["evaluation_only_not_in_training"]
    assert check.passed and check.metadata["checked_rows"].value == frame.height - 1
    spec = defs.resolve_asset_graph().get_check_spec(check.asset_check_key)
    assert spec.blocking
    with duckdb.connect(str(state_dir / "lamini.duckdb"), read_only=True) as conn:
        table = conn.execute("select * from train_split").pl()
    assert table.columns == ["dataset_version", "row_id", "instruction_id", "instruction_source", "split"]
    assert table["instruction_source"].n_unique() == 7
    assert set(table["split"]) == {"train", "validation", "test"}


def test_an_evaluation_set_added_after_the_split_fails_the_check(published, state_dir, tmp_path) -> None:
    config_path, frame = published
    assert materialize(build_definitions(config_path), ["train_split"]).success
    # A new evaluation set contains an instruction that the existing split trains on.
    with duckdb.connect(str(state_dir / "lamini.duckdb"), read_only=True) as conn:
        trained_id = conn.execute("select row_id from train_split where split = 'train' limit 1").fetchone()[0]
    trained = frame.filter(pl.col("row_id") == trained_id).row(0, named=True)
    new_set = tmp_path / "new_eval.jsonl"
    new_set.write_text(json.dumps({"instruction": trained["instruction"], "instances": [{"input": ""}]}) + "\n")
    defs = build_definitions(training_config(tmp_path, [EVAL_ONLY, new_set]))
    result = dg.materialize(
        [*defs.assets, *defs.asset_checks], selection=dg.AssetSelection.checks_for_assets("train_split"),
        resources=defs.resources, raise_on_error=False,
    )
    assert not result.success  # blocking: the run fails, so nothing downstream would train on it
    check = check_evaluations(result)["evaluation_only_not_in_training"]
    assert not check.passed
    assert check.metadata["leaked_rows"].value == 1


def test_students_train_through_pipes_with_lineage(published, state_dir) -> None:
    config_path, _ = published
    defs = build_definitions(config_path)
    graph = defs.resolve_asset_graph()
    assert list(graph.get(dg.AssetKey("student_checkpoints")).partitions_def.get_partition_keys()) == ["t5-tiny", "gpt2-tiny"]
    assert materialize(defs, ["train_split"]).success
    for student in ("t5-tiny", "gpt2-tiny"):
        result = materialize(defs, ["student_checkpoints"], partition_key=student)
        assert result.success
        metadata = materialization_metadata(result, "student_checkpoints")
        assert metadata["global_step"] == 4
        assert metadata["non_pad_tokens_per_second"] > 0 and metadata["wall_time_seconds"] > 0
        assert "data:image/png;base64," in metadata["loss_curve"]
        folder = Path(metadata["checkpoint_uri"])
        assert {"model.safetensors", "config.json", "tokenizer.json", "README.md", "loss_curve.png"} <= {
            path.name for path in folder.iterdir()
        }
        assert (folder / "base" / "model.safetensors").is_file()
        card = (folder / "README.md").read_text()
        assert "base_model" not in card.split("---")[1]  # from_config: no hub base in the card metadata
        assert metadata["dataset_version"] in card and "offline-stand-in" in card
        assert "| alpaca |" in card and "| final train loss |" in card and "| learning_rate | 0.001 |" in card
        model, tokenizer = load_checkpoint(str(folder), "encoder-decoder" if student == "t5-tiny" else "decoder-only")
        assert model.num_parameters() > 0 and tokenizer.eos_token == "</s>"

    with duckdb.connect(str(state_dir / "lamini.duckdb"), read_only=True) as conn:
        checkpoints = conn.execute("select * from student_checkpoints order by student").pl()
        manifest = conn.execute("select student, split, count(*) as n from training_manifest group by all").pl()
        split = conn.execute(
            "select split, count(*) as n from train_split where split in ('train', 'validation') "
            "and instruction_source in ('alpaca', 'original_p3', 'generated_p3') group by all"
        ).pl()
        all_seen = conn.execute("select count(*) from train_split where split in ('train', 'validation')").fetchone()[0]
    assert checkpoints["student"].to_list() == ["gpt2-tiny", "t5-tiny"]
    assert checkpoints["base_uri"].str.ends_with("/base").all()
    assert json.loads(checkpoints["hyperparameters"][0])["max_steps"] == 4
    gpt2 = dict(manifest.filter(pl.col("student") == "gpt2-tiny").select("split", "n").iter_rows())
    assert gpt2 == dict(split.iter_rows())  # the manifest has exactly the rows of the sources it trained on
    assert manifest.filter(pl.col("student") == "t5-tiny")["n"].sum() == all_seen

    # Rematerialising the same student, data and code reuses the published checkpoint.
    again = materialization_metadata(materialize(defs, ["student_checkpoints"], partition_key="t5-tiny"), "student_checkpoints")
    assert again["checkpoint_id"] == checkpoints.filter(pl.col("student") == "t5-tiny")["checkpoint_id"][0]
