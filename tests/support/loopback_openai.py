"""An OpenAI-compatible `/v1/chat/completions` server on 127.0.0.1 with faults on demand.

Tests start it in a background thread (`start_loopback_server`); benchmarks can run it in its
own process (`spawn_loopback_server`) so the server does not compete with the client for the GIL.
Behaviour is set per server (latency, API key, requests-per-minute enforcement, rate-limit
headers) and per prompt marker (`Fault`: a status code, malformed JSON, missing choices, a hang,
a truncated answer), for every matching request or only the first `times` requests of each prompt.

Run by hand: `python -m tests.support.loopback_openai --latency 0.2 --rpm 600`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any, Literal

from aiohttp import web

FaultKind = Literal["status", "malformed_json", "missing_choices", "hang", "truncate"]


@dataclass
class Fault:
    """Misbehaviour for requests whose last user message contains `marker` ("" = every prompt)."""

    marker: str
    kind: FaultKind
    status: int = 500
    times: int | None = None  # only the first `times` requests of each matching prompt; None = all
    probability: float | None = None  # each matching request at random with this chance (seeded); None = always
    headers: dict[str, str] = field(default_factory=dict)  # extra response headers, e.g. x-ratelimit-remaining-*
    retry_after: str | None = None  # the Retry-After header, verbatim (seconds or an HTTP date)
    retry_after_ms: int | None = None
    retry_after_date_in: float | None = None  # send Retry-After as an HTTP date this many seconds ahead
    hang_seconds: float = 30.0
    echo_auth: bool = False  # put the Authorization header in the error message (a careless proxy)


@dataclass
class LoopbackSettings:
    latency_seconds: float = 0.0
    required_api_key: str | None = None  # other keys get 401 (the body echoes the key sent)
    rpm_limit: int | None = None  # enforce a requests-per-minute token bucket, answering 429
    rpm_burst: float | None = None  # bucket size; default one second's worth of requests
    ratelimit_headers: bool = False  # send x-ratelimit-* headers on every answer
    faults: list[Fault] = field(default_factory=list)
    seed: int = 0  # for faults with a probability


class _RequestBucket:
    """Server-side token bucket: `rpm_limit` per minute, refilled continuously, starts full."""

    def __init__(self, rpm_limit: int, burst: float | None) -> None:
        self.rate_per_second = rpm_limit / 60.0
        self.capacity = burst if burst is not None else max(1.0, self.rate_per_second)
        self.level = self.capacity
        self.updated = time.monotonic()

    def take(self) -> float:
        """Take one request; returns 0.0 when allowed, else the seconds until one is available."""
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate_per_second)
        self.updated = now
        if self.level >= 1.0:
            self.level -= 1.0
            return 0.0
        return (1.0 - self.level) / self.rate_per_second

    def reset_seconds(self) -> float:
        return (self.capacity - self.level) / self.rate_per_second


def _last_user_message(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            return str(message.get("content", ""))
    return ""


def _duration(seconds: float) -> str:
    """OpenAI's reset format: "20ms", "1.5s", "6m0s"."""
    if seconds < 1.0:
        return f"{max(1, round(seconds * 1000))}ms"
    if seconds < 60.0:
        return f"{seconds:.3g}s"
    return f"{int(seconds // 60)}m{int(seconds % 60)}s"


class LoopbackApp:
    """The request handler and its counters; settings may be changed while it serves."""

    def __init__(self, settings: LoopbackSettings) -> None:
        self.settings = settings
        self.requests_by_prompt: Counter[str] = Counter()
        self.status_counts: Counter[int] = Counter()
        self.arrivals: dict[str, list[float]] = {}  # time.monotonic() of each request, per prompt
        self.total_requests = 0
        self.in_flight = 0
        self.max_in_flight = 0  # the most requests being handled at once
        self.in_flight_at_arrival: list[int] = []  # requests being handled when each one arrived (itself included)
        self._rng = random.Random(settings.seed)
        self._bucket: _RequestBucket | None = None
        self._bucket_for: tuple[int, float | None] | None = None

    def reset_counters(self) -> None:
        self.requests_by_prompt.clear()
        self.status_counts.clear()
        self.arrivals.clear()
        self.total_requests = 0
        self.max_in_flight = 0
        self.in_flight_at_arrival.clear()

    def stats(self) -> dict[str, Any]:
        return {
            "total_requests": self.total_requests,
            "status_counts": {str(k): v for k, v in self.status_counts.items()},
            "max_in_flight": self.max_in_flight,
            "requests_by_prompt": dict(self.requests_by_prompt),
        }

    def _rate_bucket(self) -> _RequestBucket | None:
        s = self.settings
        if s.rpm_limit is None:
            return None
        if self._bucket_for != (s.rpm_limit, s.rpm_burst):
            self._bucket = _RequestBucket(s.rpm_limit, s.rpm_burst)
            self._bucket_for = (s.rpm_limit, s.rpm_burst)
        return self._bucket

    def _ratelimit_headers(self, bucket: _RequestBucket | None) -> dict[str, str]:
        if not self.settings.ratelimit_headers or bucket is None:
            return {}
        return {
            "x-ratelimit-limit-requests": str(self.settings.rpm_limit),
            "x-ratelimit-remaining-requests": str(int(bucket.level)),
            "x-ratelimit-reset-requests": _duration(bucket.reset_seconds()),
        }

    def _reply(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> web.Response:
        self.status_counts[status] += 1
        return web.json_response(payload, status=status, headers=headers)

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.in_flight_at_arrival.append(self.in_flight)
        try:
            return await self._answer(request)
        finally:
            self.in_flight -= 1

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        prompt = _last_user_message(body)
        self.total_requests += 1
        self.requests_by_prompt[prompt] += 1
        self.arrivals.setdefault(prompt, []).append(time.monotonic())
        seen = self.requests_by_prompt[prompt]
        s = self.settings

        if s.required_api_key is not None:
            sent = request.headers.get("Authorization", "").removeprefix("Bearer ")
            if sent != s.required_api_key:
                # Real providers echo (part of) the key; the client must scrub it.
                error = {"message": f"Incorrect API key provided: {sent}", "type": "invalid_request_error"}
                return self._reply(401, {"error": error})

        bucket = self._rate_bucket()
        if bucket is not None:
            wait = bucket.take()
            if wait > 0.0:
                headers = {"Retry-After": str(math.ceil(wait)), "retry-after-ms": str(math.ceil(wait * 1000))}
                headers.update(self._ratelimit_headers(bucket))
                error = {"message": "Rate limit reached for requests", "type": "requests"}
                return self._reply(429, {"error": error}, headers)

        fault = next(
            (f for f in s.faults if f.marker in prompt and (f.times is None or seen <= f.times)
             and (f.probability is None or self._rng.random() < f.probability)),
            None,
        )
        if s.latency_seconds > 0.0:
            await asyncio.sleep(s.latency_seconds)
        headers = self._ratelimit_headers(bucket)
        if fault is not None and fault.kind == "status":
            headers.update(fault.headers)
            if fault.retry_after is not None:
                headers["Retry-After"] = fault.retry_after
            if fault.retry_after_ms is not None:
                headers["retry-after-ms"] = str(fault.retry_after_ms)
            if fault.retry_after_date_in is not None:
                headers["Retry-After"] = formatdate(time.time() + fault.retry_after_date_in, usegmt=True)
            message = f"loopback fault {fault.status}"
            if fault.echo_auth:
                message += f" for Authorization: {request.headers.get('Authorization', '')}"
            error = {"message": message, "type": "server_error"}
            return self._reply(fault.status, {"error": error}, headers)
        if fault is not None and fault.kind == "hang":
            await asyncio.sleep(fault.hang_seconds)
        if fault is not None and fault.kind == "malformed_json":
            self.status_counts[200] += 1
            return web.Response(
                text='{"id": "broken", "choices": [', content_type="application/json", headers=headers
            )

        answer = f"Loopback answer to: {prompt[:60]}"
        finish_reason = "length" if fault is not None and fault.kind == "truncate" else "stop"
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
        payload: dict[str, Any] = {
            "id": f"chatcmpl-loopback-{self.total_requests}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "loopback"),
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": len(answer.split()),
                "total_tokens": prompt_tokens + len(answer.split()),
            },
        }
        if fault is None or fault.kind != "missing_choices":
            payload["choices"] = [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": answer},
                    "finish_reason": finish_reason,
                }
                for i in range(int(body.get("n") or 1))
            ]
        return self._reply(200, payload, headers)

    async def admin_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def admin_reset(self, request: web.Request) -> web.Response:
        self.reset_counters()
        return web.json_response({"ok": True})

    def web_app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self.chat_completions)
        app.router.add_get("/_loopback/stats", self.admin_stats)
        app.router.add_post("/_loopback/reset", self.admin_reset)
        return app


class LoopbackServer:
    """A running in-process server: `base_url`, the live `app` (settings, counters), `stop()`."""

    def __init__(self, app: LoopbackApp, base_url: str, loop: asyncio.AbstractEventLoop,
                 runner: web.AppRunner, thread: threading.Thread) -> None:
        self.app = app
        self.base_url = base_url
        self._loop = loop
        self._runner = runner
        self._thread = thread

    @property
    def settings(self) -> LoopbackSettings:
        return self.app.settings

    def stats(self) -> dict[str, Any]:
        return self.app.stats()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(_shutdown(self._runner), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


async def _shutdown(runner: web.AppRunner) -> None:
    """Close the server, then cancel handlers still sleeping (hang faults) so none outlives the loop."""
    await runner.cleanup()
    current = asyncio.current_task()
    leftovers = [task for task in asyncio.all_tasks() if task is not current]
    for task in leftovers:
        task.cancel()
    await asyncio.gather(*leftovers, return_exceptions=True)


async def _serve(app: LoopbackApp, host: str, port: int) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app.web_app(), access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    bound_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, bound_port


def start_loopback_server(settings: LoopbackSettings | None = None, port: int = 0) -> LoopbackServer:
    """Serve on 127.0.0.1 (a free port unless given) from a daemon thread with its own loop."""
    app = LoopbackApp(settings or LoopbackSettings())
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="loopback-openai", daemon=True)
    thread.start()
    runner, bound_port = asyncio.run_coroutine_threadsafe(_serve(app, "127.0.0.1", port), loop).result(10)
    return LoopbackServer(app, f"http://127.0.0.1:{bound_port}/v1", loop, runner, thread)


class SpawnedLoopbackServer:
    """A server running in a child process; counters are read over HTTP."""

    def __init__(self, process: subprocess.Popen[str], base_url: str) -> None:
        self.process = process
        self.base_url = base_url

    def _admin(self, path: str, method: str = "GET") -> dict[str, Any]:
        root = self.base_url.removesuffix("/v1")
        req = urllib.request.Request(root + path, method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(req, timeout=10) as response:
            return json.loads(response.read())

    def stats(self) -> dict[str, Any]:
        return self._admin("/_loopback/stats")

    def reset_counters(self) -> None:
        self._admin("/_loopback/reset", "POST")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def spawn_loopback_server(settings: LoopbackSettings | None = None) -> SpawnedLoopbackServer:
    """Start the server in a child Python process; faults are passed as JSON."""
    settings = settings or LoopbackSettings()
    repo_root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.loopback_openai", "--settings-json", json.dumps(asdict(settings))],
        stdout=subprocess.PIPE,
        text=True,
        cwd=repo_root,
        env={**os.environ, "PYTHONPATH": str(repo_root)},
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("http://"):
        process.kill()
        raise RuntimeError(f"loopback server did not start: {line!r}")
    return SpawnedLoopbackServer(process, line)


def _settings_from_json(text: str) -> LoopbackSettings:
    raw = json.loads(text)
    raw["faults"] = [Fault(**f) for f in raw.get("faults", [])]
    return LoopbackSettings(**raw)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--rpm", type=int, default=None, help="enforce this many requests per minute")
    parser.add_argument("--ratelimit-headers", action="store_true")
    parser.add_argument("--settings-json", default=None, help="a full LoopbackSettings as JSON")
    args = parser.parse_args()
    if args.settings_json:
        settings = _settings_from_json(args.settings_json)
    else:
        settings = LoopbackSettings(args.latency, rpm_limit=args.rpm, ratelimit_headers=args.ratelimit_headers)

    async def serve_forever() -> None:
        runner, port = await _serve(LoopbackApp(settings), "127.0.0.1", args.port)
        print(f"http://127.0.0.1:{port}/v1", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(serve_forever())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
