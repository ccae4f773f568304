"""Readers use the read snapshot: while a reader holds it open, runs write the DuckDB file as usual,
and the snapshot is refreshed after each run. A reader on the live file itself blocks writers."""

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from lamini_assets.config import load_config
from lamini_assets.defs import build_definitions
from lamini_assets.warehouse import publish_read_snapshot
from tests.support.dagster_runs import materialize
from tests.support.pipeline_configs import demo_config_with

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Holds a read-only connection until stdin closes, printing the seed count it sees at the start.
READER = """
import sys, duckdb
conn = duckdb.connect(sys.argv[1], read_only=True)
print(conn.execute("select count(*) from seed_instructions").fetchone()[0], flush=True)
sys.stdin.read()
print(conn.execute("select count(*) from seed_instructions").fetchone()[0], flush=True)
"""


def hold_reader(database: Path) -> tuple[subprocess.Popen[str], int]:
    reader = subprocess.Popen([sys.executable, "-c", READER, str(database)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert reader.stdout is not None
    first = reader.stdout.readline()
    assert first.strip().isdigit(), reader.stderr.read() if reader.stderr else first
    return reader, int(first)


def test_runs_write_while_a_reader_holds_the_snapshot(tmp_path: Path, state_dir: Path) -> None:
    config_path = demo_config_with(tmp_path / "pipeline.yaml")
    config = load_config(config_path)
    defs = build_definitions(config_path)
    materialize(defs, ["seed_instructions", "seed_quarantine"], "alpaca")
    snapshot = config.read_snapshot_path
    assert snapshot == state_dir / "read_snapshot" / "lamini.duckdb" and snapshot.exists()

    reader, before = hold_reader(snapshot)
    try:
        # Two more runs while the reader holds the snapshot: both write the live file and succeed.
        materialize(defs, ["seed_instructions", "seed_quarantine"], "self_instruct")
        materialize(defs, ["seed_copy_ranks", "seed_instructions_dedup", "seed_duplicates", "seed_stats"])
    finally:
        stdout, _ = reader.communicate("", timeout=60)
    # The open reader kept its consistent view; a new reader sees both runs' tables.
    assert int(stdout) == before
    with duckdb.connect(str(snapshot), read_only=True) as conn:
        pools = dict(conn.execute("select seed_source, count(*) from seed_instructions group by 1").fetchall())
        stats_rows = conn.execute("select count(*) from seed_stats").fetchone()[0]
    assert set(pools) == {"alpaca", "self_instruct"} and pools["alpaca"] == before and stats_rows == 3
    assert not publish_read_snapshot(config.duckdb_path, snapshot)  # nothing written since: no new copy


def test_a_reader_on_the_live_file_blocks_a_writer(tmp_path: Path) -> None:
    """Why the snapshot exists: DuckDB lets no process write while another holds the file."""
    database = tmp_path / "live.duckdb"
    with duckdb.connect(str(database)) as conn:
        conn.execute("create table seed_instructions as select 1 as x")
    reader, _ = hold_reader(database)
    try:
        with pytest.raises(duckdb.IOException, match="lock"):
            duckdb.connect(str(database))
    finally:
        reader.communicate("", timeout=60)


def snapshot_tables(snapshot: Path) -> set[str]:
    with duckdb.connect(str(snapshot), read_only=True) as conn:
        return {row[0] for row in conn.execute("select table_name from information_schema.tables").fetchall()}


def test_multiprocess_steps_leave_the_copy_to_the_sensor_once_the_run_ends(
    tmp_path: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under the multiprocess executor no step process copies the file (one copy per step cost GBs at full
    size); the read_snapshot sensor copies it once no run is in progress."""
    import dagster as dg

    from tests.support.snapshot_job import topics_and_ranks_job

    config_path = demo_config_with(tmp_path / "pipeline.yaml")
    monkeypatch.setenv("LAMINI_CONFIG", str(config_path))
    config = load_config(config_path)
    defs = build_definitions(config_path)
    snapshot = config.read_snapshot_path
    with dg.DagsterInstance.get() as instance:  # the test's DAGSTER_HOME (state_dir): runs persist
        materialize(defs, ["seed_instructions", "seed_quarantine"], "alpaca", instance=instance)  # in-process: copied
        assert snapshot_tables(snapshot) >= {"seed_instructions"}
        copied_at = snapshot.stat().st_mtime_ns
        result = dg.execute_job(dg.reconstructable(topics_and_ranks_job), instance=instance)
        assert result.success
        assert len({e.pid for e in result.all_events if e.event_type_value == "STEP_START"}) == 2  # a process each
        assert snapshot.stat().st_mtime_ns == copied_at  # no step copied the file
        assert not snapshot_tables(snapshot) & {"wikipedia_topics", "seed_copy_ranks"}

        sensor = defs.get_sensor_def("read_snapshot")
        evaluated = sensor(dg.build_sensor_context(instance=instance))
        assert "refreshed" in evaluated.skip_message
        assert snapshot_tables(snapshot) >= {"seed_instructions", "wikipedia_topics", "seed_copy_ranks"}
        again = sensor(dg.build_sensor_context(instance=instance))
        assert "has not changed" in again.skip_message
