"""Errors the teacher raises, and the classified error a backend call ends with."""

from __future__ import annotations

from collections.abc import Mapping


class TeacherError(Exception):
    """Base of the errors that abort a teacher run."""


class TeacherAuthError(TeacherError):
    """The endpoint rejected the API key (401/403). Never retried: every call would fail the same way."""


class CacheMissError(TeacherError):
    """`cache_mode: cache_only` and a request has no cached answer."""

    def __init__(self, cache_key: str, row_id: str, missing: int) -> None:
        self.cache_key = cache_key
        self.row_id = row_id
        self.missing = missing
        super().__init__(
            f"cache_only mode: no cached answer for row {row_id!r} (cache key {cache_key}); "
            f"{missing} request(s) in this run are not cached"
        )


class CorruptCacheError(TeacherError):
    """The teacher cache cannot be read: its SQLite index or a value file is damaged (a crash during a
    copy, a full disk, a truncated backup). Names the file and how to rebuild."""

    def __init__(self, directory: str, path: str, problem: str) -> None:
        self.directory = directory
        self.path = path
        super().__init__(
            f"teacher cache is corrupt: {path}: {problem}. Rebuild it with `python -m lamini_assets.teacher.cache "
            f"repair {directory}`: every readable answer is kept (the damaged folder is moved aside to "
            f"{directory}.corrupt-<time>), unreadable ones are dropped and called again (paid again) on the next run"
        )


class CallError(Exception):
    """One failed attempt, classified: whether to retry, and how long the server asked us to wait."""

    def __init__(
        self,
        error_class: str,
        message: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        rate_limited: bool = False,
        auth: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.error_class = error_class
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        self.rate_limited = rate_limited
        self.auth = auth
        self.headers: Mapping[str, str] = headers or {}


def scrub(text: str, secret: str | None) -> str:
    """The text with every occurrence of the secret replaced (exception strings may echo it)."""
    if not secret:
        return text
    return text.replace(secret, "[redacted]")
