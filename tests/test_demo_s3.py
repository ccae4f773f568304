"""`make demo`'s runner with every artifact on S3 (a moto_server the test starts and stops) and training
and evaluation talking to Dagster over the S3 Pipes channel: the whole graph, and what lands in the bucket."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from lamini_assets.defs import build_definitions
from tests.support.services import MotoS3, moto_s3, s3_bucket  # noqa: F401  (fixtures)

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def demo_config_on_s3(tmp_path: Path, bucket: str, endpoint: str) -> Path:
    """configs/demo.yaml with storage on S3 and the S3 Pipes channel; fewer training steps and evaluation
    items than the demo so the whole graph stays a few minutes on 2 cores."""
    text = (PROJECT_ROOT / "configs" / "demo.yaml").read_text().replace("../data", str(PROJECT_ROOT / "data"))
    config = yaml.safe_load(text)
    config["storage"] = {**config.get("storage", {}), "artifacts_uri": f"s3://{bucket}/demo", "s3_endpoint_url": endpoint}
    config["compute"] = {**config.get("compute", {}), "channel": "s3", "message_poll_seconds": 0.5}
    for student in config["students"]:
        student["hyperparameters"] = {**student["hyperparameters"], "max_steps": 6, "save_steps": 3, "logging_steps": 2}
    config["evaluation"]["benchmarks"]["limit"] = 4
    config["evaluation"]["instruction_following"].update(held_out_items=4, user_oriented_items=4, max_new_tokens=8)
    path = tmp_path / "demo_s3.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_demo_runs_with_every_artifact_on_s3(moto_s3: MotoS3, s3_bucket: str, state_dir: Path, tmp_path: Path) -> None:
    config_path = demo_config_on_s3(tmp_path, s3_bucket, moto_s3.endpoint_url)
    env = {**os.environ, "LAMINI_CONFIG": str(config_path),
           # the venv's console scripts for subprocesses (make test does not activate the venv)
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    completed = subprocess.run([sys.executable, "-W", "ignore", "-m", "lamini_assets.demo"], cwd=PROJECT_ROOT, env=env,
                               capture_output=True, text=True, timeout=1500)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-4000:]

    client = moto_s3.client()
    keys = {item["Key"].removeprefix("demo/") for page in client.get_paginator("list_objects_v2").paginate(Bucket=s3_bucket)
            for item in page.get("Contents", [])}
    version = client.get_object(Bucket=s3_bucket, Key="demo/lamini_dataset/latest")["Body"].read().decode()
    assert f"Dataset:       version {version} at s3://{s3_bucket}/demo/lamini_dataset/{version}" in completed.stdout
    for name in ("lamini_dataset.parquet", "alpaca_format.json", "dataset_card.md", "_lamini_published.json"):
        assert f"lamini_dataset/{version}/{name}" in keys, name
    assert any(key.startswith(f"lamini_dataset/{version}/hf_dataset/") for key in keys)
    assert any(key.startswith("embeddings/") and key.endswith("manifest.json") for key in keys)
    assert any(key.startswith("diversity/") and key.endswith("report.html") for key in keys)
    assert "lineage/lineage_report.md" in keys and "leaderboard/leaderboard.md" in keys
    assert any(key.startswith("ratings/") and key.endswith("/key.json") for key in keys)
    assert any(key.startswith("train_split/") and key.endswith(".parquet") for key in keys)

    with duckdb.connect(str(state_dir / "lamini.duckdb"), read_only=True) as conn:
        checkpoints = conn.execute("select student, checkpoint_id, uri, base_uri from student_checkpoints").fetchall()
        versions = conn.execute("select version, uri from dataset_versions").fetchall()
        manifest_rows = conn.execute("select count(*) from training_manifest").fetchone()[0]
        eval_rows = conn.execute("select count(distinct student) from eval_scores").fetchone()[0]
    assert {student for student, *_ in checkpoints} == {"t5-tiny", "gpt2-tiny"}
    for student, checkpoint_id, uri, base_uri in checkpoints:
        assert uri == f"s3://{s3_bucket}/demo/checkpoints/{student}/{checkpoint_id}"
        assert base_uri == f"{uri}/base"
        for name in ("model.safetensors", "training_summary.json", "training_job.json", "loss_curve.png", "README.md",
                     "base/model.safetensors", "_lamini_published.json"):
            assert f"checkpoints/{student}/{checkpoint_id}/{name}" in keys, (student, name)
        assert any(key.startswith(f"evaluation/{student}/{checkpoint_id}/") for key in keys)
    assert (version, f"s3://{s3_bucket}/demo/lamini_dataset/{version}") in versions
    assert manifest_rows > 0 and eval_rows == 2
    # Nothing of the store went to the local artifacts folder (only local working state may be there).
    local = state_dir / "artifacts"
    assert not local.exists() or {path.name for path in local.iterdir()} <= {"novelty"}, list(local.iterdir())

    instance = dg.DagsterInstance.from_config(os.environ["DAGSTER_HOME"])
    for key in build_definitions(config_path).resolve_asset_graph().get_all_asset_keys():
        assert instance.get_latest_materialization_event(key) is not None, key
