"""A backfill of the seven instruction sources on dagster-celery: a real Redis broker, two Celery
worker processes, the run launched from `dagster dev` as the UI launches it. Every row arrives once."""

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml
from celery import Celery

from lamini_assets.config import load_config
from lamini_assets.defs import build_definitions
from lamini_assets.defs.partitions import RESPONSE_SHARDS, response_partition_key
from lamini_assets.defs.execution import celery_worker_yaml
from lamini_assets.schema import INSTRUCTION_SOURCES
from tests.support.dagster_runs import SEED_SQL_AND_TOPICS, materialize
from tests.support.pipeline_configs import demo_config_with
from tests.support.services import redis_server, stop_process_group
from tests.support.webserver import dagster_server, graphql
from tests.test_backfill import BACKFILL_STATUS, LAUNCH_BACKFILL, TEACHER_ASSETS

PROJECT_ROOT = Path(__file__).resolve().parents[1]
WORKERS = ("lamini-w1", "lamini-w2")


def worker_logs(tmp_path: Path) -> str:
    return "".join((tmp_path / f"{name}.log").read_text(errors="replace")[-3000:] for name in WORKERS)


def wait_for_workers(broker: str, workers: list[subprocess.Popen], tmp_path: Path, deadline_seconds: float = 120) -> None:
    app = Celery(broker=broker)
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        if any(worker.poll() is not None for worker in workers):
            raise RuntimeError(f"a Celery worker exited before answering a ping\n{worker_logs(tmp_path)}")
        if len(app.control.ping(timeout=1.0) or []) >= len(workers):
            return
        time.sleep(0.5)
    raise TimeoutError(f"{len(workers)} Celery workers did not answer a ping within {deadline_seconds} s\n{worker_logs(tmp_path)}")


@pytest.mark.slow
@pytest.mark.timeout(900)  # dagster dev, seven run processes and two workers on two cores: ~5 min
def test_celery_backfill_of_seven_sources_writes_every_row_once(state_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The offline teacher has no rate budget: let two teacher steps run at once, one per worker, so
    # the DuckDB writes of parallel steps really meet.
    instance_yaml = state_dir / "dagster_home" / "dagster.yaml"
    settings = yaml.safe_load(instance_yaml.read_text())
    settings["concurrency"]["pools"]["default_limit"] = 2
    settings["concurrency"]["runs"]["max_concurrent_runs"] = 7  # every source's run at once: its steps queue in Redis
    instance_yaml.write_text(yaml.safe_dump(settings))

    with redis_server(tmp_path) as redis_url:
        broker, backend = redis_url, redis_url.removesuffix("/0") + "/1"
        config_path = demo_config_with(
            tmp_path / "celery.yaml", execution={"executor": "celery", "celery": {"broker": broker, "backend": backend}}
        )
        monkeypatch.setenv("LAMINI_CONFIG", str(config_path))
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])))
        defs = build_definitions()
        instance = dg.DagsterInstance.get()
        for pool in ("self_instruct", "alpaca", "p3", "flan"):
            materialize(defs, ["seed_instructions", "seed_quarantine"], pool, instance=instance)
        materialize(defs, SEED_SQL_AND_TOPICS, instance=instance)

        worker_yaml = tmp_path / "celery_worker.yaml"
        worker_yaml.write_text(celery_worker_yaml(load_config(config_path).execution))
        celery_cli = str(Path(sys.executable).with_name("dagster-celery"))
        # `dagster-celery worker start` runs `celery` from PATH: the venv's, though the venv is not activated.
        worker_env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}
        workers = [
            subprocess.Popen(
                [celery_cli, "worker", "start", "-A", "dagster_celery.app", "-y", str(worker_yaml), "-n", name,
                 "--", "--concurrency=1"],
                cwd=PROJECT_ROOT, env=worker_env, start_new_session=True,
                stdout=open(tmp_path / f"{name}.log", "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
            )
            for name in WORKERS
        ]
        try:
            wait_for_workers(broker, workers, tmp_path)
            with dagster_server("dagster dev") as port:
                # A fresh instance has no response shard yet: the response_shard_keys sensor (run by the
                # daemon) registers shard 0000, so the backfill holds one shard per source.
                deadline = time.monotonic() + 120
                while not instance.has_dynamic_partition(RESPONSE_SHARDS, "0000") and time.monotonic() < deadline:
                    time.sleep(1)
                assert instance.has_dynamic_partition(RESPONSE_SHARDS, "0000")
                launched = graphql(port, LAUNCH_BACKFILL, {"params": {
                    "assetSelection": [{"path": [name]} for name in TEACHER_ASSETS],
                    "partitionNames": list(INSTRUCTION_SOURCES),
                }})["launchPartitionBackfill"]
                assert launched["__typename"] == "LaunchBackfillSuccess", launched
                deadline = time.monotonic() + 480
                status = "REQUESTED"
                while status in {"REQUESTED", "CANCELING", "FAILING"} and time.monotonic() < deadline:
                    time.sleep(3)
                    status = graphql(port, BACKFILL_STATUS, {"id": launched["backfillId"]})["partitionBackfillOrError"]["status"]
        finally:
            for worker in workers:
                stop_process_group(worker)
    assert status in {"COMPLETED", "COMPLETED_SUCCESS"}, f"{status}\n{worker_logs(tmp_path)}"

    # Steps ran on both workers, and only there.
    runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": launched["backfillId"]}))
    # One run per source's instructions, then one per shard (another partitions definition, another run).
    assert len(runs) == 2 * len(INSTRUCTION_SOURCES) and all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs)
    steps_by_worker: Counter[str] = Counter()
    for run in runs:
        for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
            metadata = entry.dagster_event.engine_event_data.metadata
            if "Celery worker" in metadata:
                steps_by_worker[metadata["Celery worker"].value.split("@")[0]] += 1
    assert set(steps_by_worker) == set(WORKERS), steps_by_worker

    # Every row arrived once: the tables hold exactly what each step reported, with no duplicate id.
    with duckdb.connect(str(state_dir / "lamini.duckdb"), read_only=True) as conn:
        for table in ("instructions", "responses"):
            counts = dict(conn.execute(
                f"select instruction_source, count(*) from {table} group by 1"  # noqa: S608
            ).fetchall())
            duplicates = conn.execute(
                f"select count(*) - count(distinct (instruction_source, instruction_id)) from {table}"  # noqa: S608
            ).fetchone()[0]
            assert duplicates == 0, table
            reported = {
                key: instance.fetch_materializations(
                    dg.AssetRecordsFilter(asset_key=dg.AssetKey(table), asset_partitions=[
                        key if table == "instructions" else response_partition_key(key)]), limit=1
                ).records[0].asset_materialization.metadata["dagster/row_count"].value
                for key in INSTRUCTION_SOURCES
            }
            assert counts == reported, table
        missing = conn.execute(
            "select count(*) from instructions i anti join responses r using (instruction_source, instruction_id)"
        ).fetchone()[0]
    assert missing == 0  # every instruction has its response
    assert sum(counts.values()) > 100
