"""The run launcher named in dagster.yaml (outside `defs/`: every Dagster process imports it with the
instance, so it must not pull in the pipeline): Dagster's default one, plus a health check the run
monitor uses to notice a run whose worker process is gone (SIGKILL, OOM kill, a closed laptop).

Dagster's DefaultRunLauncher cannot say whether a run's worker is alive, so a killed run stays
STARTED forever and keeps its slot of the `teacher` pool. With this check the monitoring daemon
(`make ui` runs it) marks such a run failed, and `free_slots_after_run_end_seconds` then frees its
slots. The worker's pid is read from the run's own engine events ("Started process for run",
"multiprocess executor: parent process (pid ...)"), so runs started from the CLI are covered too.
It checks processes on this machine: the local deployment this launcher is for.
"""

from __future__ import annotations

import psutil
from dagster import DagsterInstance, DagsterRun, DefaultRunLauncher
from dagster._core.events import DagsterEventType
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus

# The pid events come first in a run's log; no need to read a long run's whole history.
_EVENTS_TO_SCAN = 200


def run_worker_pid(instance: DagsterInstance, run_id: str) -> tuple[int, float] | None:
    """The pid of the run's worker process and when it reported it, from the run's engine events."""
    records = instance.event_log_storage.get_records_for_run(
        run_id, of_type=DagsterEventType.ENGINE_EVENT, limit=_EVENTS_TO_SCAN, ascending=True
    ).records
    for record in records:
        event = record.event_log_entry.dagster_event
        data = event.engine_event_data if event is not None else None
        pid = data.metadata.get("pid") if data is not None and data.metadata else None
        if pid is not None:
            try:
                return int(str(pid.value)), record.event_log_entry.timestamp
            except ValueError:
                continue
    return None


def process_alive(pid: int, reported_at: float) -> bool:
    """The process is running, is not a zombie, and is the one that reported (not a reused pid)."""
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and process.create_time() <= reported_at + 1.0
    except psutil.Error:  # no such process, or gone while we looked
        return False


class LocalRunLauncher(DefaultRunLauncher):
    """DefaultRunLauncher whose run workers the run monitor can check (local processes)."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        found = run_worker_pid(self._instance, run.run_id)
        if found is None:  # not reported yet: the worker is still starting
            return CheckRunHealthResult(WorkerStatus.RUNNING, "no run worker pid reported yet")
        pid, reported_at = found
        if process_alive(pid, reported_at):
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"run worker pid {pid} is alive")
        return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker process (pid {pid}) is gone: killed or crashed")
