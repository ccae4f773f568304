"""Processes that write the one DuckDB file take turns through warehouse.database_lock: no write lost."""

import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from lamini_assets.warehouse import DatabaseLockTimeout, database_lock, lock_path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def test_parallel_writer_processes_lose_no_write(tmp_path: Path) -> None:
    database = tmp_path / "lamini.duckdb"
    partitions, rounds = ["alpaca", "generated_p3", "original_flan", "self_instruct_with_topic"], 15
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    writers = [
        subprocess.Popen([sys.executable, "-m", "tests.support.lock_writer", str(database), part, str(rounds)],
                         cwd=PROJECT_ROOT, env=env, stderr=subprocess.PIPE, text=True)
        for part in partitions
    ]
    try:
        errors = [writer.communicate(timeout=240)[1] for writer in writers]
    finally:
        for writer in writers:
            writer.kill()
    assert [writer.returncode for writer in writers] == [0] * len(partitions), errors
    with duckdb.connect(str(database), read_only=True) as conn:
        writes = conn.execute("select part, count(*), count(distinct round) from writes group by part order by part").fetchall()
        rows = conn.execute("select part, count(*), min(round), max(round) from rows group by part order by part").fetchall()
    assert writes == [(part, rounds, rounds) for part in sorted(partitions)]  # every write arrived, once
    assert rows == [(part, 1000, rounds - 1, rounds - 1) for part in sorted(partitions)]  # the last replace won, whole


def test_lock_is_reentrant_released_on_death_and_times_out_naming_the_holder(tmp_path: Path) -> None:
    database = tmp_path / "lamini.duckdb"
    with database_lock(database):
        with database_lock(database):  # nested connections in one process must not deadlock
            pass
        holder = subprocess.Popen(
            [sys.executable, "-c", "import sys, time\nfrom lamini_assets.warehouse import database_lock\n"
             f"with database_lock({str(database)!r}, timeout_seconds=0.3): pass"],
            cwd=PROJECT_ROOT, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}, stderr=subprocess.PIPE, text=True,
        )
        _, stderr = holder.communicate(timeout=60)
        assert holder.returncode != 0 and f"process {os.getpid()} still holds it" in stderr

    # A process killed while holding the lock leaves it free: the kernel drops flock locks on exit.
    sleeper = subprocess.Popen(
        [sys.executable, "-c", "import time\nfrom lamini_assets.warehouse import database_lock\n"
         f"with database_lock({str(database)!r}):\n    print('held', flush=True); time.sleep(60)"],
        cwd=PROJECT_ROOT, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert sleeper.stdout is not None and sleeper.stdout.readline().strip() == "held"
        with pytest.raises(DatabaseLockTimeout, match=str(lock_path(database))):
            with database_lock(database, timeout_seconds=0.2):
                pass
        sleeper.kill()
        sleeper.wait(timeout=10)
        started = time.monotonic()
        with database_lock(database, timeout_seconds=5):
            assert time.monotonic() - started < 1
    finally:
        sleeper.kill()
