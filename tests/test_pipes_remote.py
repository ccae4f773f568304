"""Pipes to remote compute: the S3 channel end to end on moto (a probe script, then the real training and
evaluation scripts with every artifact on S3), the client each backend gets, and where scripts find the store."""

import json
import re
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest
from dagster_aws.pipes import PipesECSClient, PipesS3ContextInjector, PipesS3MessageReader
from dagster_aws.s3 import S3Resource
from dagster_k8s import PipesK8sClient

from lamini_assets.config import ConfigError, load_config
from lamini_assets.defs import build_definitions
from lamini_assets.defs.remote import pipes_client_for, pipes_location, run_pipes_script, store_root
from lamini_assets.defs.resources import PipelineConfigResource, s3_resource
from tests.support.dagster_runs import PROJECT_ROOT, SHARED_DATA, materialization_metadata, materialize
from tests.support.lamini_dataset_fixture import dataset_frame, p3_rows, publish_version
from tests.support.services import MotoS3, moto_s3, s3_bucket  # noqa: F401  (fixtures)

PROBE = Path(__file__).resolve().parent / "support" / "pipes_probe.py"
EVAL_ONLY = PROJECT_ROOT / "data" / "sample" / "eval_only_instructions.jsonl"


def write_config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text("sources: []\n" + body, encoding="utf-8")
    return path


def test_script_talks_to_dagster_only_through_s3(moto_s3: MotoS3, s3_bucket: str, tmp_path: Path) -> None:
    config_path = write_config(tmp_path, (
        f"storage: {{artifacts_uri: 's3://{s3_bucket}/lamini', s3_endpoint_url: '{moto_s3.endpoint_url}'}}\n"
        "compute: {channel: s3, message_poll_seconds: 0.2}\n"
    ))
    config = load_config(config_path)
    checkpoint_uri = f"s3://{s3_bucket}/lamini/checkpoints/tiny/ckpt-1"

    @dg.asset(partitions_def=dg.StaticPartitionsDefinition(["tiny"]))
    def student_checkpoint(context: dg.AssetExecutionContext, pipeline: PipelineConfigResource, s3: S3Resource) -> dg.MaterializeResult:
        invocation = run_pipes_script(
            context, pipeline.load(), [str(PROBE)], s3_client=s3.get_client(),
            extras={"checkpoint_uri": checkpoint_uri, "steps": 6},
        )
        return invocation.get_materialize_result()

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [student_checkpoint],
        partition_key="tiny",
        instance=instance,
        resources={"pipeline": PipelineConfigResource(config_path=str(config_path)), "s3": s3_resource(config.storage)},
    )
    assert result.success
    (event,) = result.get_asset_materialization_events()
    metadata = {name: value.value for name, value in event.materialization.metadata.items()}
    assert metadata["channel"] == "s3"
    assert metadata["dagster_modules"] == []  # the script imported dagster_pipes only
    assert metadata["partition"] == "tiny"  # the context arrived through S3
    curve = metadata["loss_curve"]
    assert len(curve) == 6 and curve == sorted(curve, reverse=True) and metadata["train_loss"] == curve[-1]
    assert metadata["checkpoint_uri"] == checkpoint_uri

    client = moto_s3.client()
    objects = {item["Key"] for item in client.list_objects_v2(Bucket=s3_bucket)["Contents"]}
    assert "lamini/checkpoints/tiny/ckpt-1/model.safetensors" in objects  # the artifact arrived
    # The messages travelled through the bucket: PipesS3MessageReader's chunks, under the pipes/ prefix.
    assert any(re.fullmatch(r"lamini/pipes/messages/[A-Za-z]+/\d+\.json", key) for key in objects), objects
    logs = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert any(message.endswith(f"step 5 loss {curve[5]}") for message in logs), logs


def test_each_backend_gets_its_client_and_the_s3_channel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    local = load_config(write_config(tmp_path, ""))
    assert isinstance(pipes_client_for(local), dg.PipesSubprocessClient)

    k8s = load_config(write_config(tmp_path, (
        "storage: {artifacts_uri: 's3://lamini-artifacts/prod', s3_region: us-east-1}\n"
        "compute: {backend: k8s, k8s: {image: 'registry.example/lamini:1', namespace: training}}\n"
    )))
    s3_client = s3_resource(k8s.storage).get_client()
    client = pipes_client_for(k8s, s3_client)
    assert isinstance(client, PipesK8sClient)
    assert isinstance(client.context_injector, PipesS3ContextInjector)
    assert isinstance(client.message_reader, PipesS3MessageReader)
    location = pipes_location(k8s)
    assert (location.bucket, location.prefix) == ("lamini-artifacts", "prod/pipes")

    ecs = load_config(write_config(tmp_path, (
        "compute: {backend: ecs, pipes_uri: 's3://pipes-bucket/msgs', ecs: {cluster: gpu, task_definition: lamini-train}}\n"
    )))
    client = pipes_client_for(ecs, s3_client)
    assert isinstance(client, PipesECSClient)
    assert isinstance(client._message_reader, PipesS3MessageReader)  # noqa: SLF001  (no public accessor)
    assert pipes_location(ecs).bucket == "pipes-bucket"

    no_bucket = load_config(write_config(tmp_path, "compute: {channel: s3}\n"))
    with pytest.raises(dg.Failure, match="compute.pipes_uri"):
        pipes_client_for(no_bucket, s3_client)
    with pytest.raises(Exception, match="backend 'k8s' needs a 'k8s:' section"):
        load_config(write_config(tmp_path, "compute: {backend: k8s}\n"))


def test_training_and_evaluation_scripts_use_s3_for_artifacts_and_messages(
    moto_s3: MotoS3, s3_bucket: str, state_dir: Path, tmp_path: Path
) -> None:
    """The real scripts, launched as a pod would run them: context, logs and reports travel through the bucket
    (PipesS3ContextInjector / PipesS3MessageReader); the split is read from and the checkpoint, its loss curve
    and the evaluation result are written to the S3 artifact store; nothing goes through the local artifacts folder."""
    tasks = tmp_path / "eval_tasks"
    tasks.mkdir()
    (tasks / "sst2.jsonl").write_text("\n".join((SHARED_DATA / "lamini_eval_sample" / "sst2.jsonl").read_text().splitlines()[:6]))
    config_path = tmp_path / "pipeline.yaml"
    config_path.write_text(f"""sources: []
storage: {{artifacts_uri: 's3://{s3_bucket}/lamini', s3_endpoint_url: '{moto_s3.endpoint_url}'}}
compute: {{channel: s3, message_poll_seconds: 0.2, env: {{OMP_NUM_THREADS: "1"}}}}
students:
  - {{name: gpt2-tiny, family: decoder-only, max_source_length: 64, max_target_length: 16,
      tiny: {{vocab_size: 400, hidden_size: 32, layers: 1, heads: 2, feed_forward_size: 64}},
      hyperparameters: {{max_steps: 4, per_device_batch_size: 4, save_steps: 2, logging_steps: 1, learning_rate: 1.0e-3}}}}
training:
  split: {{seed: 0, validation_fraction: 0.05, test_fraction: 0.05}}
  evaluation_only: [{{path: {EVAL_ONLY}}}]
evaluation:
  benchmarks: {{local_dir: {tasks}, limit: 3, batch_size: 8}}
  instruction_following: {{held_out_items: 2, user_oriented_items: 2, max_new_tokens: 4}}
""")
    config = load_config(config_path)
    version = publish_version(config.artifact_store(), dataset_frame(p3_rows(300)))
    defs = build_definitions(config_path)
    assert materialize(defs, ["train_split"]).success

    trained = materialize(defs, ["student_checkpoints"], partition_key="gpt2-tiny")
    assert trained.success
    metadata = materialization_metadata(trained, "student_checkpoints")
    checkpoint = f"lamini/checkpoints/gpt2-tiny/{metadata['checkpoint_id']}"
    assert metadata["checkpoint_uri"] == f"s3://{s3_bucket}/{checkpoint}"
    assert metadata["loss_curve_path"] == f"s3://{s3_bucket}/{checkpoint}/loss_curve.png"
    assert "data:image/png;base64," in metadata["loss_curve"]  # the loss curve arrived as a Pipes message
    assert metadata["global_step"] == 4 and metadata["dataset_version"] == version

    client = moto_s3.client()
    objects = {item["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=s3_bucket)
               for item in page.get("Contents", [])}
    for name in ("model.safetensors", "tokenizer.json", "training_summary.json", "training_job.json", "README.md",
                 "base/model.safetensors", "_lamini_published.json"):
        assert f"{checkpoint}/{name}" in objects, name
    png = client.get_object(Bucket=s3_bucket, Key=f"{checkpoint}/loss_curve.png")["Body"].read()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    job = json.loads(client.get_object(Bucket=s3_bucket, Key=f"{checkpoint}/training_job.json")["Body"].read())
    assert job["store_root"] == f"s3://{s3_bucket}/lamini"
    # The messages (logs, the report) travelled as chunk objects under the store's pipes/ prefix.
    assert any(re.fullmatch(r"lamini/pipes/messages/[A-Za-z]+/\d+\.json", key) for key in objects), sorted(objects)
    assert all(key.startswith("lamini/") for key in objects)  # nothing at the bucket's root
    assert not (config.artifacts_dir / "checkpoints").exists()

    evaluated = materialize(defs, ["eval_scores"], partition_key="gpt2-tiny")
    assert evaluated.success
    scores = materialization_metadata(evaluated, "eval_scores")
    assert scores["checkpoint_uri"] == metadata["checkpoint_uri"]
    result_key = f"lamini/evaluation/gpt2-tiny/{metadata['checkpoint_id']}/{evaluated.run_id}.json"
    result = json.loads(client.get_object(Bucket=s3_bucket, Key=result_key)["Body"].read())
    assert {score["model_kind"] for score in result["scores"]} == {"base", "distilled"}
    with duckdb.connect(str(state_dir / "lamini.duckdb"), read_only=True) as conn:
        table = conn.execute("select * from eval_scores").pl()
        uri = conn.execute("select uri from student_checkpoints").fetchone()[0]
    assert uri == metadata["checkpoint_uri"]
    sst2 = table.filter((pl.col("task") == "sst2") & pl.col("reported"))
    assert sorted(sst2["model_kind"]) == ["base", "distilled"] and sst2["n_items"].to_list() == [3, 3]


def test_scripts_find_the_store_where_they_run(tmp_path: Path) -> None:
    local = load_config(write_config(tmp_path, ""))
    assert store_root(local) == str(local.artifacts_dir)
    on_s3 = load_config(write_config(tmp_path, "storage: {artifacts_uri: 's3://b/p'}\ncompute: {backend: k8s, k8s: {image: i}}\n"))
    assert store_root(on_s3) == "s3://b/p"
    mounted = load_config(write_config(tmp_path, "compute: {backend: k8s, store_root: /mnt/artifacts, k8s: {image: i}}\n"))
    assert store_root(mounted) == "/mnt/artifacts"
    pod_without_store = load_config(write_config(tmp_path, "compute: {backend: k8s, pipes_uri: 's3://b/pipes', k8s: {image: i}}\n"))
    with pytest.raises(dg.Failure, match="set storage.artifacts_uri .* or compute.store_root"):
        store_root(pod_without_store)
    with pytest.raises(ConfigError, match="training.launcher was replaced by the `compute:` section"):
        load_config(write_config(tmp_path, "training: {launcher: {kind: subprocess}}\n"))
