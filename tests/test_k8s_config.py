"""The Kubernetes-flavoured config (configs/k8s.yaml) loads and validates without a cluster."""

import os
import subprocess
import sys
from pathlib import Path

import yaml

from lamini_assets.config import load_config
from lamini_assets.defs import build_definitions

PROJECT_ROOT = Path(__file__).resolve().parents[1]
K8S_CONFIG = PROJECT_ROOT / "configs" / "k8s.yaml"


def test_k8s_definitions_validate_with_the_dagster_cli() -> None:
    validate = subprocess.run(
        [str(Path(sys.executable).with_name("dagster")), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=PROJECT_ROOT, env={**os.environ, "LAMINI_CONFIG": str(K8S_CONFIG), "OPENAI_API_KEY": "unused"},
        capture_output=True, text=True, timeout=300,
    )
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert "Validation successful" in validate.stdout + validate.stderr


def test_k8s_config_selects_the_k8s_executor_and_pipes_client() -> None:
    config = load_config(K8S_CONFIG)
    defs = build_definitions(K8S_CONFIG)
    assert defs.executor is not None and defs.executor.name == "k8s"
    assert defs.executor.executor_creation_fn is not None
    assert config.compute.channel == "s3"  # remote backends always exchange Pipes messages through S3
    assert config.storage.s3_location().bucket == "lamini-artifacts"


def test_helm_values_name_what_the_config_needs() -> None:
    values = yaml.safe_load((PROJECT_ROOT / "deploy" / "k8s" / "values.yaml").read_text())
    deployment = values["dagster-user-deployments"]["deployments"][0]
    env = {item["name"]: item.get("value") for item in deployment["env"]}
    assert env["LAMINI_CONFIG"] == "/app/configs/k8s.yaml" and env["LAMINI_STATE_DIR"] == "/var/lamini"
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert deployment["dagsterApiGrpcArgs"] == ["-f", "definitions.py"]
