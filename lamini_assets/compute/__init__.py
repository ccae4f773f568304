"""Where work runs beyond one process: the executor for steps and the Pipes target for heavy scripts."""

from lamini_assets.compute.config import CeleryConfig, ComputeConfig, EcsConfig, ExecutionConfig, K8sConfig

__all__ = ["CeleryConfig", "ComputeConfig", "EcsConfig", "ExecutionConfig", "K8sConfig"]
