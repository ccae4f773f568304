"""Launch a script through Dagster Pipes where `compute:` says: a local subprocess (default), a
Kubernetes pod (dagster-k8s PipesK8sClient) or an ECS task (dagster-aws PipesECSClient).

Remote backends exchange the Pipes context and messages through S3 (PipesS3ContextInjector,
PipesS3MessageReader) on `compute.pipes_uri` (default: the artifacts bucket, prefix `pipes/`), with the
boto3 client of dagster-aws's S3Resource. The script side is `lamini_assets.compute.pipes_channel`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_aws.pipes import PipesECSClient, PipesS3ContextInjector, PipesS3MessageReader

from lamini_assets.artifacts import S3Location
from lamini_assets.config import PROJECT_ROOT, PipelineConfig


class PrefixedS3MessageReader(PipesS3MessageReader):
    """PipesS3MessageReader whose message chunks go under a key prefix (dagster-aws puts them at
    `<random>/<n>.json` in the bucket's root), so a shared artifacts bucket keeps them under pipes/."""

    def __init__(self, *, key_prefix: str | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.key_prefix = key_prefix

    @contextmanager
    def get_params(self) -> Iterator[dict[str, Any]]:
        with super().get_params() as params:
            if self.key_prefix:
                params = {**params, "key_prefix": f"{self.key_prefix}/messages/{params['key_prefix']}"}
            yield params


def pipes_location(config: PipelineConfig) -> S3Location:
    """Bucket and prefix for Pipes context and messages: compute.pipes_uri, else <storage.artifacts_uri>/pipes."""
    storage = config.storage
    settings = {"endpoint_url": storage.s3_endpoint_url, "region_name": storage.s3_region, "uri_setting": "compute.pipes_uri"}
    if config.compute.pipes_uri is not None:
        return S3Location.parse(config.compute.pipes_uri, **settings)
    if storage.artifacts_uri is None:
        raise dg.Failure(
            f"compute.backend '{config.compute.backend}' with channel 's3' needs an S3 location for Pipes messages: "
            "set compute.pipes_uri (s3://bucket/prefix) or storage.artifacts_uri"
        )
    artifacts = S3Location.parse(storage.artifacts_uri)
    return S3Location.parse(f"{artifacts.uri}/pipes", **settings)


def pipes_client_for(config: PipelineConfig, s3_client: Any | None = None) -> dg.PipesClient:
    """The Pipes client for `compute.backend`, with the S3 injector and reader when the channel is S3."""
    compute = config.compute
    if compute.channel == "local":
        return dg.PipesSubprocessClient(cwd=str(PROJECT_ROOT))
    if s3_client is None:
        raise dg.Failure("the S3 Pipes channel needs the `s3` resource's client (S3Resource.get_client())")
    location = pipes_location(config)
    injector = PipesS3ContextInjector(bucket=location.bucket, client=s3_client, key_prefix=location.prefix or None)
    reader = PrefixedS3MessageReader(
        bucket=location.bucket, client=s3_client, interval=compute.message_poll_seconds, key_prefix=location.prefix or None
    )
    if compute.backend == "k8s":
        assert compute.k8s is not None
        # Imported here: dagster-k8s loads the kubernetes client (~1 s CPU), which every step process paid.
        from dagster_k8s import PipesK8sClient

        return PipesK8sClient(
            context_injector=injector,
            message_reader=reader,
            kubeconfig_file=compute.k8s.kubeconfig_file,
            load_incluster_config=compute.k8s.load_incluster_config,
            poll_interval=compute.k8s.poll_interval_seconds,
        )
    if compute.backend == "ecs":
        assert compute.ecs is not None
        import boto3

        return PipesECSClient(
            client=boto3.client("ecs", region_name=compute.ecs.region or config.storage.s3_region),
            context_injector=injector,
            message_reader=reader,
        )
    return dg.PipesSubprocessClient(context_injector=injector, message_reader=reader, cwd=str(PROJECT_ROOT))


def store_root(config: PipelineConfig) -> str:
    """The artifact store as the script's host names it (`lamini_assets.artifacts.store_at` opens it)."""
    compute = config.compute
    if compute.store_root is not None:
        return compute.store_root
    if config.storage.artifacts_uri is not None:
        return config.storage.artifacts_uri
    if compute.backend != "subprocess":
        raise dg.Failure(
            f"compute.backend '{compute.backend}' runs scripts on another host, which cannot see the local artifacts "
            f"folder {config.artifacts_dir}: set storage.artifacts_uri (s3://bucket/prefix) or compute.store_root "
            "(the folder as mounted on that host)"
        )
    return str(config.artifacts_dir)


def work_dir(config: PipelineConfig) -> Path:
    """Scratch space where the script runs: the state folder locally, compute.work_dir on k8s/ECS hosts."""
    if config.compute.backend == "subprocess":
        return config.state_dir
    return Path(config.compute.work_dir)


def remote_env(config: PipelineConfig) -> dict[str, str]:
    """What a script needs to reach the same S3 store with boto3's defaults."""
    env: dict[str, str] = {}
    if config.storage.s3_endpoint_url:
        env["AWS_ENDPOINT_URL_S3"] = config.storage.s3_endpoint_url
    if config.storage.s3_region:
        env["AWS_REGION"] = env["AWS_DEFAULT_REGION"] = config.storage.s3_region
    return env


def run_pipes_script(
    context: dg.AssetExecutionContext,
    config: PipelineConfig,
    script_args: Sequence[str],
    *,
    s3_client: Any | None = None,
    extras: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> dg.PipesClientCompletedInvocation:
    """Run `python <script_args...>` (e.g. ["-m", "lamini_assets.training.train"]) on the configured backend.

    The local subprocess uses this interpreter; k8s and ECS use `compute.python` inside their image.
    Returns the invocation: `.get_materialize_result()` / `.get_results()` carry what the script reported.
    """
    compute = config.compute
    client = pipes_client_for(config, s3_client)
    uses_s3 = compute.channel == "s3" or config.storage.artifacts_uri is not None
    env = {**(remote_env(config) if uses_s3 else {}), **compute.env, **(env or {})}
    extras = dict(extras or {})
    if compute.backend == "k8s":
        assert compute.k8s is not None
        return client.run(  # type: ignore[call-arg]
            context=context,
            extras=extras,
            image=compute.k8s.image,
            command=[compute.python, *script_args],
            namespace=compute.k8s.namespace,
            env={**compute.k8s.env, **env},
            base_pod_spec=compute.k8s.base_pod_spec or None,
        )
    if compute.backend == "ecs":
        assert compute.ecs is not None
        ecs = compute.ecs
        task: dict[str, Any] = {
            "cluster": ecs.cluster,
            "taskDefinition": ecs.task_definition,
            "launchType": ecs.launch_type,
            "overrides": {"containerOverrides": [{
                "name": ecs.container_name,
                "command": [compute.python, *script_args],
                "environment": [{"name": k, "value": v} for k, v in {**ecs.env, **env}.items()],
            }]},
        }
        if ecs.subnets:
            task["networkConfiguration"] = {"awsvpcConfiguration": {
                "subnets": ecs.subnets,
                "securityGroups": ecs.security_groups,
                "assignPublicIp": "ENABLED" if ecs.assign_public_ip else "DISABLED",
            }}
        return client.run(context=context, run_task_params=task, extras=extras, pipes_container_name=ecs.container_name)  # type: ignore[call-arg]
    return client.run(context=context, command=[sys.executable, *script_args], extras=extras, env=env)  # type: ignore[call-arg]
