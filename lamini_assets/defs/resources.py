"""Every resource the assets use, built from the one pipeline config file."""

import json
import logging
import multiprocessing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import duckdb

import dagster as dg
from dagster_aws.s3 import S3Resource
from dagster_duckdb import DuckDBResource

from lamini_assets.config import ConfigError, PipelineConfig, StorageConfig, load_config
from lamini_assets.teacher import Teacher, TeacherConfig
from lamini_assets.warehouse import database_lock, publish_read_snapshot

# Teacher-calling assets share this Dagster concurrency pool (limit set in dagster.yaml).
TEACHER_POOL = "teacher"
# Teacher progress lines (done/total, rate, ETA) also go to this Python logger, so a terminal that
# hides Dagster's INFO lines (the demo's) can still show them.
teacher_progress_logger = logging.getLogger("lamini_assets.teacher")


class PipelineConfigResource(dg.ConfigurableResource):
    """The validated pipeline config file (LAMINI_CONFIG; configs/demo.yaml by default)."""

    config_path: str

    def load(self) -> PipelineConfig:
        """The config as it is now on disk; with S3 storage, its artifact_store() uses dagster-aws's
        S3Resource client. An error becomes a `dagster.Failure` whose description is the one line naming
        the file and key, so the UI and CLI show it first (not a traceback)."""
        try:
            config = load_config(self.config_path)
        except ConfigError as error:
            raise dg.Failure(description=str(error), allow_retries=False) from error
        if config.storage.artifacts_uri is not None:
            config.attach_s3_client(s3_resource(config.storage).get_client())
        return config


def s3_resource(storage: StorageConfig) -> S3Resource:
    """dagster-aws's S3 resource for the configured endpoint and region (credentials: the AWS chain)."""
    return S3Resource(endpoint_url=storage.s3_endpoint_url, region_name=storage.s3_region, max_attempts=3)


class SerialDuckDBResource(DuckDBResource):
    """DuckDBResource whose connections take turns across processes (warehouse.database_lock).

    DuckDB allows one writing process per file. Parallel runs, multiprocess steps and Celery workers
    on the DuckDB host wait for the lock instead of failing on "Could not set lock on file"; assets
    keep connections short (read, compute, write), so the waits are short too.
    """

    lock_timeout_seconds: float = 1800.0
    # Where readers find a copy of the file while runs write it (warehouse.publish_read_snapshot);
    # refreshed when a run executed in one process ends, else by the read_snapshot sensor. None: no copy.
    read_snapshot: Optional[str] = None

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with database_lock(Path(self.database), self.lock_timeout_seconds):
            with super().get_connection() as conn:
                yield conn

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        # A step process of the multiprocess executor (a multiprocessing child) is not the end of its run:
        # copying the file there cost one copy per step; the read_snapshot sensor copies once runs end.
        if self.read_snapshot is not None and multiprocessing.parent_process() is None:
            publish_read_snapshot(self.database, self.read_snapshot, self.lock_timeout_seconds)


class TeacherResource(dg.ConfigurableResource):
    """The teacher LLM behind every generation and response call. backend `offline` is a
    deterministic stand-in for demos and tests, NOT a language model; backend `openai` is any
    OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp server, TGI)."""

    backend: str
    model: str
    base_url: Optional[str] = None
    api_key: Optional[str] = None  # from the env var the config names (dg.EnvVar); never logged or cached
    timeout_seconds: float
    system_prompt: str
    cache_dir: str
    # The rest of the config's `teacher:` section (sampling, budgets, retries, cache mode, prices) as
    # JSON: Dagster config maps cannot hold the nulls that mean "server default".
    settings_json: str

    @classmethod
    def from_config(cls, config: PipelineConfig) -> "TeacherResource":
        teacher = config.teacher
        fields = {"backend", "model", "base_url", "timeout_seconds", "system_prompt", "cache_dir"}
        return cls(
            backend=teacher.backend,
            model=teacher.model,
            base_url=teacher.base_url,
            api_key=None if teacher.is_offline else dg.EnvVar(teacher.api_key_env),
            timeout_seconds=teacher.timeout_seconds,
            system_prompt=teacher.system_prompt,
            cache_dir=str(config.teacher_cache_dir),
            settings_json=teacher.model_dump_json(exclude=fields),
        )

    def teacher_config(self) -> TeacherConfig:
        return TeacherConfig.model_validate({
            **json.loads(self.settings_json),
            "backend": self.backend,
            "model": self.model,
            "base_url": self.base_url,
            "timeout_seconds": self.timeout_seconds,
            "system_prompt": self.system_prompt,
            "cache_dir": self.cache_dir,
        })

    def client(self, log: Callable[[str], None]) -> Teacher:
        def emit(line: str) -> None:
            log(line)
            teacher_progress_logger.info(line)

        return Teacher(self.teacher_config(), api_key=self.api_key, log=emit)


def build_resources(config: PipelineConfig, config_path: str) -> dict[str, object]:
    config.state_dir.mkdir(parents=True, exist_ok=True)
    return {
        "pipeline": PipelineConfigResource(config_path=config_path),
        "duckdb": SerialDuckDBResource(
            database=str(config.duckdb_path),
            read_snapshot=str(config.read_snapshot_path) if config.storage.read_snapshot else None,
        ),
        "teacher": TeacherResource.from_config(config),
        "s3": s3_resource(config.storage),
    }
