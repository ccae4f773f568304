"""A run SIGKILLed while it holds the `teacher` pool does not block the next one: with the shipped
dagster.yaml the monitoring daemon fails the dead run and frees its slot within a bounded time."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from lamini_assets.defs.resources import TEACHER_POOL
from tests.support import pool_defs
from tests.support.dagster_runs import PROJECT_ROOT

DEFS_FILE = PROJECT_ROOT / "tests" / "support" / "pool_defs.py"
BIN = Path(sys.executable).parent
# Detection (5 s poll) + slot freeing (5 s after the run's end, next poll) + the blocked step's
# own retry: ~15 s (the README's figure); the test allows for a busy machine.
BOUND_SECONDS = 30


def wait_for(path: Path, timeout: float, process: subprocess.Popen[bytes] | None = None) -> float:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{process.args} exited with {process.returncode} before {path.name}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path.name} did not appear within {timeout:.0f} s")
        time.sleep(0.1)
    return time.monotonic()


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(args, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # its own process group: a kill reaches every child


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")  # the settings users get
    markers = tmp_path / "markers"
    markers.mkdir()
    # Create the instance's SQLite storage once, before the daemon and the CLI would race to.
    dg.DagsterInstance.from_config(str(home)).dispose()
    yield {**os.environ, "DAGSTER_HOME": str(home), "POOL_TEST_MARKERS": str(markers),
           "PYTHONPATH": str(PROJECT_ROOT), "PATH": f"{BIN}:{os.environ['PATH']}"}


def materialize(partition: str) -> list[str]:
    return [str(BIN / "dagster"), "asset", "materialize", "-f", str(DEFS_FILE), "--select", "teacher_pool_step",
            "--partition", partition]


def run_ids_by_partition(instance: dg.DagsterInstance) -> dict[str, str]:
    return {run.tags["dagster/partition"]: run.run_id for run in instance.get_runs()}


def test_sigkilled_run_holding_the_teacher_pool_frees_it(env: dict[str, str], tmp_path: Path) -> None:
    assert pool_defs.TEACHER_POOL == TEACHER_POOL
    markers = Path(env["POOL_TEST_MARKERS"])
    instance = dg.DagsterInstance.from_config(env["DAGSTER_HOME"])
    daemon = start([str(BIN / "dagster-daemon"), "run", "-f", str(DEFS_FILE)], env, tmp_path / "daemon.log")
    holder = start(materialize("hold"), env, tmp_path / "hold.log")
    follower: subprocess.Popen[bytes] | None = None
    try:
        wait_for(markers / "hold.started", 120, holder)  # its step runs, so it holds the pool's one slot
        follower = start(materialize("quick"), env, tmp_path / "quick.log")
        deadline = time.monotonic() + 120
        while True:  # the second run is up and its step waits for the slot
            pool = instance.event_log_storage.get_concurrency_info("teacher")
            runs = run_ids_by_partition(instance)
            if "quick" in runs and any(step.run_id == runs["quick"] for step in pool.pending_steps):
                break
            assert follower.poll() is None and time.monotonic() < deadline, "the second run never queued for the pool"
            time.sleep(0.2)
        assert [slot.run_id for slot in pool.claimed_slots] == [runs["hold"]]

        os.killpg(holder.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        holder.wait(timeout=30)
        while True:
            claimed = [slot.run_id for slot in instance.event_log_storage.get_concurrency_info("teacher").claimed_slots]
            if runs["quick"] in claimed:
                break
            assert time.monotonic() - killed_at < BOUND_SECONDS, f"the slot was still held by {claimed}"
            time.sleep(0.2)
        waited = time.monotonic() - killed_at

        wait_for(markers / "quick.started", 120, follower)
        assert follower.wait(timeout=120) == 0, (tmp_path / "quick.log").read_text()[-2000:]
    finally:
        for process in (holder, follower, daemon):
            if process is not None:
                stop(process)

    statuses = {run.tags["dagster/partition"]: run.status for run in instance.get_runs()}
    assert statuses == {"hold": dg.DagsterRunStatus.FAILURE, "quick": dg.DagsterRunStatus.SUCCESS}
    assert instance.event_log_storage.get_concurrency_info("teacher").claimed_slots == []
    print(f"the next teacher step got the pool {waited:.1f} s after the kill")
