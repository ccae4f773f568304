"""Pipes to remote compute: the S3 channel end to end on moto, and the client each backend gets."""

import re
from pathlib import Path

import dagster as dg
import pytest
from dagster_aws.pipes import PipesECSClient, PipesS3ContextInjector, PipesS3MessageReader
from dagster_aws.s3 import S3Resource
from dagster_k8s import PipesK8sClient

from lamini_assets.config import load_config
from lamini_assets.defs.remote import pipes_client_for, pipes_location, run_pipes_script
from lamini_assets.defs.resources import PipelineConfigResource, s3_resource
from tests.support.services import MotoS3, moto_s3, s3_bucket  # noqa: F401  (fixtures)

PROBE = Path(__file__).resolve().parent / "support" / "pipes_probe.py"


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
    # The messages travelled through the bucket: PipesS3MessageReader's chunks, <random prefix>/<n>.json.
    assert any(re.fullmatch(r"[A-Za-z]+/\d+\.json", key) for key in objects), objects
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
