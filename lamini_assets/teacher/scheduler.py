"""Running the cache misses of one run: workers, the AIMD gate, budgets, cool-downs, retry timers.

Retry state lives on each pending call (Curator-style); the budgets are plain arithmetic
(`budget.py`); this module only decides when each call may go and what happens after it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lamini_assets.teacher.backends import Backend, Completion
from lamini_assets.teacher.budget import (
    ConcurrencyGate,
    RateBudget,
    RateLimitSignal,
    backoff_seconds,
    budget_spent,
    parse_duration,
)
from lamini_assets.teacher.cache import CachedAnswer, CacheWriter
from lamini_assets.teacher.config import TeacherConfig
from lamini_assets.teacher.errors import CallError, TeacherAuthError, scrub
from lamini_assets.teacher.records import ChatFailure, TeacherStats


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class PendingCall:
    """One distinct call and its retry state."""

    key: str
    row_id: str  # the first row that asked for it
    messages: tuple[dict[str, str], ...]
    params: dict[str, Any]
    estimated_tokens: int
    request: dict[str, Any]  # the key material, stored with the answer
    attempts: int = 0


class Progress:
    """Counts of finished distinct calls, for the progress lines."""

    def __init__(self, total: int, already_done: int) -> None:
        self.total = total
        self.done = already_done
        self.called = 0
        self.failed = 0
        self.started = time.monotonic()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.called / elapsed
        left = self.total - self.done
        eta = f"{left / rate:.0f}s" if rate > 0 else "unknown"
        return (f"teacher: {self.done}/{self.total} done ({self.failed} failed), "
                f"{rate:.1f} calls/s, ETA {eta}")


class CallScheduler:
    """Runs the cache misses of one run: workers, AIMD gate, budgets, cool-down, retry timers."""

    def __init__(self, config: TeacherConfig, backend: Backend, writer: CacheWriter, stats: TeacherStats,
                 progress: Progress, api_key: str | None,
                 on_answer_saved: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.backend = backend
        self.writer = writer
        self.save_error: BaseException | None = None
        self.on_answer_saved = on_answer_saved
        self.stats = stats
        self.progress = progress
        self.api_key = api_key
        self.answers: dict[str, CachedAnswer] = {}
        self.failures: dict[str, ChatFailure] = {}
        self.request_budget = RateBudget(config.requests_per_minute, config.budget_burst_seconds,
                                         config.budget_headroom)
        self.token_budget = RateBudget(config.tokens_per_minute, config.budget_burst_seconds, config.budget_headroom)
        # No budget to pace the opening burst: one call goes first, and any limits its answer carries pace the rest.
        self.gate = ConcurrencyGate(config.max_in_flight,
                                    probe=self.request_budget.unlimited and self.token_budget.unlimited)
        self.budget_lock = asyncio.Lock()
        self.rate_limits = RateLimitSignal()
        self.cooldown_until = 0.0
        self.queue: asyncio.Queue[PendingCall | None] = asyncio.Queue()
        self.timers: list[asyncio.TimerHandle] = []
        self.remaining = 0
        self.workers = 0
        self.auth_error: TeacherAuthError | None = None

    async def run(self, calls: list[PendingCall]) -> None:
        self.remaining = len(calls)
        for call in calls:
            self.queue.put_nowait(call)
        self.workers = min(self.config.max_in_flight, len(calls))
        tasks = [asyncio.create_task(self._worker()) for _ in range(self.workers)]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            for timer in self.timers:
                timer.cancel()
        if self.auth_error is not None:
            raise self.auth_error
        if self.save_error is not None:
            raise self.save_error

    async def _worker(self) -> None:
        while True:
            call = await self.queue.get()
            if call is None:
                return
            await self._attempt(call)

    def _stop_workers(self) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()
        for _ in range(self.workers):
            self.queue.put_nowait(None)

    def _finish_one(self) -> None:
        self.progress.done += 1
        self.remaining -= 1
        if self.remaining == 0:
            self._stop_workers()

    async def _wait_until_allowed(self, call: PendingCall) -> None:
        while (wait := self.cooldown_until - time.monotonic()) > 0:
            await asyncio.sleep(wait)
        if self.request_budget.unlimited and self.token_budget.unlimited:
            return
        async with self.budget_lock:  # one waiter at a time: calls leave in order, evenly paced
            while not (self.request_budget.has_capacity(1) and self.token_budget.has_capacity(call.estimated_tokens)):
                await asyncio.sleep(max(
                    self.request_budget.seconds_until(1),
                    self.token_budget.seconds_until(call.estimated_tokens),
                    self.cooldown_until - time.monotonic(),
                    0.001,
                ))
            self.request_budget.consume(1)
            self.token_budget.consume(call.estimated_tokens)

    async def _attempt(self, call: PendingCall) -> None:
        await self.gate.acquire()
        try:
            await self._wait_until_allowed(call)
            if self.auth_error is not None:
                return
            call.attempts += 1
            self.stats.http_attempts += 1
            if call.attempts > 1:
                self.stats.retries += 1
            sent_at = time.monotonic()
            try:
                completion = await self.backend.complete(call.messages, call.params)
            except CallError as error:
                self._on_error(call, error, sent_at)
                return
            except Exception as error:  # a backend bug still becomes a failure record, not a lost row
                self._on_error(call, CallError(type(error).__name__, str(error), retryable=False), sent_at)
                return
            self._on_success(call, completion, sent_at)
        finally:
            self.gate.open()  # after _on_success/_on_error have adopted any rate-limit headers
            self.gate.release()

    def _adapt(self, headers: Mapping[str, str]) -> None:
        """Follow the server's x-ratelimit-* headers: its limits cap ours; a spent budget waits for reset."""
        if not headers:
            return
        for budget, configured, kind in ((self.request_budget, self.config.requests_per_minute, "requests"),
                                         (self.token_budget, self.config.tokens_per_minute, "tokens")):
            limit = _number(headers.get(f"x-ratelimit-limit-{kind}"))
            remaining = _number(headers.get(f"x-ratelimit-remaining-{kind}"))
            if limit is not None and limit > 0:
                newly_limited = budget.unlimited
                budget.set_limit(min(limit, configured) if configured is not None else limit)
                if newly_limited and remaining is not None:
                    budget.level = min(budget.level, remaining)  # start from what the server has left
            if remaining is not None and remaining < 1:
                reset = parse_duration(headers.get(f"x-ratelimit-reset-{kind}", "")) or 1.0
                # Reset is the time to a full bucket; one call's worth comes back sooner.
                one_call = 60.0 / budget.per_minute if budget.per_minute else reset
                budget.block_for(min(reset, one_call))

    def _on_success(self, call: PendingCall, completion: Completion, sent_at: float) -> None:
        latency = time.monotonic() - sent_at
        self._adapt(completion.headers)
        self.gate.on_success()
        self.rate_limits.record(False)
        answer = CachedAnswer(
            texts=completion.texts,
            finish_reason=completion.finish_reason,
            model=completion.model,
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            created_at=now_iso(),
            latency_seconds=round(latency, 4),
        )
        # The call is done only once its answer is on disk: a kill before that repeats at most the
        # calls whose answers had not been committed yet, never one counted as finished.
        self.writer.save(call.key, answer, call.request).add_done_callback(
            lambda saved, call=call, answer=answer: self._on_saved(call, answer, saved))
        used = completion.prompt_tokens + completion.completion_tokens
        if used < call.estimated_tokens:
            self.token_budget.free(call.estimated_tokens - used)
        else:
            self.token_budget.consume(used - call.estimated_tokens)
        self.stats.prompt_tokens += completion.prompt_tokens
        self.stats.completion_tokens += completion.completion_tokens

    def _on_saved(self, call: PendingCall, answer: CachedAnswer, saved: asyncio.Future[None]) -> None:
        if saved.cancelled() or saved.exception() is not None:
            self.save_error = saved.exception() or RuntimeError(f"cache write of {call.key} was cancelled")
            self._stop_workers()
            return
        self.answers[call.key] = answer
        if self.on_answer_saved is not None:
            self.on_answer_saved(call.key)
        self.progress.called += 1
        self._finish_one()

    def _on_error(self, call: PendingCall, error: CallError, sent_at: float) -> None:
        message = scrub(error.message, self.api_key)
        if error.auth:
            self.auth_error = TeacherAuthError(message)
            self._stop_workers()
            return
        self._adapt(error.headers)
        delay = error.retry_after
        if error.rate_limited:
            self.stats.rate_limited += 1
            self.rate_limits.record(True)
            if delay is None:
                delay = backoff_seconds(call.attempts, self.config.backoff_initial_seconds,
                                        self.config.backoff_max_seconds)
            if budget_spent(error.headers or {}) or self.rate_limits.clustered:
                # The server's budget is spent: every other call would hit the same limit, so the whole
                # client pauses and sends fewer at once. An isolated 429 only delays its own call.
                self.stats.rate_limit_pauses += 1
                self.gate.on_rate_limited(sent_at)
                self.cooldown_until = max(self.cooldown_until, time.monotonic() + delay)
        if error.retryable and call.attempts < self.config.max_attempts:
            if delay is None:
                delay = backoff_seconds(call.attempts, self.config.backoff_initial_seconds,
                                        self.config.backoff_max_seconds)
            loop = asyncio.get_running_loop()
            self.timers.append(loop.call_later(delay, self.queue.put_nowait, call))
            return
        self.failures[call.key] = ChatFailure(
            row_id=call.row_id,
            cache_key=call.key,
            error_class=error.error_class,
            message=message,
            attempts=call.attempts,
            failed_at=now_iso(),
        )
        self.progress.failed += 1
        self._finish_one()


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None
