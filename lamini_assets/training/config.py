"""The `students:` and `training:` sections of the pipeline config: who is trained, on what, and where.

Defaults are LaMini-LM's (5 epochs; learning rate 5e-4 for encoder-decoder students, 2e-5 for
decoder-only ones) except the size of the `from_config` students, which are tiny so that a CPU trains
them in minutes. Bad specs fail when the config is loaded, naming the key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from lamini_assets.schema import INSTRUCTION_SOURCES, require_known_sources, require_unique_names

FROM_CONFIG = "from_config"
Family = Literal["encoder-decoder", "decoder-only"]

# LaMini-LM, section 4.1: the learning rate per architecture family.
LAMINI_LEARNING_RATES: dict[str, float] = {"encoder-decoder": 5e-4, "decoder-only": 2e-5}
# LoRA targets when none are configured: T5's attention query/value, GPT-2's fused c_attn.
DEFAULT_LORA_TARGETS: dict[str, list[str]] = {"encoder-decoder": ["q", "v"], "decoder-only": ["c_attn"]}


class Hyperparameters(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: float = Field(5.0, gt=0)  # LaMini trained every student for 5 epochs
    max_steps: int = Field(-1, ge=-1)  # > 0 stops after this many optimiser steps (demo, smoke runs)
    learning_rate: float | None = Field(None, gt=0)  # None: LaMini's rate for the family
    per_device_batch_size: int = Field(8, ge=1)
    gradient_accumulation_steps: int = Field(1, ge=1)
    weight_decay: float = Field(0.0, ge=0)
    warmup_steps: int = Field(0, ge=0)
    lr_scheduler_type: str = "linear"
    seed: int = 0  # model init, data order, dropout
    save_steps: int = Field(200, ge=1)  # a resumable trainer checkpoint every this many steps
    logging_steps: int = Field(10, ge=1)  # a point of the loss curve every this many steps


class TinyModelConfig(BaseModel):
    """Size of a `from_config` student: a randomly initialised T5 or GPT-2 of this shape."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    vocab_size: int = Field(2000, ge=300)  # of the BPE tokenizer trained on the dataset
    hidden_size: int = Field(64, ge=8)
    layers: int = Field(2, ge=1)  # per stack (T5 has an encoder and a decoder stack)
    heads: int = Field(4, ge=1)
    feed_forward_size: int = Field(128, ge=8)

    @model_validator(mode="after")
    def _heads_divide_hidden(self) -> "TinyModelConfig":
        if self.hidden_size % self.heads:
            raise ValueError(f"hidden_size {self.hidden_size} must be a multiple of heads {self.heads}")
        return self


class LoraSettings(BaseModel):
    """Parameter-efficient fine-tuning with peft's LoRA (the base weights stay frozen)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    r: int = Field(8, ge=1)
    alpha: int = Field(16, ge=1)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] | None = None  # None: DEFAULT_LORA_TARGETS of the family


class StudentSpec(BaseModel):
    """One student of the herd: a partition of `student_checkpoints`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # partition key and artifact folder
    family: Family
    # `from_config`: a tiny random model and a tokenizer trained on the dataset (offline default);
    # otherwise a hub id (e.g. google/flan-t5-small, gpt2) or a local save_pretrained folder.
    base: str = FROM_CONFIG
    tiny: TinyModelConfig = Field(default_factory=TinyModelConfig)
    max_source_length: int = Field(512, gt=0)  # tokens of instruction (decoder-only: the whole prompt)
    max_target_length: int = Field(512, gt=0)  # tokens of response, EOS included
    sources: list[str] = Field(default_factory=lambda: list(INSTRUCTION_SOURCES))
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)
    lora: LoraSettings | None = None
    # Decoder-only: concatenate whole examples up to max_source_length + max_target_length tokens.
    packing: bool = False

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, value: list[str]) -> list[str]:
        require_known_sources(value)
        if not value:
            raise ValueError("train on at least one source")
        return sorted(set(value))

    @field_validator("base")
    @classmethod
    def _base_exists(cls, value: str, info: ValidationInfo) -> str:
        """A local base must exist (resolved against the config's folder); a hub id must be cached offline."""
        if value == FROM_CONFIG:
            return value
        base_dir = Path((info.context or {}).get("base_dir", Path.cwd()))
        looks_local = value.startswith(("/", "./", "../", "~")) or value.count("/") > 1
        candidate = Path(value).expanduser()
        candidate = candidate if candidate.is_absolute() else base_dir / candidate
        if candidate.exists():
            if not (candidate / "config.json").is_file():
                raise ValueError(f"local base {candidate} has no config.json (expected a save_pretrained folder)")
            return str(candidate.resolve())
        if looks_local:
            raise ValueError(f"local base path {candidate} does not exist")
        if os.environ.get("HF_HUB_OFFLINE") == "1":
            from huggingface_hub import try_to_load_from_cache

            if not isinstance(try_to_load_from_cache(value, "config.json"), str):
                raise ValueError(
                    f"{value!r} is neither a local folder nor in the hub cache, and HF_HUB_OFFLINE=1 "
                    "forbids downloading it"
                )
        return value

    @model_validator(mode="after")
    def _packing_needs_decoder(self) -> "StudentSpec":
        if self.packing and self.family != "decoder-only":
            raise ValueError("packing is for decoder-only students (encoder-decoder batches pad each side)")
        return self

    @property
    def learning_rate(self) -> float:
        return self.hyperparameters.learning_rate or LAMINI_LEARNING_RATES[self.family]

    @property
    def lora_targets(self) -> list[str]:
        assert self.lora is not None
        return self.lora.target_modules or DEFAULT_LORA_TARGETS[self.family]


class SplitConfig(BaseModel):
    """The seeded split of a dataset version, stratified by instruction_source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 0
    validation_fraction: float = Field(0.02, ge=0, lt=0.5)
    test_fraction: float = Field(0.02, ge=0, lt=0.5)


class EvaluationOnlySet(BaseModel):
    """Instructions that must never train a student (e.g. Self-Instruct's user-oriented set)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str  # resolved against the config file's folder
    # self_instruct: {instruction, instances[{input}]} per line; text_field: one JSONL field per line.
    format: Literal["self_instruct", "text_field"] = "self_instruct"
    field: str = "instruction"  # for text_field

    @field_validator("path")
    @classmethod
    def _exists(cls, value: str, info: ValidationInfo) -> str:
        path = Path(value).expanduser()
        path = path if path.is_absolute() else Path((info.context or {}).get("base_dir", Path.cwd())) / path
        if not path.is_file():
            raise ValueError(f"evaluation-only file {path} does not exist")
        return str(path.resolve())


class LauncherConfig(BaseModel):
    """Where the training script runs: a local subprocess, a Kubernetes pod or an ECS task.

    Remote launchers pass the artifact store's root (`store_root`, e.g. s3://bucket/lamini) to the
    script, which reads the split from it and publishes the checkpoint to it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["subprocess", "k8s", "ecs"] = "subprocess"
    python: str = "python"  # the interpreter in the image (subprocess: the current one when "python")
    store_root: str | None = None  # remote launchers: the store as the pod sees it
    work_dir: str = "/tmp/lamini-training"  # remote launchers: the trainer's resumable checkpoints
    env: dict[str, str] = Field(default_factory=dict)  # extra environment for the script
    # k8s: image, namespace and a base pod spec (GPU resources, node selector, volumes).
    image: str | None = None
    namespace: str | None = None
    base_pod_spec: dict[str, Any] = Field(default_factory=dict)
    # ecs: boto3 `run_task` parameters (taskDefinition, cluster, networkConfiguration, ...).
    run_task_params: dict[str, Any] = Field(default_factory=dict)
    container_name: str = "trainer"  # ecs: the task definition's container that runs the script

    @model_validator(mode="after")
    def _remote_needs_target(self) -> "LauncherConfig":
        if self.kind == "k8s" and not self.image:
            raise ValueError("kind k8s needs image (the project image with the training script)")
        if self.kind == "ecs" and "taskDefinition" not in self.run_task_params:
            raise ValueError("kind ecs needs run_task_params.taskDefinition")
        if self.kind != "subprocess" and not self.store_root:
            raise ValueError(f"kind {self.kind} needs store_root: the artifact store the remote host reads and writes")
        return self


class TrainingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    split: SplitConfig = Field(default_factory=SplitConfig)
    evaluation_only: list[EvaluationOnlySet] = Field(default_factory=list)
    launcher: LauncherConfig = Field(default_factory=LauncherConfig)


def unique_student_names(students: list[StudentSpec]) -> list[StudentSpec]:
    require_unique_names([student.name for student in students], "student")
    return students


# The `students:` section: a list with unique names.
Students = Annotated[list[StudentSpec], AfterValidator(unique_student_names)]
