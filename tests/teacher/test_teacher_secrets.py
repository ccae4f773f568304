"""The API key never shows up in anything the teacher produces."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from lamini_assets.teacher import ChatRequest, Teacher, TeacherAuthError, TeacherConfig
from tests.support.loopback_openai import Fault, LoopbackServer

GOOD_KEY = "sk-loopback-GOOD-7f3a9c2e1d5b"
BAD_KEY = "sk-loopback-BAD-0c8e4b19a2f6"


def ask(row_id: str, prompt: str) -> ChatRequest:
    return ChatRequest(row_id, ({"role": "user", "content": prompt},), "test@1")


def all_bytes(directory: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(directory.rglob("*")) if path.is_file())


def test_api_key_appears_nowhere(
    loopback: LoopbackServer, loopback_config: Callable[..., TeacherConfig], tmp_path: Path
) -> None:
    loopback.settings.required_api_key = GOOD_KEY
    loopback.settings.faults = [
        Fault("[fail]", "status", status=500, echo_auth=True),
        Fault("[bad]", "malformed_json"),
        Fault("[slow]", "status", status=429, retry_after="0", times=1),
    ]
    lines: list[str] = []
    config = loopback_config(max_attempts=2, progress_interval_seconds=0.01)
    teacher = Teacher(config, api_key=GOOD_KEY, log=lines.append)
    result = teacher.run([ask("ok", "hello"), ask("f", "boom [fail]"), ask("b", "junk [bad]"), ask("s", "wait [slow]")])
    assert len(result.results) == 2 and len(result.failures) == 2  # both paths exercised
    assert "[redacted]" in next(f.message for f in result.failures if f.row_id == "f")

    bad_teacher = Teacher(config, api_key=BAD_KEY, log=lines.append)
    with pytest.raises(TeacherAuthError) as error:
        bad_teacher.run([ask("x", "rejected")])
    # The server's 401 body echoes the key it received, as real providers do: it had to be scrubbed.
    assert "[redacted]" in str(error.value)

    produced = "\n".join([
        *lines,
        str(error.value),
        repr(error.value),
        *(repr(f) for f in result.failures),
        *(repr(r) for r in result.results),
        repr(result.stats.as_metadata()),
        repr(teacher.describe()),
        repr(dataclasses.asdict(result.stats)),
    ])
    assert lines, "the log callback was called"
    for key in (GOOD_KEY, BAD_KEY):
        assert key not in produced
        assert key.encode() not in all_bytes(config.cache_dir)
