"""Teacher client throughput against the loopback OpenAI-compatible server (run in its own process).

    python bench/teacher_throughput.py [--quick]

1. Uncached calls: the client (cache writes included, cache in a temp dir) vs a bare AsyncOpenAI +
   semaphore loop, 200 ms server latency, 64 in flight, 2,000 distinct prompts, alternating runs.
   Target: client >= 0.95x the bare SDK's requests/s. Also per-call cache writes vs batched writes.
2. A fully cached rerun of 20,000 calls (first run on the offline backend, same client path).
   Target: >= 20,000 calls/s.
3. The server enforcing 600 requests per minute (a 1-second token bucket) with x-ratelimit headers;
   the client has requests_per_minute=600, then no budget at all (it must learn the limit from the
   headers). Target: >= 95% of 600/min with <= 1% answered 429.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from openai import AsyncOpenAI  # noqa: E402

from lamini_assets.teacher import ChatRequest, Teacher, TeacherConfig  # noqa: E402
from tests.support.loopback_openai import LoopbackSettings, spawn_loopback_server  # noqa: E402

MODEL = "loopback-model"


def prompts(tag: str, count: int) -> list[str]:
    return [f"{tag} question number {i}: how do tides depend on the moon?" for i in range(count)]


def requests_for(texts: list[str]) -> list[ChatRequest]:
    return [ChatRequest(f"row-{i}", ({"role": "user", "content": t},), "bench@1") for i, t in enumerate(texts)]


async def bare_sdk(base_url: str, texts: list[str], in_flight: int) -> float:
    """requests/s of the plain SDK: one AsyncOpenAI, a semaphore, gather."""
    client = AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0, timeout=60)
    semaphore = asyncio.Semaphore(in_flight)

    async def one(text: str) -> str | None:
        async with semaphore:
            completion = await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": text}], temperature=0.7, max_tokens=512)
            return completion.choices[0].message.content

    started = time.perf_counter()
    await asyncio.gather(*(one(t) for t in texts))
    elapsed = time.perf_counter() - started
    await client.close()
    return len(texts) / elapsed


def teacher_rate(base_url: str, texts: list[str], in_flight: int, flush_seconds: float) -> float:
    with tempfile.TemporaryDirectory() as cache_dir:
        config = TeacherConfig(backend="openai", model=MODEL, base_url=base_url, cache_dir=Path(cache_dir),
                               max_in_flight=in_flight, cache_flush_seconds=flush_seconds)
        requests = requests_for(texts)
        started = time.perf_counter()
        result = Teacher(config, api_key="bench").run(requests)
        elapsed = time.perf_counter() - started
        assert not result.failures and result.stats.misses == len(texts), result.stats
        return len(texts) / elapsed


def uncached_throughput(prompt_count: int, rounds: int) -> None:
    server = spawn_loopback_server(LoopbackSettings(latency_seconds=0.2))
    try:
        asyncio.run(bare_sdk(server.base_url, prompts("warm-up", 256), 64))  # server and imports warm
        bare, batched, per_call = [], [], []
        for r in range(rounds):
            bare.append(asyncio.run(bare_sdk(server.base_url, prompts(f"bare{r}", prompt_count), 64)))
            batched.append(teacher_rate(server.base_url, prompts(f"batch{r}", prompt_count), 64, 0.05))
            per_call.append(teacher_rate(server.base_url, prompts(f"single{r}", prompt_count), 64, 0.0))
    finally:
        server.stop()
    ideal = 64 / 0.2
    b, t, s = statistics.median(bare), statistics.median(batched), statistics.median(per_call)
    print(f"[1] uncached, 200 ms latency, 64 in flight, {prompt_count} prompts, median of {rounds} "
          f"(latency-bound ideal {ideal:.0f}/s)")
    print(f"    bare AsyncOpenAI + semaphore   {b:7.1f} req/s   runs {[round(x) for x in bare]}")
    print(f"    teacher, batched cache writes  {t:7.1f} req/s   runs {[round(x) for x in batched]}   "
          f"ratio {t / b:.3f} (target >= 0.95)")
    print(f"    teacher, one write per call    {s:7.1f} req/s   runs {[round(x) for x in per_call]}   "
          f"ratio {s / b:.3f}")


def cached_rerun(count: int) -> None:
    with tempfile.TemporaryDirectory() as cache_dir:
        config = TeacherConfig(cache_dir=Path(cache_dir), max_in_flight=64)
        requests = requests_for(prompts("cached", count))
        started = time.perf_counter()
        first = Teacher(config).run(requests)
        first_elapsed = time.perf_counter() - started
        started = time.perf_counter()
        rerun = Teacher(config).run(requests)
        elapsed = time.perf_counter() - started
    assert rerun.stats.cache_hits == count and rerun.stats.misses == 0
    print(f"[2] {count} calls: first run (offline backend, all misses) {count / first_elapsed:,.0f} calls/s; "
          f"cached rerun {elapsed:.3f} s = {count / elapsed:,.0f} calls/s (target >= 20,000)")
    assert first.stats.misses == count


def rate_limited(count: int, configured_budget: bool) -> None:
    server = spawn_loopback_server(LoopbackSettings(latency_seconds=0.2, rpm_limit=600, ratelimit_headers=True))
    try:
        with tempfile.TemporaryDirectory() as cache_dir:
            config = TeacherConfig(backend="openai", model=MODEL, base_url=server.base_url,
                                   cache_dir=Path(cache_dir), max_in_flight=64,
                                   requests_per_minute=600 if configured_budget else None)
            started = time.perf_counter()
            result = Teacher(config, api_key="bench").run(requests_for(prompts("rpm", count)))
            elapsed = time.perf_counter() - started
        stats = server.stats()
    finally:
        server.stop()
    answered = len(result.results)
    rate = answered / elapsed * 60
    total = stats["total_requests"]
    limited = int(stats["status_counts"].get("429", 0))
    budget = "client budget 600/min" if configured_budget else "no client budget: limits learnt from headers"
    print(f"[3] server enforcing 600 req/min, {budget}, {count} calls in {elapsed:.1f} s")
    print(f"    {rate:.0f} answered/min = {rate / 600:.1%} of the limit (target >= 95%); "
          f"{limited} of {total} requests answered 429 = {limited / total:.2%} (target <= 1%); "
          f"failures {len(result.failures)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (~30 s) for a smoke check")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    uncached_throughput(500 if args.quick else 2000, 1 if args.quick else 3)
    cached_rerun(20_000)
    rate_limited(150 if args.quick else 700, configured_budget=True)
    rate_limited(150 if args.quick else 700, configured_budget=False)


if __name__ == "__main__":
    main()
