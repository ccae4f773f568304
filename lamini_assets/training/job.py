"""One training job: everything the standalone script needs, as JSON, and the ids that name its output.

The orchestrator builds a `TrainingJob` and passes it on the command line, so the script runs the same
under Dagster Pipes (subprocess, Kubernetes pod, ECS task) and by hand.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lamini_assets.training.config import StudentSpec

TRAINING_PACKAGE = Path(__file__).resolve().parent
SUMMARY_FILE = "training_summary.json"  # in each published checkpoint folder
JOB_FILE = "training_job.json"  # the job that produced it (the script's whole config)
LOSS_CURVE_FILE = "loss_curve.png"
BASE_SUBFOLDER = "base"  # the untrained initial model of a from_config student


def code_version() -> str:
    """Hash of the training package's source: changes when the code that trains a checkpoint does."""
    digest = hashlib.sha256()
    for path in sorted(TRAINING_PACKAGE.glob("*.py")):
        digest.update(path.name.encode("utf-8"))
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def config_hash(spec: StudentSpec) -> str:
    return hashlib.sha256(spec.model_dump_json().encode("utf-8")).hexdigest()[:12]


def checkpoint_id(spec: StudentSpec, dataset_version: str, split_hash: str, code: str) -> str:
    """Same spec, data, split and code: same id, so a rerun after a kill resumes the same checkpoint."""
    payload = "\x1f".join([config_hash(spec), dataset_version, split_hash, code])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


@dataclass
class TrainingJob:
    student: dict[str, Any]  # StudentSpec as JSON
    store_root: str  # the artifact store's root as the training host sees it: s3://bucket/prefix or a path
    split_key: str  # artifact key of the split parquet (rows with text)
    work_dir: str  # trainer checkpoints (resume) and the from_config base, on the training host
    dataset_version: str
    checkpoint_id: str
    code_version: str
    config_hash: str
    split_hash: str
    run_id: str = "standalone"
    extra: dict[str, Any] = field(default_factory=dict)
    cache_dir: str = ""  # local copies of S3 folders on the training host ("" = <work_dir>/artifact_cache)

    @property
    def spec(self) -> StudentSpec:
        return StudentSpec.model_validate(self.student)

    @property
    def checkpoint_key(self) -> str:
        return f"checkpoints/{self.student['name']}/{self.checkpoint_id}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "TrainingJob":
        return cls(**json.loads(text))
