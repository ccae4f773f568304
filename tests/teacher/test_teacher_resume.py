"""SIGKILL at random points, then rerun: no call the client had counted as done is ever paid for twice."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from lamini_assets.teacher import ChatRequest, ResponseCache, Teacher, TeacherConfig
from tests.support.loopback_openai import LoopbackServer

REPO_ROOT = Path(__file__).resolve().parents[2]
PROMPTS = [f"resume prompt {i}" for i in range(240)]

# The child prints each answer's cache key once the client reports it saved (the call is then done).
CHILD = """
import sys
from pathlib import Path
from lamini_assets.teacher import ChatRequest, Teacher, TeacherConfig
base_url, cache_dir, tag, count = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
config = TeacherConfig(backend="openai", model="loopback-model", base_url=base_url, cache_dir=cache_dir,
                       max_in_flight=8)
prompts = [f"{tag} prompt {i}" for i in range(count)]
Teacher(config, api_key="unused", on_answer_saved=lambda key: print(key, flush=True)).run(
    [ChatRequest(f"r{i}", ({"role": "user", "content": p},), "test@1") for i, p in enumerate(prompts)])
"""


def start_child(base_url: str, cache_dir: Path, tag: str, count: int,
                stdout: int | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, base_url, str(cache_dir), tag, str(count)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=stdout,
        text=True,
    )


def cached_keys(cache_dir: Path) -> set[str]:
    cache = ResponseCache(cache_dir)
    try:
        return set(cache.keys())
    finally:
        cache.close()


def test_repeated_sigkills_repeat_no_finished_call(
    loopback: LoopbackServer, loopback_config: Callable[..., TeacherConfig], tmp_path: Path
) -> None:
    loopback.settings.latency_seconds = 0.05  # 8 in flight: ~150 answers a second
    config = loopback_config(max_in_flight=8)
    teacher = Teacher(config)
    requests = [ChatRequest(f"r{i}", ({"role": "user", "content": p},), "test@1") for i, p in enumerate(PROMPTS)]
    key_of = {r.messages[0]["content"]: teacher.cache_key(r) for r in requests}
    prompt_of = {key: prompt for prompt, key in key_of.items()}
    rng = random.Random()
    seed = rng.randrange(1 << 30)
    rng.seed(seed)

    done_before: set[str] = set()  # keys the client had counted as done in an earlier, killed run
    kills = 0
    for _ in range(5):
        remaining = len(PROMPTS) - len(cached_keys(config.cache_dir))
        if remaining < 40:
            break
        # Kill at a random point of the calls (by the server's count of requests, so a busy machine
        # that starts the child slowly still gets killed mid-run), then a random instant later.
        kill_after = rng.randint(10, remaining - 30)
        loopback.app.reset_counters()
        child = start_child(loopback.base_url, config.cache_dir, "resume", len(PROMPTS), stdout=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while loopback.app.total_requests < kill_after and time.monotonic() < deadline:
                time.sleep(0.002)
            time.sleep(rng.uniform(0.0, 0.02))
            os.kill(child.pid, signal.SIGKILL)
            out, _ = child.communicate(timeout=10)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        assert child.returncode == -signal.SIGKILL, f"seed {seed}: the child finished before the kill"
        kills += 1
        done_now = set(out.split())
        requested = set(loopback.app.requests_by_prompt)
        repeated = {prompt_of[k] for k in done_before} & requested
        assert not repeated, f"seed {seed}: {len(repeated)} finished calls were sent again: {sorted(repeated)[:3]}"
        assert done_now <= cached_keys(config.cache_dir), f"seed {seed}: a call counted done is not in the cache"
        done_before |= done_now

    assert kills >= 2 and 0 < len(done_before) < len(PROMPTS), f"seed {seed}"
    saved = cached_keys(config.cache_dir)  # done, plus any saved in the instant before a kill
    loopback.app.reset_counters()
    rerun = teacher.run(requests)
    requested = set(loopback.app.requests_by_prompt)
    assert not requested & {prompt_of[k] for k in done_before}, f"seed {seed}"
    assert requested == {p for p in PROMPTS if key_of[p] not in saved}, f"seed {seed}"
    assert rerun.stats.cache_hits == len(saved) and rerun.failures == []


def test_processes_share_one_cache_dir(
    loopback: LoopbackServer, loopback_config: Callable[..., TeacherConfig]
) -> None:
    # Two processes at once, as Dagster runs partitions, write to one directory without losing entries.
    loopback.settings.latency_seconds = 0.01
    config = loopback_config()
    children = [start_child(loopback.base_url, config.cache_dir, tag, 40, stdout=subprocess.DEVNULL)
                for tag in ("alpaca", "flan")]
    for child in children:
        assert child.wait(timeout=120) == 0
    requests = [ChatRequest(f"{tag}{i}", ({"role": "user", "content": f"{tag} prompt {i}"},), "test@1")
                for tag in ("alpaca", "flan") for i in range(40)]
    both = Teacher(loopback_config(cache_mode="cache_only")).run(requests)
    assert both.stats.cache_hits == 80
    assert loopback.app.total_requests == 80
