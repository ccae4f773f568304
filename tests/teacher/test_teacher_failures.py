"""Retries, rate limits, auth and failure records against a misbehaving loopback server."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest

from lamini_assets.teacher import ChatRequest, Teacher, TeacherAuthError, TeacherConfig
from tests.support.loopback_openai import Fault, LoopbackServer


def ask(row_id: str, prompt: str, **params: Any) -> ChatRequest:
    return ChatRequest(row_id, ({"role": "user", "content": prompt},), "test@1", params)


@pytest.mark.parametrize("header", ["seconds", "http-date", "ms"])
def test_429_retry_after_is_honoured_then_succeeds(
    loopback: LoopbackServer, loopback_config: Callable[..., TeacherConfig], header: str
) -> None:
    wait = {"seconds": 1.0, "http-date": 2.0, "ms": 600 / 1000}[header]
    fault = Fault("[429]", "status", status=429, times=1)
    if header == "seconds":
        fault.retry_after = "1"
    elif header == "http-date":
        # HTTP dates have whole-second resolution: 2 s ahead leaves between 1 and 2 s to wait.
        fault.retry_after_date_in = 2.0
        wait = 0.95
    else:
        fault.retry_after_ms = 600
    loopback.settings.faults = [fault]

    result = Teacher(loopback_config()).run([ask("r", "slow down [429]"), ask("other", "fine")])

    arrivals = loopback.app.arrivals["slow down [429]"]
    assert len(arrivals) == 2
    assert arrivals[1] - arrivals[0] >= wait
    assert result.failures == [] and len(result.results) == 2
    assert result.stats.rate_limited == 1 and result.stats.retries == 1


def arrivals_between(loopback: LoopbackServer, start: float, end: float) -> list[float]:
    return [t for times in loopback.app.arrivals.values() for t in times if start < t < end]


def test_a_429_saying_the_budget_is_spent_pauses_the_whole_client(
    loopback: LoopbackServer, loopback_config: Callable[..., TeacherConfig]
) -> None:
    loopback.settings.latency_seconds = 0.05
    loopback.settings.faults = [Fault("[429]", "status", status=429, times=1, retry_after="1",
                                      headers={"x-ratelimit-remaining-requests": "0"})]
    requests = [ask("a", "first [429]")] + [ask(f"b{i}", f"other {i}") for i in range(10)]
    result = Teacher(loopback_config(max_in_flight=2)).run(requests)
    assert result.failures == [] and result.stats.rate_limit_pauses == 1
    rate_limited_at = loopback.app.arrivals["first [429]"][0]
    # Without a client-wide pause the second slot would keep sending one call every 50 ms.
    assert arrivals_between(loopback, rate_limited_at + 0.2, rate_limited_at + 0.95) == []


def test_an_isolated_429_delays_only_its_own_call(
    loopback: LoopbackServer, loopback_config: Callable[..., TeacherConfig]
) -> None:
    loopback.settings.latency_seconds = 0.05
    loopback.settings.faults = [Fault("[429]", "status", status=429, times=1, retry_after="1")]
    requests = [ask("a", "first [429]")] + [ask(f"b{i}", f"other {i}") for i in range(30)]
    result = Teacher(loopback_config(max_in_flight=2)).run(requests)
    assert result.failures == [] and result.stats.rate_limit_pauses == 0
    first, retry = loopback.app.arrivals["first [429]"]
    assert retry - first >= 1.0
    # The other slot, then both, keep calling while the one call waits out its Retry-After.
    assert len(arrivals_between(loopback, first + 0.2, first + 0.95)) >= 10


def test_random_429s_do_not_collapse_concurrency(
    loopback: LoopbackServer, loopback_config: Callable[..., TeacherConfig]
) -> None:
    loopback.settings.latency_seconds = 0.05
    config = loopback_config(max_in_flight=16, max_attempts=8)
    Teacher(config).run([ask(f"r{i}", f"calm {i}") for i in range(300)])
    calm = sorted(loopback.app.in_flight_at_arrival)

    loopback.app.reset_counters()
    loopback.settings.faults = [Fault("", "status", status=429, probability=0.05, retry_after="0.2")]
    result = Teacher(config).run([ask(f"r{i}", f"noisy {i}") for i in range(300)])
    assert result.failures == []
    assert result.stats.rate_limited >= 5 and result.stats.rate_limit_pauses == 0
    # Halving on each 429 would leave a few calls in flight; isolated 429s leave the slots as busy as
    # without faults (compared in the same test: on a loaded machine neither reaches 16).
    noisy = sorted(loopback.app.in_flight_at_arrival)
    assert noisy[len(noisy) // 2] >= 0.75 * calm[len(calm) // 2], (noisy[len(noisy) // 2], calm[len(calm) // 2])


def test_clustered_429s_pause_the_client_without_rate_limit_headers(
    loopback: LoopbackServer, loopback_config: Callable[..., TeacherConfig]
) -> None:
    loopback.settings.rpm_limit = 1200  # a server bucket of 20, no x-ratelimit headers to read
    loopback.settings.latency_seconds = 0.02
    result = Teacher(loopback_config(max_in_flight=32, max_attempts=20, backoff_max_seconds=1.0)).run(
        [ask(f"r{i}", f"crowd {i}") for i in range(120)])
    assert result.failures == []
    assert result.stats.rate_limit_pauses >= 1
    assert result.stats.http_attempts < 3 * 120  # pausing, not hammering the spent budget


def test_5xx_is_retried_then_succeeds(loopback: LoopbackServer, loopback_config: Callable[..., TeacherConfig]) -> None:
    loopback.settings.faults = [
        Fault("[500]", "status", status=500, times=2),
        Fault("[503]", "status", status=503, times=1),
    ]
    result = Teacher(loopback_config(max_attempts=3)).run([ask("a", "flaky [500]"), ask("b", "flaky [503]")])
    assert result.failures == []
    assert loopback.app.requests_by_prompt["flaky [500]"] == 3
    assert loopback.app.requests_by_prompt["flaky [503]"] == 2
    assert result.stats.http_attempts == 5 and result.stats.retries == 3


@pytest.mark.parametrize("kind", ["malformed_json", "missing_choices"])
def test_malformed_body_is_retried(
    loopback: LoopbackServer, loopback_config: Callable[..., TeacherConfig], kind: str
) -> None:
    loopback.settings.faults = [Fault("[bad]", kind, times=1)]  # type: ignore[arg-type]
    result = Teacher(loopback_config()).run([ask("a", "body [bad]")])
    assert result.failures == []
    assert result.results[0].text.startswith("Loopback answer to: body [bad]")
    assert loopback.app.requests_by_prompt["body [bad]"] == 2


def test_timeouts_are_retried_then_recorded_as_failure(
    loopback: LoopbackServer, loopback_config: Callable[..., TeacherConfig]
) -> None:
    loopback.settings.faults = [Fault("[hang]", "hang", hang_seconds=5.0)]
    result = Teacher(loopback_config(timeout_seconds=0.3, max_attempts=3)).run(
        [ask("stuck", "never answers [hang]"), ask("ok", "answers")]
    )
    assert [r.row_id for r in result.results] == ["ok"]
    assert len(result.failures) == 1
    failure = result.failures[0]
    assert failure.row_id == "stuck"
    assert failure.attempts == 3
    assert failure.error_class == "APITimeoutError"
    assert loopback.app.requests_by_prompt["never answers [hang]"] == 3
    assert result.stats.failures == 1


def test_401_fails_fast_with_a_clear_message(
    loopback: LoopbackServer, loopback_config: Callable[..., TeacherConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    loopback.settings.required_api_key = "sk-the-right-key"
    monkeypatch.setenv("LOOPBACK_TEACHER_KEY", "sk-a-wrong-key-123")
    teacher = Teacher(loopback_config(api_key_env="LOOPBACK_TEACHER_KEY", max_in_flight=1, max_attempts=5))
    with pytest.raises(TeacherAuthError) as error:
        teacher.run([ask(f"r{i}", f"question {i}") for i in range(20)])
    message = str(error.value)
    assert loopback.base_url in message
    assert "LOOPBACK_TEACHER_KEY" in message and "401" in message
    assert "sk-a-wrong-key-123" not in message
    assert loopback.app.total_requests == 1  # never retried, the run stopped


def test_truncated_answers_are_kept_and_flagged(
    loopback: LoopbackServer, loopback_config: Callable[..., TeacherConfig]
) -> None:
    loopback.settings.faults = [Fault("[long]", "truncate")]
    result = Teacher(loopback_config()).run([ask("cut", "tell me everything [long]"), ask("whole", "short")])
    by_row = {r.row_id: r for r in result.results}
    assert by_row["cut"].truncated and by_row["cut"].finish_reason == "length" and by_row["cut"].text
    assert not by_row["whole"].truncated
    assert result.stats.truncated == 1
    rerun = Teacher(loopback_config()).run([ask("cut", "tell me everything [long]")])
    assert rerun.results[0].cached and rerun.results[0].truncated


def test_rerun_retries_only_the_failures(
    loopback: LoopbackServer, loopback_config: Callable[..., TeacherConfig]
) -> None:
    loopback.settings.faults = [Fault("[down]", "status", status=502)]
    requests = [ask(f"ok{i}", f"fine {i}") for i in range(4)] + [ask(f"bad{i}", f"broken {i} [down]") for i in range(2)]
    first = Teacher(loopback_config(max_attempts=2)).run(requests)
    assert sorted(f.row_id for f in first.failures) == ["bad0", "bad1"]
    assert all(f.attempts == 2 and f.error_class == "InternalServerError" for f in first.failures)
    assert len(first.results) == 4

    loopback.settings.faults = []
    loopback.app.reset_counters()
    second = Teacher(loopback_config(max_attempts=2)).run(requests)
    assert second.failures == []
    assert set(loopback.app.requests_by_prompt) == {"broken 0 [down]", "broken 1 [down]"}
    assert second.stats.cache_hits == 4 and second.stats.misses == 2


def test_unretryable_client_error_is_recorded_after_one_attempt(
    loopback: LoopbackServer, loopback_config: Callable[..., TeacherConfig]
) -> None:
    loopback.settings.faults = [Fault("[400]", "status", status=400)]
    result = Teacher(loopback_config(max_attempts=4)).run([ask("r", "bad request [400]")])
    assert result.failures[0].attempts == 1 and result.failures[0].error_class == "BadRequestError"


def test_connection_errors_are_retried_then_recorded(
    loopback_config: Callable[..., TeacherConfig],
) -> None:
    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    config = loopback_config(base_url=f"http://127.0.0.1:{closed_port}/v1", max_attempts=3)
    result = Teacher(config).run([ask("r", "anyone there?")])
    assert result.results == []
    assert result.failures[0].error_class == "APIConnectionError" and result.failures[0].attempts == 3
