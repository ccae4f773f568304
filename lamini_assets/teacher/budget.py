"""Budgets and pacing: per-minute token buckets, an AIMD concurrency gate, rate-limit header parsing.

Arithmetic only; waiting lives in the client and display in the progress reporter.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import re
import time
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime


class RateBudget:
    """A token bucket over a per-minute rate (requests or tokens): has_capacity / consume / free.

    It holds `burst_seconds` worth of the rate, so a client cannot spend a whole minute's budget in
    one second (servers with a short window would answer 429); it paces at `headroom` of the rate so
    jitter between our clock and the server's limiter does not trip it; and it starts with one call's
    worth, not a full bucket, because the first calls wait on connection setup and would reach the
    server bunched together.
    """

    def __init__(self, per_minute: float | None, burst_seconds: float, headroom: float) -> None:
        self._burst_seconds = burst_seconds
        self._headroom = headroom
        self.per_minute: float | None = None
        self.capacity = 0.0
        self.level = 0.0
        self._updated = time.monotonic()
        self._blocked_until = 0.0
        self.set_limit(per_minute)

    @property
    def unlimited(self) -> bool:
        return self.per_minute is None

    @property
    def _rate_per_second(self) -> float:
        assert self.per_minute is not None
        return self.per_minute * self._headroom / 60.0

    def set_limit(self, per_minute: float | None) -> None:
        """Set (or lower, from a server's limit header) the rate; keeps the current level."""
        if per_minute == self.per_minute:
            return
        first = self.per_minute is None
        self._refill(time.monotonic())
        self.per_minute = per_minute
        if per_minute is None:
            return
        self.capacity = max(1.0, self._rate_per_second * self._burst_seconds)
        self.level = min(1.0, self.capacity) if first else min(self.level, self.capacity)

    def _refill(self, now: float) -> None:
        if self.per_minute is not None:
            self.level = min(self.capacity, self.level + (now - self._updated) * self._rate_per_second)
        self._updated = now

    def has_capacity(self, amount: float) -> bool:
        if self.per_minute is None:
            return True
        now = time.monotonic()
        if now < self._blocked_until:
            return False
        self._refill(now)
        # A single request bigger than the bucket waits for a full bucket, then overdraws it.
        return self.level >= min(amount, self.capacity)

    def consume(self, amount: float) -> None:
        if self.per_minute is not None:
            self._refill(time.monotonic())
            self.level -= amount

    def free(self, amount: float) -> None:
        """Give back an over-estimate (e.g. tokens reserved for max_tokens but not used)."""
        if self.per_minute is not None:
            self._refill(time.monotonic())
            self.level = min(self.capacity, self.level + amount)

    def block_for(self, seconds: float) -> None:
        """The server says this budget is spent: grant nothing until it resets."""
        self._blocked_until = max(self._blocked_until, time.monotonic() + seconds)
        self.level = min(self.level, 0.0)

    def seconds_until(self, amount: float) -> float:
        if self.per_minute is None:
            return 0.0
        now = time.monotonic()
        self._refill(now)
        blocked = max(0.0, self._blocked_until - now)
        missing = min(amount, self.capacity) - self.level
        return max(blocked, missing / self._rate_per_second if missing > 0 else 0.0)


class ConcurrencyGate:
    """Calls in flight, limited AIMD-style: halve on 429, +1 after a window of `limit` successes.

    A probing gate lets one call through until `open()`: with nothing yet known of the server's
    limits, a full opening burst could overrun them before its rate-limit headers come back.
    """

    def __init__(self, maximum: int, probe: bool = False) -> None:
        self.maximum = maximum
        self.probing = probe
        self.limit = 1 if probe else maximum
        self.in_use = 0
        self._successes = 0
        self._last_decrease = 0.0
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self) -> None:
        while self.in_use >= self.limit:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter
        self.in_use += 1

    def release(self) -> None:
        self.in_use -= 1
        self._wake()

    def open(self) -> None:
        """The probe call has been answered: allow up to the maximum in flight."""
        if self.probing:
            self.probing = False
            self.limit = self.maximum
            self._wake()

    def on_success(self) -> None:
        self._successes += 1
        if self._successes >= self.limit and self.limit < self.maximum:
            self._successes = 0
            self.limit += 1
            self._wake()

    def on_rate_limited(self, sent_at: float) -> None:
        # Calls sent before the last decrease were already counted in it: halve once per episode.
        if sent_at < self._last_decrease:
            return
        self.limit = max(1, self.limit // 2)
        self._successes = 0
        self._last_decrease = time.monotonic()

    def _wake(self) -> None:
        free = self.limit - self.in_use
        while free > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                free -= 1


class RateLimitSignal:
    """Are 429s isolated (a busy replica, a flaky proxy) or clustered (the budget is spent)?

    Keeps the outcomes of the last `window` answers; 429s are clustered once at least `cluster_share`
    of them were 429. Random 429s at 5% reach 10 of 40 about once in 10^5 windows; a spent budget
    turns nearly every answer into a 429 and trips it within one round of calls.
    """

    def __init__(self, window: int = 40, cluster_share: float = 0.25) -> None:
        self._outcomes: deque[bool] = deque(maxlen=window)
        self._threshold = max(2, round(window * cluster_share))
        self._limited = 0

    def record(self, rate_limited: bool) -> None:
        if len(self._outcomes) == self._outcomes.maxlen and self._outcomes[0]:
            self._limited -= 1
        self._outcomes.append(rate_limited)
        self._limited += rate_limited

    @property
    def clustered(self) -> bool:
        return self._limited >= self._threshold


def budget_spent(headers: Mapping[str, str]) -> bool:
    """The server's x-ratelimit-remaining-* headers say a budget is used up."""
    for kind in ("requests", "tokens"):
        value = headers.get(f"x-ratelimit-remaining-{kind}")
        if value is None:
            continue
        try:
            if float(value) < 1:
                return True
        except ValueError:
            continue
    return False


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_duration(text: str) -> float | None:
    """OpenAI's reset headers: "20ms", "1.5s", "6m0s", "1h2m3s" (or bare seconds) -> seconds."""
    text = text.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(number) * scale[unit] for number, unit in parts)


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `Retry-After` as seconds or an HTTP date."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def backoff_seconds(attempt: int, initial: float, maximum: float) -> float:
    """Exponential backoff with jitter in [50%, 100%] of the step: spreads retries, keeps the floor."""
    step = min(maximum, initial * 2 ** (attempt - 1))
    return step * random.uniform(0.5, 1.0)
