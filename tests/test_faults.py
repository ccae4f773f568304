"""Faults beyond one happy process: two backfills at once, SIGTERM mid-run, a full disk.

(S3 unreachable or a wrong bucket: tests/test_artifacts_s3.py. A corrupt teacher-cache file: the
teacher package's tests.)
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import diskcache
import duckdb
import polars as pl
import pytest

from lamini_assets.artifacts import LocalArtifactStore
from lamini_assets.defs import build_definitions
from lamini_assets.sources import SourceSpec
from lamini_assets.sources.registry import load_source
from lamini_assets.warehouse import WarehouseWriteError, replace_partition
from lamini_assets.defs.partitions import response_partition_key
from tests.support.dagster_runs import INSTRUCTION_ASSETS, SEED_SQL_AND_TOPICS, materialize, materialize_source
from tests.support.loopback_openai import LoopbackSettings, start_loopback_server
from tests.support.pipeline_configs import demo_config_with
from tests.support.services import small_disk, stop_process_group

PROJECT_ROOT = Path(__file__).resolve().parents[1]
from tests.support.paths import SHARED_DATA


@pytest.fixture(scope="module")
def p3_rows() -> pl.DataFrame:
    """28k real P3 prompts: enough bytes to fill a small disk."""
    spec = SourceSpec(name="p3", format="p3_templates", path=str(SHARED_DATA / "p3_t0_sample"))
    return load_source(spec, SHARED_DATA).rows


def prepare_upstream(defs: dg.Definitions, instance: dg.DagsterInstance) -> None:
    for pool in ("self_instruct", "alpaca", "p3", "flan"):
        materialize(defs, ["seed_instructions", "seed_quarantine"], pool, instance=instance)
    materialize(defs, SEED_SQL_AND_TOPICS, instance=instance)


def latest_row_count(instance: dg.DagsterInstance, asset: str, partition: str) -> int:
    (record,) = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=1
    ).records
    return int(record.asset_materialization.metadata["dagster/row_count"].value)


def assert_tables_whole(database: Path, instance: dg.DagsterInstance, partitions: list[str]) -> None:
    """Each partition holds exactly the rows its latest materialisation reported, each id once."""
    with duckdb.connect(str(database), read_only=True) as conn:
        for table in ("instructions", "responses"):
            counts = dict(conn.execute(f"select instruction_source, count(*) from {table} group by 1").fetchall())  # noqa: S608
            # Each source here has one response shard ("<source>|0000").
            latest = {key: latest_row_count(instance, table, key if table == "instructions" else response_partition_key(key))
                      for key in partitions}
            assert counts == latest, table
            (duplicates,) = conn.execute(
                f"select count(*) - count(distinct (instruction_source, instruction_id)) from {table}"  # noqa: S608
            ).fetchone()
            assert duplicates == 0, table
        (unanswered,) = conn.execute(
            "select count(*) from instructions anti join responses using (instruction_source, instruction_id)"
        ).fetchone()
        assert unanswered == 0


@pytest.mark.slow
def test_two_backfills_at_once_share_duckdb_and_cache_without_loss(state_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_path = demo_config_with(tmp_path / "pipeline.yaml")
    monkeypatch.setenv("LAMINI_CONFIG", str(config_path))
    defs = build_definitions()
    instance = dg.DagsterInstance.get()
    prepare_upstream(defs, instance)

    # Two users' backfills, overlapping on two sources, in two processes at the same time.
    first, second = ["generated_p3", "alpaca", "self_instruct_with_topic"], ["self_instruct_with_topic", "generated_p3", "original_flan"]
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    backfills = [
        subprocess.Popen([sys.executable, "-m", "tests.support.backfill_driver", *partitions], cwd=PROJECT_ROOT,
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        for partitions in (first, second)
    ]
    try:
        outputs = [backfill.communicate(timeout=400) for backfill in backfills]
    finally:
        for backfill in backfills:
            stop_process_group(backfill)
    for backfill, (stdout, stderr) in zip(backfills, outputs):
        assert backfill.returncode == 0, stderr[-3000:]
        assert "False" not in stdout, stdout

    touched = sorted(set(first) | set(second))
    for partition in ("generated_p3", "self_instruct_with_topic"):  # both backfills wrote these: same rows
        counts = {
            int(record.asset_materialization.metadata["dagster/row_count"].value)
            for record in instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey("responses"),
                                      asset_partitions=[response_partition_key(partition)]), limit=10
            ).records
        }
        assert len(counts) == 1, (partition, counts)
    assert_tables_whole(state_dir / "lamini.duckdb", instance, touched)
    with diskcache.Cache(str(state_dir / "teacher_cache")) as cache:
        assert cache.check() == []  # the shared SQLite-backed cache is consistent
        assert len(cache) > 0


@pytest.mark.slow
def test_sigterm_mid_run_stops_cleanly_keeps_finished_work_and_fails_the_run(state_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = start_loopback_server(LoopbackSettings(latency_seconds=0.02))
    try:
        config_path = demo_config_with(tmp_path / "pipeline.yaml", teacher={
            "backend": "openai", "model": "loopback", "base_url": server.base_url, "api_key_env": "LOOPBACK_KEY",
            "max_in_flight": 1, "max_attempts": 1,
        })
        monkeypatch.setenv("LAMINI_CONFIG", str(config_path))
        monkeypatch.setenv("LOOPBACK_KEY", "unused")
        defs = build_definitions()
        instance = dg.DagsterInstance.get()
        prepare_upstream(defs, instance)
        materialize_source(defs, "original_flan", instance=instance)  # finished work from an earlier run
        flan_rows = latest_row_count(instance, "responses", response_partition_key("original_flan"))
        materialize(defs, INSTRUCTION_ASSETS, "alpaca", instance=instance)
        alpaca = response_partition_key("alpaca")  # its one response shard

        # `alpaca` passes its seeds through; at 0.5 s a call, one at a time, its shard runs for ~30 s.
        server.settings.latency_seconds = 0.5
        server.app.reset_counters()
        command = [str(Path(sys.executable).with_name("dagster")), "asset", "materialize", "-f", "definitions.py",
                   "--select", "responses,teacher_failures", "--partition", str(alpaca)]
        run = subprocess.Popen(command, cwd=PROJECT_ROOT, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline and run.poll() is None:
                if server.stats()["total_requests"] >= 6:
                    break
                time.sleep(0.2)
            assert run.poll() is None, run.communicate()[0][-3000:]
            os.kill(run.pid, signal.SIGTERM)  # what Kubernetes or a shutdown sends the run process
            output, _ = run.communicate(timeout=120)
            answered_before_stop = server.stats()["status_counts"].get("200", 0)
        finally:
            stop_process_group(run)
        assert run.returncode != 0

        (record,) = instance.get_run_records(dg.RunsFilter(tags={"dagster/partition": str(alpaca)}), limit=1)
        assert record.dagster_run.status == dg.DagsterRunStatus.FAILURE, (record.dagster_run.status, output[-3000:])
        # Finished work stays: the instructions' rows and materialisation, the earlier partition.
        assert "alpaca" in instance.get_materialized_partitions(dg.AssetKey("instructions"))
        assert str(alpaca) not in instance.get_materialized_partitions(dg.AssetKey("responses"))
        with duckdb.connect(str(state_dir / "lamini.duckdb"), read_only=True) as conn:
            per_source = dict(conn.execute("select instruction_source, count(*) from responses group by 1").fetchall())
            (instruction_rows,) = conn.execute("select count(*) from instructions where instruction_source = 'alpaca'").fetchone()
        assert per_source == {"original_flan": flan_rows}  # no half-written partition
        assert instruction_rows == latest_row_count(instance, "instructions", "alpaca") > answered_before_stop >= 5

        # The rerun asks the teacher only for what was not answered before the stop (answers are cached
        # as they arrive; at most the one call in flight at the stop is lost).
        server.settings.latency_seconds = 0.02
        server.app.reset_counters()
        result = materialize(defs, ["responses"], alpaca, instance=instance)
        assert result.success
        assert instruction_rows - answered_before_stop <= server.stats()["total_requests"] <= instruction_rows - answered_before_stop + 1
        assert latest_row_count(instance, "responses", alpaca) == instruction_rows
    finally:
        server.stop()


def test_full_disk_during_a_table_write_leaves_the_table_whole(tmp_path: Path, p3_rows: pl.DataFrame) -> None:
    with small_disk(tmp_path / "disk", "4m") as disk:
        database = disk / "lamini.duckdb"
        with duckdb.connect(str(database)) as conn:
            replace_partition(conn, "seeds", p3_rows.head(500), {"template": p3_rows["template"][0]})
            conn.execute("checkpoint")
            everything = pl.concat([p3_rows] * 4).with_columns(pl.lit(p3_rows["template"][0]).alias("template"))
            with pytest.raises(WarehouseWriteError) as raised:
                replace_partition(conn, "seeds", everything, {"template": p3_rows["template"][0]})
            message = str(raised.value)
            assert "table main.seeds" in message and "rolled back" in message and "No space left on device" in message
            assert conn.execute("select count(*) from seeds").fetchone() == (500,)
        with duckdb.connect(str(database), read_only=True) as reopened:  # the file is sound after the failure
            kept = reopened.execute("select * from seeds").pl()
        assert kept.sort("origin").equals(p3_rows.head(500).sort("origin"))


def test_full_disk_during_an_export_publishes_nothing(tmp_path: Path, p3_rows: pl.DataFrame) -> None:
    with small_disk(tmp_path / "disk", "2m") as disk:
        store = LocalArtifactStore(disk / "artifacts")
        store.write_bytes("lamini_dataset/latest", b"v0")

        def export(folder: Path) -> None:
            (folder / "dataset_card.md").write_text("# card")
            p3_rows.write_ndjson(folder / "alpaca_format.json")  # ~10 MB: the disk fills mid-file

        with pytest.raises(OSError) as raised:
            store.publish_dir("lamini_dataset/v1", export)
        assert "No space left on device" in str(raised.value)
        assert any("'lamini_dataset/v1' was not published" in note for note in raised.value.__notes__)
        assert not store.exists("lamini_dataset/v1")
        assert sorted(p.name for p in (disk / "artifacts" / "lamini_dataset").iterdir()) == ["latest"]  # no staging left

        # The version pointer: a write that cannot finish leaves the old pointer and no temp file.
        (disk / "filler").write_bytes(b"\0" * (disk.stat().st_size or 0))
        with open(disk / "filler", "ab") as filler:
            try:
                while True:
                    filler.write(b"\0" * 65536)
                    filler.flush()
            except OSError:
                pass
        with pytest.raises(OSError):
            store.write_bytes("lamini_dataset/latest", b"v1" * 100_000)
        assert store.read_bytes("lamini_dataset/latest") == b"v0"
        assert sorted(p.name for p in (disk / "artifacts" / "lamini_dataset").iterdir()) == ["latest"]
