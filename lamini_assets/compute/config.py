"""Config sections `execution:` (which Dagster executor runs the steps) and `compute:` (where scripts
launched through Dagster Pipes run: training and evaluation)."""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator


class CeleryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    broker: str = "redis://127.0.0.1:6379/0"
    backend: str = "redis://127.0.0.1:6379/1"
    # Extra Celery settings (celery's own names), e.g. {"worker_prefetch_multiplier": 1}.
    config_source: dict[str, Any] = Field(default_factory=dict)


class K8sExecutorConfig(BaseModel):
    """dagster-k8s `k8s_job_executor`: one Kubernetes Job per step (the image comes from the run launcher)."""

    model_config = ConfigDict(extra="forbid")

    job_namespace: Optional[str] = None
    max_concurrent: Optional[int] = Field(default=None, gt=0)
    env_vars: list[str] = Field(default_factory=list)  # "NAME" (copied from the launcher) or "NAME=value"
    step_k8s_config: dict[str, Any] = Field(default_factory=dict)  # container_config, pod_spec_config, ...


class ExecutionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # multiprocess: Dagster's default, steps in subprocesses of the run (one machine).
    # celery: dagster-celery, steps as Celery tasks on workers reading a broker (Redis).
    # k8s: dagster-k8s, each step a Kubernetes Job.
    executor: Literal["multiprocess", "celery", "k8s"] = "multiprocess"
    celery: CeleryConfig = Field(default_factory=CeleryConfig)
    k8s: K8sExecutorConfig = Field(default_factory=K8sExecutorConfig)


class K8sConfig(BaseModel):
    """A Pipes script as a pod (dagster-k8s PipesK8sClient)."""

    model_config = ConfigDict(extra="forbid")

    image: str  # has this project and its dependencies (the same image as the code location)
    namespace: str = "default"
    kubeconfig_file: Optional[str] = None
    load_incluster_config: Optional[bool] = None  # true when Dagster itself runs in the cluster
    env: dict[str, str] = Field(default_factory=dict)
    # Merged into the pod spec: GPUs, node selectors, tolerations, service account, e.g.
    # {"containers": [{"resources": {"limits": {"nvidia.com/gpu": 1}}}], "nodeSelector": {...}}
    base_pod_spec: dict[str, Any] = Field(default_factory=dict)
    poll_interval_seconds: float = Field(default=10.0, gt=0)


class EcsConfig(BaseModel):
    """A Pipes script as an ECS task (dagster-aws PipesECSClient)."""

    model_config = ConfigDict(extra="forbid")

    cluster: str
    task_definition: str  # family[:revision] or ARN; its container has this project's image
    container_name: str = "lamini"
    launch_type: Literal["FARGATE", "EC2"] = "FARGATE"
    subnets: list[str] = Field(default_factory=list)
    security_groups: list[str] = Field(default_factory=list)
    assign_public_ip: bool = False
    region: Optional[str] = None
    env: dict[str, str] = Field(default_factory=dict)


class ComputeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # subprocess (default): a local child process. k8s / ecs: a pod or task on other hosts (GPUs).
    backend: Literal["subprocess", "k8s", "ecs"] = "subprocess"
    # How Dagster and the script exchange context and messages. k8s and ecs always use s3; a
    # subprocess uses local temp files unless s3 is chosen (useful to rehearse the remote path).
    channel: Literal["local", "s3"] = "local"
    # Bucket and prefix for the Pipes context and messages; default: storage.artifacts_uri + "/pipes".
    pipes_uri: Optional[str] = None
    message_poll_seconds: float = Field(default=5.0, gt=0)
    python: str = "python"  # the interpreter inside the image (k8s, ecs); subprocess uses this venv's
    env: dict[str, str] = Field(default_factory=dict)  # extra environment for every script (e.g. OMP_NUM_THREADS)
    # The artifact store as the script's host sees it. Default: storage.artifacts_uri (S3) when set, else
    # the local artifacts folder (subprocess only; a pod needs S3 or a mounted path such as /mnt/artifacts).
    store_root: Optional[str] = None
    # Scratch space on a k8s/ECS host: resumable trainer checkpoints, copies of S3 folders. A subprocess
    # uses the state folder instead.
    work_dir: str = "/tmp/lamini-work"
    k8s: Optional[K8sConfig] = None
    ecs: Optional[EcsConfig] = None

    @model_validator(mode="after")
    def _backend_has_its_section(self) -> ComputeConfig:
        if self.backend in {"k8s", "ecs"}:
            if getattr(self, self.backend) is None:
                raise ValueError(f"backend '{self.backend}' needs a '{self.backend}:' section")
            self.channel = "s3"
        return self
