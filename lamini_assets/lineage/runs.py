"""What the Dagster instance knows about a run, read straight from its SQLite run storage.

Importing dagster costs ~1 s, half the audit's cold budget, so the audit reads the default run
storage (`$DAGSTER_HOME/history/runs.db`, table `runs`) read-only with sqlite3. An instance on
Postgres or MySQL, or no DAGSTER_HOME, gives no run details; the run id is still shown.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


def run_storage_path(dagster_home: str | None = None) -> Path | None:
    home = dagster_home or os.environ.get("DAGSTER_HOME")
    if not home:
        return None
    path = Path(home) / "history" / "runs.db"
    return path if path.is_file() else None


def _iso(seconds: float | None) -> str | None:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat(timespec="seconds") if seconds else None


def run_info(run_id: str | None, dagster_home: str | None = None) -> dict[str, Any] | None:
    """Job, status, partition and start/end times of one run, or None when unknown or unreadable."""
    path = run_storage_path(dagster_home)
    if not run_id or path is None:
        return None
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2) as conn:
            row = conn.execute(
                "select pipeline_name, status, partition, start_time, end_time from runs where run_id = ?", (run_id,)
            ).fetchone()
    except sqlite3.Error:
        return None
    if row is None:
        return None
    job, status, partition, start, end = row
    return {"job": job, "status": status, "partition": partition, "started": _iso(start), "ended": _iso(end),
            "ui_path": f"/runs/{run_id}"}
