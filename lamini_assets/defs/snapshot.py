"""The read snapshot (warehouse.publish_read_snapshot), refreshed once runs end.

A run executed in one process (dg.materialize, the demo, a run with the in-process executor) refreshes
it when its resources are torn down (SerialDuckDBResource). Under the multiprocess executor every step
is its own process, and copying a multi-GB file at the end of each one cost more than many steps: those
steps leave it to this sensor, which the daemon of `dagster dev` / `make ui` evaluates.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from lamini_assets.config import PipelineConfig
from lamini_assets.warehouse import publish_read_snapshot


_S = dg.DagsterRunStatus
IN_PROGRESS = [_S.QUEUED, _S.NOT_STARTED, _S.STARTING, _S.STARTED, _S.CANCELING]


def read_snapshot_sensor(config: PipelineConfig) -> dg.SensorDefinition:
    database, snapshot = Path(config.duckdb_path), Path(config.read_snapshot_path)

    @dg.sensor(
        name="read_snapshot",
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Copies the DuckDB file to the read snapshot (storage.read_snapshot) when it changed and no run is in "
            "progress: one copy after a run, or after a backfill's last run, instead of one per step."
        ),
    )
    def read_snapshot(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        running = context.instance.get_runs_count(dg.RunsFilter(statuses=IN_PROGRESS))
        if running:
            return dg.SkipReason(f"{running} runs in progress; the snapshot is refreshed once they end")
        if publish_read_snapshot(database, snapshot):
            return dg.SkipReason(f"refreshed {snapshot}")
        return dg.SkipReason("the database has not changed since the last snapshot")

    return read_snapshot
