"""A run killed with SIGKILL, then rerun, repeats no call whose answer had reached the cache."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from lamini_assets.teacher import ChatRequest, ResponseCache, Teacher, TeacherConfig
from tests.support.loopback_openai import LoopbackServer

REPO_ROOT = Path(__file__).resolve().parents[2]
PROMPTS = [f"resume prompt {i}" for i in range(80)]

CHILD = """
import sys
from pathlib import Path
from lamini_assets.teacher import ChatRequest, Teacher, TeacherConfig
base_url, cache_dir, tag, count = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
config = TeacherConfig(backend="openai", model="loopback-model", base_url=base_url, cache_dir=cache_dir,
                       max_in_flight=4, cache_flush_seconds=0.05)
prompts = [f"{tag} prompt {i}" for i in range(count)]
Teacher(config, api_key="unused").run(
    [ChatRequest(f"r{i}", ({"role": "user", "content": p},), "test@1") for i, p in enumerate(prompts)])
"""


def start_child(base_url: str, cache_dir: Path, tag: str, count: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, base_url, str(cache_dir), tag, str(count)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )


def test_sigkill_then_rerun_repeats_no_cached_call(
    loopback: LoopbackServer, loopback_config: Callable[..., TeacherConfig], tmp_path: Path
) -> None:
    loopback.settings.latency_seconds = 0.2  # 4 in flight: ~20 answers a second, 4 s for all 80
    config = loopback_config(max_in_flight=4)
    child = start_child(loopback.base_url, config.cache_dir, "resume", len(PROMPTS))
    try:
        deadline = time.monotonic() + 20
        while loopback.app.total_requests < 30 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    answered_before_kill = set(loopback.app.requests_by_prompt)

    cache = ResponseCache(config.cache_dir)
    cached_keys = set(cache.keys())
    cache.close()
    assert 0 < len(cached_keys) < len(PROMPTS)

    teacher = Teacher(config)
    requests = [ChatRequest(f"r{i}", ({"role": "user", "content": p},), "test@1") for i, p in enumerate(PROMPTS)]
    key_of = {r.messages[0]["content"]: teacher.cache_key(r) for r in requests}
    assert cached_keys <= set(key_of.values())

    loopback.settings.latency_seconds = 0.0
    loopback.app.reset_counters()
    rerun = teacher.run(requests)

    requested_again = set(loopback.app.requests_by_prompt)
    assert not {p for p in requested_again if key_of[p] in cached_keys}
    assert requested_again == {p for p in PROMPTS if key_of[p] not in cached_keys}
    assert rerun.stats.cache_hits == len(cached_keys) and rerun.failures == []
    # Only calls in flight at the kill, or answered within the last flush window, may be repeated.
    assert len(answered_before_kill) - len(cached_keys) <= 12


def test_processes_share_one_cache_dir(
    loopback: LoopbackServer, loopback_config: Callable[..., TeacherConfig]
) -> None:
    # Two processes at once, as Dagster runs partitions, write to one directory without losing entries.
    loopback.settings.latency_seconds = 0.01
    config = loopback_config()
    children = [start_child(loopback.base_url, config.cache_dir, tag, 40) for tag in ("alpaca", "flan")]
    for child in children:
        assert child.wait(timeout=30) == 0
    requests = [ChatRequest(f"{tag}{i}", ({"role": "user", "content": f"{tag} prompt {i}"},), "test@1")
                for tag in ("alpaca", "flan") for i in range(40)]
    both = Teacher(loopback_config(cache_mode="cache_only")).run(requests)
    assert both.stats.cache_hits == 80
    assert loopback.app.total_requests == 80
