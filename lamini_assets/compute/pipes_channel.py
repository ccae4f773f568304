"""The script side of Dagster Pipes, for scripts that run where the config says (training, evaluation).

A script launched by `lamini_assets.defs.remote.run_pipes_script` calls `open_pipes()` instead of
`dagster_pipes.open_dagster_pipes()`: it picks the S3 channel when Dagster injected an S3 location (k8s,
ECS, or `compute.channel: s3`) and the local one otherwise. Imports `dagster_pipes` and boto3 only, never
`dagster`, so it runs in a slim image on a GPU host.

The S3 client is boto3's default: credentials from the host (role, env), the endpoint from
AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL (the launcher sets it for S3-compatible stores).
"""

from __future__ import annotations

from dagster_pipes import (
    PipesContext,
    PipesEnvVarParamsLoader,
    PipesS3ContextLoader,
    PipesS3MessageWriter,
    open_dagster_pipes,
)

MESSAGE_FLUSH_SECONDS = 2.0  # how often buffered messages (logs, metadata) are written to S3


def uses_s3_channel() -> bool:
    """True when the launcher put the Pipes context in S3 (its params name a bucket)."""
    params = PipesEnvVarParamsLoader()
    return params.is_dagster_pipes_process() and "bucket" in params.load_context_params()


def open_pipes() -> PipesContext:
    """The Pipes context over whichever channel the launcher chose; use it as a context manager."""
    if not uses_s3_channel():
        return open_dagster_pipes()
    import boto3

    client = boto3.client("s3")
    return open_dagster_pipes(
        context_loader=PipesS3ContextLoader(client),
        message_writer=PipesS3MessageWriter(client, interval=MESSAGE_FLUSH_SECONDS),
    )
