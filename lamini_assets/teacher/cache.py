"""The content-addressed answer cache: one diskcache entry per distinct call.

Key: sha256 of canonical JSON (sorted keys, no whitespace) of everything that changes the answer:
backend kind, model, messages, sampling parameters (seed included), n, response format and the
request's prompt-template version. The API key is never part of it, and neither is base_url: the
same model behind another URL (a proxy, another region, a local mirror) gives the same answer, so
moving endpoints keeps the cache. Point two different models under one name at the same cache_dir
and they would share answers; give them different model names.

Value: compact JSON with the answer's text(s), finish_reason, usage, the model name the server
returned, when it was received and how long the call took. Failures are never stored.

diskcache keeps its index in SQLite (WAL), so several processes (Dagster partitions) can share one
directory; each committed write survives the writing process being killed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import diskcache

# Reads run in chunks so a bulk lookup never holds the database lock for long.
_READ_CHUNK = 2000


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 kept as is."""
    return _CANONICAL.encode(value)


def make_cache_key(material: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(material).encode("utf-8")).hexdigest()


@dataclass(slots=True)
class CachedAnswer:
    texts: list[str]
    finish_reason: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    created_at: str  # ISO-8601 UTC
    latency_seconds: float

    def to_json(self) -> str:
        return canonical_json(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> CachedAnswer:
        return cls(**json.loads(text))


class ResponseCache:
    """diskcache at `directory`, read in bulk and written in transactions."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        # No eviction: a teacher answer is paid for, so it is never dropped silently (and culling
        # on every write costs ~3x the write itself).
        self._cache = diskcache.Cache(str(directory), eviction_policy="none", cull_limit=0)
        self.directory = directory

    def get_many(self, keys: Iterable[str]) -> dict[str, CachedAnswer]:
        found: dict[str, CachedAnswer] = {}
        pending = list(keys)
        for start in range(0, len(pending), _READ_CHUNK):
            with self._cache.transact():
                for key in pending[start : start + _READ_CHUNK]:
                    value = self._cache.get(key)
                    if value is not None:
                        found[key] = CachedAnswer.from_json(value)
        return found

    def put_many(self, items: list[tuple[str, CachedAnswer]]) -> None:
        with self._cache.transact():
            for key, answer in items:
                self._cache.set(key, answer.to_json())

    def keys(self) -> list[str]:
        return list(self._cache.iterkeys())

    def __len__(self) -> int:
        return len(self._cache)

    def close(self) -> None:
        self._cache.close()


class CacheWriter:
    """Writes finished answers soon after they arrive: each batch gathers for at most `flush_seconds`,
    then commits in one transaction on a worker thread (SQLite releases the GIL while it writes).
    With flush_seconds == 0 every answer is committed on its own, right away."""

    def __init__(self, cache: ResponseCache, flush_seconds: float) -> None:
        self._cache = cache
        self._flush_seconds = flush_seconds
        self._pending: list[tuple[str, CachedAnswer]] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self.written = 0

    def start(self) -> None:
        if self._flush_seconds > 0:
            self._task = asyncio.create_task(self._run(), name="teacher-cache-writer")

    def add(self, key: str, answer: CachedAnswer) -> None:
        if self._task is None:
            self._cache.put_many([(key, answer)])
            self.written += 1
            return
        self._pending.append((key, answer))
        self._wake.set()

    async def _flush(self) -> None:
        batch, self._pending = self._pending, []
        if batch:
            await asyncio.to_thread(self._cache.put_many, batch)
            self.written += len(batch)

    async def _run(self) -> None:
        while not self._closing:
            await self._wake.wait()
            self._wake.clear()
            if not self._closing:
                await asyncio.sleep(self._flush_seconds)
            await self._flush()

    async def close(self) -> None:
        """Write everything still pending (also on errors and cancellation)."""
        task, self._task = self._task, None
        try:
            if task is not None:
                self._closing = True
                self._wake.set()
                await task
        finally:
            if self._pending:
                self._cache.put_many(self._pending)
                self.written += len(self._pending)
                self._pending = []
