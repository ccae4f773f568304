"""The pipeline config file: one validated YAML document for sources, teacher, generation and storage."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from lamini_assets.artifacts import ArtifactStore, LocalArtifactStore, S3ArtifactStore, S3Location
from lamini_assets.compute.config import ComputeConfig, ExecutionConfig
from lamini_assets.dataset.config import DatasetConfig
from lamini_assets.diversity.config import DiversityConfig
from lamini_assets.evaluation.config import EvaluationConfig
from lamini_assets.generation.config import GenerationConfig, ResponsesConfig
from lamini_assets.schema import SEED_SOURCES, require_unique_names
from lamini_assets.sources import SourceSpec
from lamini_assets.teacher.config import TeacherConfig
from lamini_assets.training.config import Students, TrainingConfig

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG_PATH = PROJECT_ROOT / "configs" / "demo.yaml"
CONFIG_ENV_VAR = "LAMINI_CONFIG"
STATE_DIR_ENV_VAR = "LAMINI_STATE_DIR"


class ConfigError(ValueError):
    """A config file that cannot be read or validated; the message names the file and key."""


class DedupConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Which copy of an exact duplicate stays: the first pool in this list wins. Human-written
    # seeds come first because they are the ones the generated data is judged against.
    source_priority: list[str] = Field(default_factory=lambda: list(SEED_SOURCES))

    @field_validator("source_priority")
    @classmethod
    def _covers_every_pool(cls, value: list[str]) -> list[str]:
        if sorted(value) != sorted(SEED_SOURCES):
            raise ValueError(f"must list each of {', '.join(SEED_SOURCES)} exactly once")
        return value


class AutomationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Teacher-calling assets (instructions, responses) cost money: Dagster's declarative automation
    # starts them by itself only when this is true. SQL models and the dataset always follow upstream.
    teacher_assets: bool = False


class StorageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Run state (DuckDB file, teacher cache, artifacts). Relative paths resolve against the
    # project root; LAMINI_STATE_DIR overrides it so tests and CI can isolate their state.
    state_dir: str = ".lamini"
    duckdb_file: str = "lamini.duckdb"
    artifacts_dir: str = "artifacts"
    # Put every artifact on S3 instead of artifacts_dir: s3://bucket/prefix. Credentials come from the
    # usual AWS chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an instance role), never here.
    artifacts_uri: Optional[str] = None
    s3_endpoint_url: Optional[str] = None  # an S3-compatible store: MinIO, Ceph, R2, moto (http://127.0.0.1:9000)
    s3_region: Optional[str] = None
    artifact_cache_dir: str = "artifact_cache"  # local copies of S3 folders (local_dir), under the state dir
    hf_datasets_cache_dir: str = "hf_datasets_cache"  # hf_dataset sources' Arrow cache and downloads, under the state dir
    # A copy of the DuckDB file for readers while runs write (read_snapshot/<duckdb_file>), refreshed after each run.
    read_snapshot: bool = True

    @field_validator("artifacts_uri")
    @classmethod
    def _s3_uri(cls, value: Optional[str]) -> Optional[str]:
        if value is not None:
            S3Location.parse(value)  # raises with the expected shape
        return value

    def s3_location(self) -> S3Location | None:
        if self.artifacts_uri is None:
            return None
        return S3Location.parse(self.artifacts_uri, endpoint_url=self.s3_endpoint_url, region_name=self.s3_region)


class PipelineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sources: list[SourceSpec]
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    teacher: TeacherConfig = Field(default_factory=TeacherConfig)
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    responses: ResponsesConfig = Field(default_factory=ResponsesConfig)
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    automation: AutomationConfig = Field(default_factory=AutomationConfig)
    diversity: DiversityConfig = Field(default_factory=DiversityConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    students: Students = Field(default_factory=list)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)
    compute: ComputeConfig = Field(default_factory=ComputeConfig)
    # Directory that relative source paths resolve against: the config file's own folder.
    base_dir: Path = Field(default=PROJECT_ROOT, exclude=True)
    _s3_client: Any = PrivateAttr(default=None)

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, value: list[SourceSpec]) -> list[SourceSpec]:
        require_unique_names([spec.name for spec in value], "source")
        return value

    def resolve(self, path: str | Path) -> Path:
        """A path from the config: relative ones resolve against the config file's folder."""
        path = Path(path)
        return path if path.is_absolute() else self.base_dir / path

    def sources_for(self, seed_source: str) -> list[SourceSpec]:
        """The configured sources that feed one seed pool."""
        return [spec for spec in self.sources if spec.pool == seed_source]

    @property
    def state_dir(self) -> Path:
        configured = os.environ.get(STATE_DIR_ENV_VAR) or self.storage.state_dir
        path = Path(configured)
        return path if path.is_absolute() else PROJECT_ROOT / path

    @property
    def duckdb_path(self) -> Path:
        return self.state_dir / self.storage.duckdb_file

    @property
    def artifacts_dir(self) -> Path:
        return self.state_dir / self.storage.artifacts_dir

    @property
    def novelty_dir(self) -> Path:
        """Where the seed pool's novelty index is saved (generation builds it, the dataset reuses it)."""
        return self.artifacts_dir / "novelty"

    def artifact_store(self) -> ArtifactStore:
        """The one artifact store every stage writes through: S3 when storage.artifacts_uri is set, else a folder.

        In Dagster runs the S3 client comes from dagster-aws's S3Resource (PipelineConfigResource attaches
        it); elsewhere (scripts, the audit CLI) boto3 builds one from the same settings.
        """
        location = self.storage.s3_location()
        if location is None:
            return LocalArtifactStore(self.artifacts_dir)
        client = self._s3_client if self._s3_client is not None else default_s3_client(location)
        return S3ArtifactStore(client, location, self.state_dir / self.storage.artifact_cache_dir)

    def attach_s3_client(self, client: Any) -> "PipelineConfig":
        """Use this boto3 S3 client for the artifact store (the Dagster layer passes S3Resource's)."""
        self._s3_client = client
        return self

    @property
    def read_snapshot_path(self) -> Path:
        return self.state_dir / "read_snapshot" / self.storage.duckdb_file

    @property
    def hf_datasets_cache_dir(self) -> Path:
        return self.state_dir / self.storage.hf_datasets_cache_dir

    @property
    def teacher_cache_dir(self) -> Path:
        path = Path(self.teacher.cache_dir)
        return path if path.is_absolute() else self.state_dir / path


def default_s3_client(location: S3Location) -> Any:
    """A boto3 S3 client for the configured endpoint and region, failing fast on an unreachable endpoint."""
    import boto3  # only S3 configs need it
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=location.endpoint_url,
        region_name=location.region_name,
        config=Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"}),
    )


def config_path_from_env() -> Path:
    """The config file that LAMINI_CONFIG names, or the demo config."""
    return Path(os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_PATH)


def load_config(path: Path | str | None = None) -> PipelineConfig:
    """Read and validate a pipeline config; errors name the file and the offending key."""
    path = Path(path) if path is not None else config_path_from_env()
    if not path.is_file():
        raise ConfigError(f"{path}: config file does not exist (set {CONFIG_ENV_VAR} to another file)")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, got {type(document).__name__}")
    try:
        return PipelineConfig.model_validate(
            {**document, "base_dir": path.resolve().parent}, context={"base_dir": path.resolve().parent}
        )
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc'])}: {issue['msg']}" for issue in error.errors()
        )
        raise ConfigError(f"{path}: {problems}") from error
