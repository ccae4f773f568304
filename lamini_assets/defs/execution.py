"""The executor that runs steps, from the config's `execution:` section.

multiprocess (default) leaves Dagster's own default; `celery` hands each step to dagster-celery workers
through a Redis broker; `k8s` runs each step as a Kubernetes Job (dagster-k8s). Celery workers take the
same broker settings: `python -m lamini_assets.defs.execution celery-worker-yaml` prints their `-y` file.
"""

from __future__ import annotations

import sys
from typing import Any

import dagster as dg
import yaml

from lamini_assets.compute import ExecutionConfig
from lamini_assets.config import load_config


def celery_executor_config(execution: ExecutionConfig) -> dict[str, Any]:
    celery = execution.celery
    settings: dict[str, Any] = {"broker": celery.broker, "backend": celery.backend}
    if celery.config_source:
        settings["config_source"] = celery.config_source
    return settings


def executor_for(execution: ExecutionConfig) -> dg.ExecutorDefinition | None:
    """The configured executor, or None for Dagster's default (multiprocess)."""
    if execution.executor == "celery":
        from dagster_celery import celery_executor

        return celery_executor.configured(celery_executor_config(execution), name="celery")
    if execution.executor == "k8s":
        from dagster_k8s import k8s_job_executor

        settings = execution.k8s.model_dump(exclude_none=True)
        settings = {key: value for key, value in settings.items() if value not in ({}, [])}
        return k8s_job_executor.configured(settings, name="k8s")
    return None


def celery_worker_yaml(execution: ExecutionConfig) -> str:
    """The `-y` file of `dagster-celery worker start`: the executor's broker settings."""
    return yaml.safe_dump({"execution": {"config": celery_executor_config(execution)}}, sort_keys=False)


if __name__ == "__main__":
    if sys.argv[1:] != ["celery-worker-yaml"]:
        sys.exit("usage: python -m lamini_assets.defs.execution celery-worker-yaml  (reads LAMINI_CONFIG)")
    print(celery_worker_yaml(load_config().execution), end="")
