"""Where training runs: the command, environment and pod/task spec each Pipes client would get (offline)."""

from pathlib import Path

import dagster as dg
import pytest
from dagster_aws.pipes import PipesECSClient
from dagster_k8s import PipesK8sClient
from dagster_k8s.pipes import build_pod_body

from lamini_assets.config import ConfigError, load_config
from lamini_assets.defs.training import training_launch
from lamini_assets.training.config import LauncherConfig
from lamini_assets.training.job import TrainingJob


def job(store_root: str = "/mnt/lamini-artifacts") -> TrainingJob:
    return TrainingJob(
        student={"name": "flan-t5-small", "family": "encoder-decoder", "base": "from_config"},
        store_root=store_root, split_key="train_split/v1/abc/train_split.parquet", work_dir="/scratch/flan/ckpt1",
        dataset_version="v1", checkpoint_id="ckpt1", code_version="c0de", config_hash="cafe", split_hash="abc",
        run_id="run-1",
    )


def command_job(command: list[str]) -> TrainingJob:
    assert command[1:4] == ["-m", "lamini_assets.training.train", "--job"]
    return TrainingJob.from_json(command[4])


def test_subprocess_runs_the_script_with_the_current_interpreter() -> None:
    client, arguments = training_launch(LauncherConfig(env={"OMP_NUM_THREADS": "1"}), job())
    assert isinstance(client, dg.PipesSubprocessClient)
    assert Path(arguments["command"][0]).name.startswith("python")
    assert command_job(arguments["command"]) == job()
    assert arguments["env"]["OMP_NUM_THREADS"] == "1"


def test_k8s_pod_gets_the_image_command_env_and_gpu_spec() -> None:
    launcher = LauncherConfig(
        kind="k8s", image="registry.example/lamini-assets:1", namespace="training", store_root="/mnt/lamini-artifacts",
        env={"HF_HOME": "/mnt/hf"},
        base_pod_spec={"containers": [{"resources": {"limits": {"nvidia.com/gpu": "1"}},
                                       "volumeMounts": [{"name": "artifacts", "mountPath": "/mnt/lamini-artifacts"}]}],
                       "volumes": [{"name": "artifacts", "persistentVolumeClaim": {"claimName": "lamini"}}]},
    )
    client, arguments = training_launch(launcher, job())
    assert isinstance(client, PipesK8sClient)
    assert arguments["image"] == "registry.example/lamini-assets:1" and arguments["namespace"] == "training"
    assert arguments["command"][0] == "python" and command_job(arguments["command"]).store_root == "/mnt/lamini-artifacts"
    # The pod the client would create (Pipes adds its bootstrap variables to the same env).
    pod = build_pod_body("lamini-train", arguments["image"], arguments["command"],
                         {**arguments["env"], "DAGSTER_PIPES_CONTEXT": "x"}, None, arguments["base_pod_spec"])
    container = pod.spec.containers[0]
    assert container.image == "registry.example/lamini-assets:1" and container.command == arguments["command"]
    assert container.resources.limits == {"nvidia.com/gpu": "1"}
    assert {variable.name: variable.value for variable in container.env}["HF_HOME"] == "/mnt/hf"
    assert pod.spec.restart_policy == "Never"


def test_ecs_task_overrides_the_trainer_container(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")  # boto3 needs one to build the (unused) client
    launcher = LauncherConfig(
        kind="ecs", store_root="/mnt/efs/lamini", container_name="trainer",
        run_task_params={"taskDefinition": "lamini-train:3", "cluster": "gpu", "launchType": "EC2"},
    )
    client, arguments = training_launch(launcher, job("/mnt/efs/lamini"))
    assert isinstance(client, PipesECSClient)
    params = arguments["run_task_params"]
    assert params["taskDefinition"] == "lamini-train:3" and params["cluster"] == "gpu"
    (override,) = params["overrides"]["containerOverrides"]
    assert override["name"] == "trainer" and command_job(override["command"]).store_root == "/mnt/efs/lamini"
    assert {"name": "TOKENIZERS_PARALLELISM", "value": "false"} in override["environment"]


@pytest.mark.parametrize("launcher, message", [
    ("{kind: k8s, store_root: /mnt/a}", "training.launcher: Value error, kind k8s needs image"),
    ("{kind: ecs, store_root: /mnt/a, run_task_params: {cluster: x}}", "needs run_task_params.taskDefinition"),
    ("{kind: k8s, image: img}", "kind k8s needs store_root"),
])
def test_remote_launchers_need_their_target(tmp_path: Path, launcher: str, message: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(f"sources: []\ntraining:\n  launcher: {launcher}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_config(path)
