"""The teacher: one cached, budgeted, retrying client for every LLM call (no Dagster here).

Submodules load on first use (lazy_loader), so a light import such as the config or the
audit CLI does not pay for the heavy libraries behind the rest."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "cache": ["CachedAnswer", "ResponseCache"],
        "client": ["OFFLINE_DESCRIPTION", "Teacher"],
        "config": ["LAMINI_SYSTEM_PROMPT", "OFFLINE_MODEL", "ModelPrice", "SamplingParams", "TeacherConfig"],
        "errors": ["CacheMissError", "TeacherAuthError", "TeacherError"],
        "records": ["CallPlan", "ChatFailure", "ChatRequest", "ChatResult", "TeacherFrameResult", "TeacherRunResult",
                    "TeacherStats"],
    },
)
