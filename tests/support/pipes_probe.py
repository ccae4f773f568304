"""A stand-in for a remote training script: talks to Dagster only through the Pipes channel.

Run by `run_pipes_script` with extras {checkpoint_uri, steps}. It logs a loss per step, writes a
"checkpoint" object to the artifact bucket with boto3, and reports loss curve, metadata and the
checkpoint's URI. It records which channel it used and which dagster modules it imported (none).
"""

import json
import math
import sys

import boto3

from lamini_assets.compute.pipes_channel import open_pipes, uses_s3_channel

with open_pipes() as pipes:
    steps = int(pipes.get_extra("steps"))
    losses = [round(2.5 * math.exp(-0.3 * step) + 0.1, 4) for step in range(steps)]
    for step, loss in enumerate(losses):
        pipes.log.info(f"step {step} loss {loss}")
    bucket, _, key = pipes.get_extra("checkpoint_uri").removeprefix("s3://").partition("/")
    boto3.client("s3").put_object(Bucket=bucket, Key=f"{key}/model.safetensors", Body=json.dumps(losses).encode())
    pipes.report_asset_materialization(
        metadata={
            "train_loss": losses[-1],
            "loss_curve": {"raw_value": losses, "type": "json"},
            "checkpoint_uri": {"raw_value": pipes.get_extra("checkpoint_uri"), "type": "url"},
            "channel": "s3" if uses_s3_channel() else "local",
            "dagster_modules": {"raw_value": sorted(m for m in sys.modules if m.split(".")[0] == "dagster"), "type": "json"},
            "partition": pipes.partition_key,
        }
    )
