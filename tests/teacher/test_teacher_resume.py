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
config = TeacherConfig(backend="openai", model="loopback-model", base_url=sys.argv[1], cache_dir=Path(sys.argv[2]),
                       max_in_flight=4, cache_flush_seconds=0.05)
prompts = [f"resume prompt {i}" for i in range(80)]
Teacher(config, api_key="unused").run(
    [ChatRequest(f"r{i}", ({"role": "user", "content": p},), "test@1") for i, p in enumerate(prompts)])
"""


def test_sigkill_then_rerun_repeats_no_cached_call(
    loopback: LoopbackServer, loopback_config: Callable[..., TeacherConfig], tmp_path: Path
) -> None:
    loopback.settings.latency_seconds = 0.2  # 4 in flight: ~20 answers a second, 4 s for all 80
    config = loopback_config(max_in_flight=4)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, loopback.base_url, str(config.cache_dir)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
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
    # Only answers in flight at the kill may be lost: at most max_in_flight plus one flush window.
    assert len(answered_before_kill) - len(cached_keys) <= 8
