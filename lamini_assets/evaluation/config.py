"""The `evaluation:` section of the pipeline config: benchmarks, instruction following, ratings."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lamini_assets.schema import require_unique_names

PresetName = Literal["lamini_offline", "lamini_15", "none"]


class ExtraBenchmark(BaseModel):
    """A benchmark added by config alone: an lm-eval task YAML, or a local JSONL with field names."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_\-]+$")  # the leaderboard's task name
    task_yaml: str | None = None  # path to an lm-eval task YAML (its own dataset, prompt, metrics)
    jsonl: str | None = None  # or: a local JSONL file, one item a line ...
    question: str | None = None  # ... the field holding the question (prompt: "Question: ...\nAnswer:")
    choices: str | list[str] | None = None  # a field holding the list of choices, or one field per choice
    label: str | None = None  # the field holding the gold: a 0-based index, a choice's text or a letter A, B, ...
    metric: str = "acc"  # the metric the leaderboard shows (acc, acc_norm, or the YAML's own, e.g. f1)

    @model_validator(mode="after")
    def _one_kind(self) -> ExtraBenchmark:
        if (self.task_yaml is None) == (self.jsonl is None):
            raise ValueError(f"benchmark {self.name}: give exactly one of task_yaml or jsonl")
        if self.jsonl is not None:
            missing = [key for key in ("question", "choices", "label") if getattr(self, key) in (None, [])]
            if missing:
                raise ValueError(f"benchmark {self.name}: a jsonl benchmark needs {', '.join(missing)}")
        elif any(getattr(self, key) is not None for key in ("question", "choices", "label")):
            raise ValueError(f"benchmark {self.name}: question/choices/label only go with jsonl")
        return self


class BenchmarkConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # lamini_offline: every task of LaMini's suite found in local_dir, as lm-eval YAMLs over local
    # files (no network). lamini_15: LaMini's 15 lm-eval tasks from the hub (needs a network).
    preset: PresetName = "lamini_offline"
    # Folder of <task>.jsonl samples in their original fields; None = ../shared/data/lamini_eval_sample
    # next to the project. Relative paths resolve against the config file's folder.
    local_dir: str | None = None
    extra: list[ExtraBenchmark] = Field(default_factory=list)
    limit: int | None = Field(None, ge=1)  # items per task (None = all); for quick looks
    batch_size: int = Field(32, ge=1)
    # Decoder-only students were trained inside Alpaca's prompt; wrap benchmark contexts in it too.
    alpaca_prompt: bool = False
    device: str = "cpu"

    @field_validator("extra")
    @classmethod
    def _unique(cls, value: list[ExtraBenchmark]) -> list[ExtraBenchmark]:
        require_unique_names([b.name for b in value], "benchmark")
        return value


class InstructionFollowingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Held-out split of the training data (train_split.split = 'test'): ROUGE-L against the teacher.
    held_out_items: int = Field(200, ge=0)
    # Self-Instruct's 252 user-oriented instructions (never trained on): answers for the judge and the
    # human rating sheet. None = ../shared/data/self_instruct_user_oriented_instructions.jsonl.
    user_oriented_path: str | None = None
    user_oriented_items: int | None = Field(None, ge=0)  # None = all
    max_new_tokens: int = Field(128, ge=1, le=4096)
    judge: bool = True  # the teacher grades every user-oriented answer A-D with LaMini's rubric
    # Filled human rating sheets to import (CSV exported by the rating_sheet asset).
    filled_sheets: list[str] = Field(default_factory=list)


class EvaluationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    benchmarks: BenchmarkConfig = Field(default_factory=BenchmarkConfig)
    instruction_following: InstructionFollowingConfig = Field(default_factory=InstructionFollowingConfig)
    # Where the evaluation script runs: a subprocess through Dagster Pipes (as training), or in-process.
    launcher: Literal["subprocess", "in_process"] = "subprocess"
