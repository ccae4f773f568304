"""What goes into the teacher and what comes out: requests, results, failures, run stats."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import polars as pl

from lamini_assets.teacher.config import SAMPLING_FIELDS

_ROLES = frozenset({"system", "user", "assistant", "developer", "tool"})


@dataclass(frozen=True)
class ChatRequest:
    """One chat call the caller wants answered; `row_id` ties the answer back to its row."""

    row_id: str  # the caller's id: an instruction_id, a generation call id
    messages: tuple[dict[str, str], ...]  # full chat messages, system message included by the caller
    template_version: str  # e.g. "lamini-example-guided@1"; part of the cache key
    # Per-request overrides of the config's sampling (temperature, max_tokens, seed, ...); None drops a
    # default so the server's own applies. Part of the key.
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.row_id:
            raise ValueError("ChatRequest.row_id: must be a non-empty string")
        if not self.messages:
            raise ValueError(f"ChatRequest {self.row_id}: messages must not be empty")
        for i, message in enumerate(self.messages):
            if message.get("role") not in _ROLES or not isinstance(message.get("content"), str):
                raise ValueError(
                    f"ChatRequest {self.row_id}: messages[{i}] needs a role in {sorted(_ROLES)} and a string content"
                )
        unknown = set(self.params) - SAMPLING_FIELDS
        if unknown:
            raise ValueError(
                f"ChatRequest {self.row_id}: params {sorted(unknown)} are not sampling fields {sorted(SAMPLING_FIELDS)}"
            )
        if not self.template_version:
            raise ValueError(f"ChatRequest {self.row_id}: template_version must be set")


@dataclass(frozen=True)
class ChatResult:
    row_id: str
    cache_key: str
    text: str  # the first choice
    finish_reason: str
    model: str  # the model name the server returned
    prompt_tokens: int
    completion_tokens: int
    cached: bool  # answered from the cache, no call made in this run
    truncated: bool  # finish_reason == "length": kept, but flagged
    created_at: str  # ISO-8601 UTC time the answer was first received
    latency_seconds: float  # of the call that produced it
    texts: tuple[str, ...] = ()  # every choice when n > 1


@dataclass(frozen=True)
class ChatFailure:
    """A call that still failed after its retries; failures are never cached, so a rerun retries them."""

    row_id: str
    cache_key: str
    error_class: str  # e.g. "RateLimitError", "APITimeoutError", "MalformedResponse", "CacheMiss"
    message: str  # scrubbed of the API key
    attempts: int
    failed_at: str  # ISO-8601 UTC


@dataclass
class TeacherStats:
    requests: int = 0  # requests handed in, duplicates included
    unique_keys: int = 0
    cache_hits: int = 0  # unique keys answered from the cache
    misses: int = 0  # unique keys that needed a call
    failures: int = 0  # unique keys that still failed
    truncated: int = 0  # results flagged finish_reason == "length"
    http_attempts: int = 0  # calls sent, retries included
    retries: int = 0
    rate_limited: int = 0  # 429 answers received
    rate_limit_pauses: int = 0  # 429s that paused the whole client (server budget spent, or 429s clustered)
    prompt_tokens: int = 0  # of calls made in this run
    completion_tokens: int = 0
    estimated_cost_usd: float = 0.0
    wall_seconds: float = 0.0

    def as_metadata(self) -> dict[str, int | float]:
        return {name: value for name, value in asdict(self).items()}


@dataclass(frozen=True)
class TeacherRunResult:
    results: list[ChatResult]
    failures: list[ChatFailure]
    stats: TeacherStats

    def by_row_id(self) -> dict[str, ChatResult | ChatFailure]:
        out: dict[str, ChatResult | ChatFailure] = {r.row_id: r for r in self.results}
        out.update({f.row_id: f for f in self.failures})
        return out


@dataclass(frozen=True)
class TeacherFrameResult:
    """`Teacher.run_frame`'s answers as a table, one row per request (failed rows have a null text)."""

    rows: pl.DataFrame
    failures: list[ChatFailure]
    stats: TeacherStats


@dataclass(frozen=True)
class CallPlan:
    """What running some requests would cost, counted without making any call (`Teacher.plan`)."""

    calls: int  # distinct calls (duplicate requests are one call)
    cached: int  # already answered in the cache
    new: int  # calls the server would receive (failures retried aside)
    prompt_tokens: int  # estimated, of the new calls: ~4 characters a token
    completion_tokens: int  # estimated, of the new calls; see completion_basis
    completion_basis: str  # "mean of N cached answers" or "max_tokens (upper bound)"
    cost_usd: float | None  # from the configured prices; None when the model has no price
    minutes_at_budget: float | None  # at the configured requests/tokens per minute; None without a budget
