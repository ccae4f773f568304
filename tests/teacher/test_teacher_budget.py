"""Budgets, pacing, concurrency, progress, cost, and calling `run` from odd places."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from email.utils import formatdate

import pytest

from lamini_assets.teacher import ChatRequest, ModelPrice, Teacher, TeacherConfig, TeacherRunResult
from lamini_assets.teacher.budget import ConcurrencyGate, RateBudget, parse_duration, parse_retry_after
from tests.support.loopback_openai import LoopbackServer


def ask(row_id: str, prompt: str) -> ChatRequest:
    return ChatRequest(row_id, ({"role": "user", "content": prompt},), "test@1")


def test_retry_after_and_reset_headers_parse() -> None:
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert 8.0 <= parse_retry_after({"retry-after": formatdate(time.time() + 10, usegmt=True)}) <= 10.0  # type: ignore[operator]
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None
    assert parse_duration("20ms") == pytest.approx(0.02)
    assert parse_duration("1.5s") == 1.5
    assert parse_duration("6m0s") == 360.0
    assert parse_duration("1h2m3s") == 3723.0
    assert parse_duration("7") == 7.0
    assert parse_duration("later") is None


def test_rate_budget_has_capacity_consume_free() -> None:
    budget = RateBudget(600, burst_seconds=1.0, headroom=1.0)  # 10 a second, 10 at once
    assert budget.capacity == 10
    assert budget.has_capacity(1) and not budget.has_capacity(2)  # starts with one call's worth
    budget.consume(1)
    assert not budget.has_capacity(1)
    assert 0.05 < budget.seconds_until(1) <= 0.1
    budget.free(30)
    assert budget.has_capacity(10) and budget.level == 10  # never above capacity
    for _ in range(10):
        budget.consume(1)
    assert not budget.has_capacity(1)
    budget.block_for(5.0)
    assert not budget.has_capacity(1) and budget.seconds_until(1) > 4.9
    assert RateBudget(None, 1.0, 1.0).has_capacity(10**9)


def test_concurrency_gate_halves_on_429_and_grows_back() -> None:
    gate = ConcurrencyGate(8)
    before = time.monotonic()
    gate.on_rate_limited(sent_at=before)
    assert gate.limit == 4
    gate.on_rate_limited(sent_at=before)  # sent before the decrease: same episode
    assert gate.limit == 4
    gate.on_rate_limited(sent_at=time.monotonic())
    assert gate.limit == 2
    for _ in range(2):
        gate.on_success()
    assert gate.limit == 3
    for _ in range(3):
        gate.on_success()
    assert gate.limit == 4


def test_max_in_flight_bounds_concurrent_calls(
    loopback: LoopbackServer, loopback_config: Callable[..., TeacherConfig]
) -> None:
    loopback.settings.latency_seconds = 0.05
    Teacher(loopback_config(max_in_flight=3)).run([ask(f"r{i}", f"p{i}") for i in range(15)])
    assert loopback.app.max_in_flight == 3


def test_requests_per_minute_budget_paces_without_429(
    loopback: LoopbackServer, loopback_config: Callable[..., TeacherConfig]
) -> None:
    loopback.settings.rpm_limit = 600  # 10 a second, a burst of 10
    started = time.monotonic()
    result = Teacher(loopback_config(requests_per_minute=600, max_in_flight=16)).run(
        [ask(f"r{i}", f"paced {i}") for i in range(25)]
    )
    elapsed = time.monotonic() - started
    assert result.failures == []
    assert loopback.app.status_counts[429] == 0
    assert elapsed >= 24 / 10  # the budget, not the server, set the pace: one call, then 10 a second


def test_tokens_per_minute_budget_paces_calls(
    loopback: LoopbackServer, loopback_config: Callable[..., TeacherConfig]
) -> None:
    requests = [ChatRequest(f"r{i}", ({"role": "user", "content": f"tokens {i}"},), "test@1", {"max_tokens": 50})
                for i in range(6)]
    started = time.monotonic()
    Teacher(loopback_config(max_in_flight=6, tokens_per_minute=6000)).run(requests)
    paced = time.monotonic() - started
    # ~56 tokens reserved a call against ~98 a second, starting from an empty bucket.
    assert paced >= 0.5
    loopback.app.reset_counters()
    started = time.monotonic()
    Teacher(loopback_config(max_in_flight=6, cache_mode="refresh")).run(requests)
    assert time.monotonic() - started < paced / 2


def test_client_adopts_limits_from_ratelimit_headers(
    loopback: LoopbackServer, loopback_config: Callable[..., TeacherConfig]
) -> None:
    loopback.settings.rpm_limit = 600
    loopback.settings.ratelimit_headers = True
    loopback.settings.latency_seconds = 0.02
    result = Teacher(loopback_config(max_in_flight=2)).run([ask(f"r{i}", f"adaptive {i}") for i in range(30)])
    assert result.failures == []
    # 2 in flight at 20 ms would send ~100 a second; only the headers tell the client to slow down.
    assert loopback.app.status_counts[429] <= 2


def test_without_a_budget_one_probe_call_goes_first_and_its_headers_pace_the_rest(
    loopback: LoopbackServer, loopback_config: Callable[..., TeacherConfig]
) -> None:
    loopback.settings.rpm_limit = 600  # a server bucket of 10: an opening burst of 24 would get 14 429s
    loopback.settings.ratelimit_headers = True
    loopback.settings.latency_seconds = 0.05
    result = Teacher(loopback_config(max_in_flight=32)).run([ask(f"r{i}", f"probe {i}") for i in range(24)])
    assert result.failures == []
    assert loopback.app.status_counts[429] == 0
    arrivals = sorted(t for times in loopback.app.arrivals.values() for t in times)
    assert arrivals[1] - arrivals[0] >= 0.05  # the second call waited for the first one's answer


def test_progress_lines_and_cost(loopback: LoopbackServer, loopback_config: Callable[..., TeacherConfig]) -> None:
    loopback.settings.latency_seconds = 0.05
    lines: list[str] = []
    prices = {"loopback-model": ModelPrice(input_usd_per_million=2.0, output_usd_per_million=8.0)}
    config = loopback_config(max_in_flight=2, progress_interval_seconds=0.1, prices=prices)
    result = Teacher(config, log=lines.append).run([ask(f"r{i}", f"costly {i}") for i in range(12)])
    progress = [line for line in lines if "ETA" in line]
    assert progress and all("/12 done" in line and "calls/s" in line for line in progress)
    stats = result.stats
    assert stats.prompt_tokens == 12 * 2 and stats.completion_tokens == sum(len(r.text.split()) for r in result.results)
    assert stats.estimated_cost_usd == pytest.approx(stats.prompt_tokens * 2e-6 + stats.completion_tokens * 8e-6)
    metadata = stats.as_metadata()
    assert metadata["misses"] == 12 and isinstance(metadata["wall_seconds"], float)


def test_run_works_inside_a_running_loop_and_from_a_thread(
    loopback_config: Callable[..., TeacherConfig],
) -> None:
    teacher = Teacher(loopback_config())

    async def inside_loop() -> TeacherRunResult:
        return teacher.run([ask("a", "from a loop")])

    assert asyncio.run(inside_loop()).results[0].row_id == "a"

    outcome: list[TeacherRunResult] = []
    thread = threading.Thread(target=lambda: outcome.append(teacher.run([ask("b", "from a thread")])))
    thread.start()
    thread.join(timeout=20)
    assert outcome and outcome[0].results[0].row_id == "b"
