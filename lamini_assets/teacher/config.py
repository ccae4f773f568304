"""The teacher's validated config: the `teacher:` section of the pipeline YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

OFFLINE_MODEL = "offline-stand-in"

# LaMini-LM's system message for response generation: short answers from gpt-3.5-turbo.
LAMINI_SYSTEM_PROMPT = (
    "You are a helpful assistant, but you must respond to the provided instructions as concise as possible."
)

# Sampling fields a request may override; each is part of the cache key.
SAMPLING_FIELDS: frozenset[str] = frozenset(
    {"temperature", "top_p", "max_tokens", "seed", "stop", "presence_penalty", "frequency_penalty", "n",
     "response_format"}
)


class SamplingParams(BaseModel):
    """Chat-completions sampling parameters; None leaves the server's default (and is left out of the key)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float | None = Field(0.7, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    max_tokens: int | None = Field(512, ge=1, le=1_000_000)
    seed: int | None = None
    stop: list[str] | None = Field(None, max_length=4)
    presence_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    frequency_penalty: float | None = Field(None, ge=-2.0, le=2.0)


class ModelPrice(BaseModel):
    """USD per one million tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_usd_per_million: float = Field(ge=0.0)
    output_usd_per_million: float = Field(ge=0.0)


class TeacherConfig(BaseModel):
    """Everything the teacher client needs; `TeacherConfig()` is the offline stand-in."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # backend
    backend: Literal["offline", "openai"] = "offline"
    model: str = Field(OFFLINE_MODEL, min_length=1)
    base_url: str | None = None  # None = the SDK's default (api.openai.com); any OpenAI-compatible URL
    api_key_env: str = Field("OPENAI_API_KEY", min_length=1)  # env var read when no key is passed in
    timeout_seconds: float = Field(60.0, gt=0.0, le=3600.0)  # per HTTP attempt

    # what is asked
    sampling: SamplingParams = SamplingParams()
    n: int = Field(1, ge=1, le=16)  # choices per call
    response_format: dict[str, Any] | None = None  # e.g. {"type": "json_object"}
    system_prompt: str = LAMINI_SYSTEM_PROMPT  # for callers building response requests; never injected

    # cache
    cache_dir: Path = Path("teacher_cache")  # relative paths resolve against the pipeline state folder (.lamini/)
    cache_mode: Literal["normal", "cache_only", "refresh"] = "normal"

    # concurrency, budgets, retries
    max_in_flight: int = Field(16, ge=1, le=1024)
    requests_per_minute: int | None = Field(None, ge=1)  # None = no budget unless the server sends limits
    tokens_per_minute: int | None = Field(None, ge=1)
    budget_burst_seconds: float = Field(1.0, gt=0.0, le=60.0)  # a budget allows this many seconds' worth at once
    budget_headroom: float = Field(0.98, gt=0.0, le=1.0)  # pace at this share of a budget (clock jitter)
    max_attempts: int = Field(5, ge=1, le=50)
    backoff_initial_seconds: float = Field(1.0, gt=0.0, le=600.0)
    backoff_max_seconds: float = Field(60.0, gt=0.0, le=3600.0)

    # accounting
    progress_interval_seconds: float = Field(5.0, gt=0.0)  # between progress lines
    prices: dict[str, ModelPrice] = Field(default_factory=dict)  # by model name; unknown models cost 0

    @model_validator(mode="after")
    def _check_backend(self) -> TeacherConfig:
        if self.backend == "openai" and self.model == OFFLINE_MODEL:
            raise ValueError("teacher.model: set the model name the OpenAI-compatible server serves")
        if self.backend == "offline" and self.base_url is not None:
            raise ValueError("teacher.base_url: only the openai backend takes a base_url")
        if self.backoff_max_seconds < self.backoff_initial_seconds:
            raise ValueError("teacher.backoff_max_seconds: must be >= backoff_initial_seconds")
        return self

    @property
    def is_offline(self) -> bool:
        return self.backend == "offline"
