"""The teacher: one cached, budgeted, retrying client for every LLM call (no Dagster here)."""

from lamini_assets.teacher.cache import CachedAnswer, ResponseCache
from lamini_assets.teacher.client import OFFLINE_DESCRIPTION, Teacher
from lamini_assets.teacher.config import (
    LAMINI_SYSTEM_PROMPT,
    OFFLINE_MODEL,
    ModelPrice,
    SamplingParams,
    TeacherConfig,
)
from lamini_assets.teacher.errors import CacheMissError, TeacherAuthError, TeacherError
from lamini_assets.teacher.records import (
    CallPlan,
    ChatFailure,
    ChatRequest,
    ChatResult,
    TeacherRunResult,
    TeacherStats,
)

__all__ = [
    "CallPlan",
    "CacheMissError",
    "CachedAnswer",
    "ChatFailure",
    "ChatRequest",
    "ChatResult",
    "LAMINI_SYSTEM_PROMPT",
    "ModelPrice",
    "OFFLINE_DESCRIPTION",
    "OFFLINE_MODEL",
    "ResponseCache",
    "SamplingParams",
    "Teacher",
    "TeacherAuthError",
    "TeacherConfig",
    "TeacherError",
    "TeacherRunResult",
    "TeacherStats",
]
