"""Teacher client throughput against the loopback OpenAI-compatible server (run in its own process).

    python bench/teacher_throughput.py [--quick]

1. Uncached calls: the client (every answer committed to the cache before it counts, cache in a temp
   dir) vs a bare AsyncOpenAI + semaphore loop vs the physical limit (in flight / latency), 200 ms
   server latency, 64 in flight, 2,000 distinct prompts, alternating runs. The client runs with no
   budget (one probe call goes first) and with a configured requests_per_minute (no probe).
   Targets: >= 0.92 of the limit where the SDK reaches it; never below the bare SDK by > 2%.
2. A fully cached rerun of 20,000 calls (first run on the offline backend, same client path).
   Target: >= 50,000 calls/s.
3. The server enforcing 600 requests per minute (a 1-second token bucket) with x-ratelimit headers;
   the client has requests_per_minute=600, then no budget at all (it must learn the limit from the
   headers). Target: >= 95% of 600/min with <= 1% answered 429.
4. 5% of calls answered 429 at random (Retry-After 0.2 s), 50 ms latency, 64 in flight, vs the same
   server without faults. Target: >= 0.5x the fault-free throughput.
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
from tests.support.loopback_openai import Fault, LoopbackSettings, spawn_loopback_server  # noqa: E402

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


def teacher_rate(base_url: str, texts: list[str], in_flight: int, requests_per_minute: int | None = None,
                 max_attempts: int = 5) -> tuple[float, int]:
    """requests/s of the client and the 429s it received (and client-wide pauses, printed)."""
    with tempfile.TemporaryDirectory() as cache_dir:
        config = TeacherConfig(backend="openai", model=MODEL, base_url=base_url, cache_dir=Path(cache_dir),
                               max_in_flight=in_flight, requests_per_minute=requests_per_minute,
                               max_attempts=max_attempts)
        requests = requests_for(texts)
        started = time.perf_counter()
        result = Teacher(config, api_key="bench").run(requests)
        elapsed = time.perf_counter() - started
        assert not result.failures and result.stats.misses == len(texts), result.stats
        if result.stats.rate_limited:
            print(f"    ({result.stats.rate_limited} 429s, {result.stats.rate_limit_pauses} client-wide pauses, "
                  f"{result.stats.retries} retries)")
        return len(texts) / elapsed, result.stats.rate_limited


def uncached_throughput(prompt_count: int, rounds: int) -> None:
    server = spawn_loopback_server(LoopbackSettings(latency_seconds=0.2))
    try:
        asyncio.run(bare_sdk(server.base_url, prompts("warm-up", 256), 64))  # server and imports warm
        bare, probe, budget = [], [], []
        for r in range(rounds):
            bare.append(asyncio.run(bare_sdk(server.base_url, prompts(f"bare{r}", prompt_count), 64)))
            probe.append(teacher_rate(server.base_url, prompts(f"probe{r}", prompt_count), 64)[0])
            budget.append(teacher_rate(server.base_url, prompts(f"budget{r}", prompt_count), 64, 1_000_000)[0])
    finally:
        server.stop()
    limit = 64 / 0.2
    b, p, g = statistics.median(bare), statistics.median(probe), statistics.median(budget)
    print(f"[1] uncached, 200 ms latency, 64 in flight, {prompt_count} prompts, median of {rounds}; "
          f"physical limit {limit:.0f}/s")
    print(f"    bare AsyncOpenAI + semaphore      {b:7.1f} req/s  {b / limit:.3f} of the limit   "
          f"runs {[round(x) for x in bare]}")
    print(f"    teacher, no budget (probe first)  {p:7.1f} req/s  {p / limit:.3f} of the limit   "
          f"{p / b:.3f}x the SDK   runs {[round(x) for x in probe]}")
    print(f"    teacher, requests_per_minute set  {g:7.1f} req/s  {g / limit:.3f} of the limit   "
          f"{g / b:.3f}x the SDK   runs {[round(x) for x in budget]}")
    print("    targets: >= 0.92 of the limit where the SDK reaches it; >= 0.98x the SDK")


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
          f"cached rerun {elapsed:.3f} s = {count / elapsed:,.0f} calls/s (target >= 50,000)")
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


def random_429s(count: int) -> None:
    clean = spawn_loopback_server(LoopbackSettings(latency_seconds=0.05))
    noisy = spawn_loopback_server(LoopbackSettings(
        latency_seconds=0.05, faults=[Fault("", "status", status=429, probability=0.05, retry_after="0.2")]))
    try:
        asyncio.run(bare_sdk(clean.base_url, prompts("warm-up", 256), 64))
        fault_free, _ = teacher_rate(clean.base_url, prompts("clean", count), 64)
        faulty, limited = teacher_rate(noisy.base_url, prompts("noisy", count), 64, max_attempts=10)
        bare = asyncio.run(bare_sdk(clean.base_url, prompts("bare", count), 64))
    finally:
        clean.stop()
        noisy.stop()
    print(f"[4] 50 ms latency, 64 in flight, {count} calls (physical limit {64 / 0.05:.0f}/s): "
          f"bare SDK without faults {bare:.0f} req/s")
    print(f"    teacher without faults {fault_free:.0f} req/s; with 5% random 429s (Retry-After 0.2 s) "
          f"{faulty:.0f} req/s, {limited} 429s: {faulty / fault_free:.3f}x the fault-free rate (target >= 0.5)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (~30 s) for a smoke check")
    parser.add_argument("--only", type=int, choices=[1, 2, 3, 4], help="run one case")
    args = parser.parse_args()
    if args.only:
        count = 500 if args.quick else 2000
        {1: lambda: uncached_throughput(count, 1 if args.quick else 3), 2: lambda: cached_rerun(20_000),
         3: lambda: rate_limited(150 if args.quick else 700, configured_budget=False),
         4: lambda: random_429s(count)}[args.only]()
        return
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    uncached_throughput(500 if args.quick else 2000, 1 if args.quick else 3)
    cached_rerun(20_000)
    random_429s(500 if args.quick else 2000)
    rate_limited(150 if args.quick else 700, configured_budget=True)
    rate_limited(150 if args.quick else 700, configured_budget=False)


if __name__ == "__main__":
    main()
