"""Cache behaviour against real HTTP: hits, keys, modes, duplicates."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lamini_assets.teacher import CacheMissError, ChatRequest, Teacher, TeacherConfig
from lamini_assets.teacher.cache import canonical_json, make_cache_key
from tests.support.loopback_openai import LoopbackServer


def ask(row_id: str, prompt: str, template_version: str = "test@1", **params: Any) -> ChatRequest:
    return ChatRequest(row_id, ({"role": "user", "content": prompt},), template_version, params)


def test_rerun_is_answered_from_cache(loopback: LoopbackServer, loopback_config: Callable[..., TeacherConfig]) -> None:
    requests = [ask(f"r{i}", f"question {i}") for i in range(5)]
    first = Teacher(loopback_config()).run(requests)
    assert loopback.app.total_requests == 5
    assert [r.cached for r in first.results] == [False] * 5
    assert first.stats.misses == 5 and first.stats.cache_hits == 0

    second = Teacher(loopback_config()).run(requests)
    assert loopback.app.total_requests == 5  # no new HTTP request
    assert [r.cached for r in second.results] == [True] * 5
    assert second.stats.cache_hits == 5 and second.stats.misses == 0
    assert [r.text for r in second.results] == [r.text for r in first.results]
    assert [r.row_id for r in second.results] == [f"r{i}" for i in range(5)]


def test_key_covers_what_changes_the_answer_and_nothing_else(
    loopback_config: Callable[..., TeacherConfig],
) -> None:
    base = Teacher(loopback_config(), api_key="key-one")
    request = ask("r", "same prompt")
    key = base.cache_key(request)

    assert Teacher(loopback_config(), api_key="key-two").cache_key(request) == key
    assert Teacher(loopback_config(base_url="http://127.0.0.2:9/v1")).cache_key(request) == key
    assert base.cache_key(ask("other-row-id", "same prompt")) == key  # the row id is the caller's, not the call's

    assert Teacher(loopback_config(model="another-model")).cache_key(request) != key
    assert base.cache_key(ask("r", "same prompt", template_version="test@2")) != key
    assert base.cache_key(ask("r", "same prompt", temperature=0.1)) != key
    assert base.cache_key(ask("r", "same prompt", seed=7)) != key
    assert base.cache_key(ask("r", "same prompt", max_tokens=9)) != key
    assert base.cache_key(ask("r", "other prompt")) != key
    assert Teacher(loopback_config(n=2)).cache_key(request) != key
    assert Teacher(loopback_config(response_format={"type": "json_object"})).cache_key(request) != key
    assert Teacher(TeacherConfig()).cache_key(request) != key  # offline vs openai backend

    for probe in (request, ask("r", "same prompt", temperature=0.1, stop=["\n"])):
        material = base.key_material(probe)
        assert base.cache_key(probe) == make_cache_key(material)  # sha256 of the documented canonical JSON
        assert "key-one" not in canonical_json(material)


def test_cache_only_miss_names_key_and_row(
    loopback: LoopbackServer, loopback_config: Callable[..., TeacherConfig]
) -> None:
    Teacher(loopback_config()).run([ask("known", "cached question")])
    teacher = Teacher(loopback_config(cache_mode="cache_only"))
    hit = teacher.run([ask("known", "cached question")])
    assert hit.results[0].cached

    missing = ask("row-42", "never asked")
    with pytest.raises(CacheMissError) as error:
        teacher.run([ask("known", "cached question"), missing])
    assert error.value.row_id == "row-42"
    assert error.value.cache_key == teacher.cache_key(missing)
    assert "row-42" in str(error.value) and teacher.cache_key(missing) in str(error.value)
    assert loopback.app.total_requests == 1


def test_refresh_calls_again_and_overwrites(
    loopback: LoopbackServer, loopback_config: Callable[..., TeacherConfig]
) -> None:
    requests = [ask("a", "refresh me")]
    first = Teacher(loopback_config()).run(requests)
    refreshed = Teacher(loopback_config(cache_mode="refresh")).run(requests)
    assert loopback.app.total_requests == 2
    assert not refreshed.results[0].cached
    assert refreshed.results[0].created_at > first.results[0].created_at
    after = Teacher(loopback_config()).run(requests)
    assert after.results[0].cached and after.results[0].created_at == refreshed.results[0].created_at


def test_duplicate_requests_are_called_once(
    loopback: LoopbackServer, loopback_config: Callable[..., TeacherConfig]
) -> None:
    requests = [ask("x1", "shared prompt"), ask("x2", "shared prompt"), ask("y", "own prompt")]
    result = Teacher(loopback_config()).run(requests)
    assert loopback.app.requests_by_prompt["shared prompt"] == 1
    assert [r.row_id for r in result.results] == ["x1", "x2", "y"]
    assert result.stats.requests == 3 and result.stats.unique_keys == 2 and result.stats.misses == 2
    assert result.results[0].text == result.results[1].text
