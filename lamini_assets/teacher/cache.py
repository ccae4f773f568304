"""The content-addressed answer cache: one diskcache entry per distinct call.

Key: sha256 of canonical JSON (sorted keys, no whitespace) of everything that changes the answer:
backend kind, model, messages, sampling parameters (seed included), n, response format and the
request's prompt-template version. The API key is never part of it, and neither is base_url: the
same model behind another URL (a proxy, another region, a local mirror) gives the same answer, so
moving endpoints keeps the cache. Point two different models under one name at the same cache_dir
and they would share answers; give them different model names.

Value: compact JSON with the answer's text(s), finish_reason, usage, the model name the server
returned, when it was received and how long the call took. Failures are never stored.

Request: next to each answer, under `request:<key>` and in the same transaction, the request that
produced it (the key material: backend, model, messages, sampling parameters, template version), so
the exact prompt behind any dataset row can be read back (`get_requests`). Entries written before
requests were stored simply have none.

diskcache keeps its index in SQLite (WAL), so several processes (Dagster partitions) can share one
directory; each committed write survives the writing process being killed, and the client commits
every answer before it counts the call as done.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import sqlite3
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import diskcache
import diskcache.core
import polars as pl

from lamini_assets.teacher.errors import CorruptCacheError

# Keys per SELECT: below SQLite's smallest limit on bound parameters (999 before 3.32).
_SELECT_CHUNK = 900
# Threads running the bulk SELECTs (SQLite releases the GIL while it reads).
_READ_THREADS = 2
# Stored requests live beside the answers under this prefix (answer keys are bare sha256 hex).
REQUEST_PREFIX = "request:"


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


# CachedAnswer's fields as columns (ResponseCache.get_frame), after the answer's `key`.
ANSWER_SCHEMA: dict[str, pl.DataType] = {
    "key": pl.String(), "texts": pl.List(pl.String()), "finish_reason": pl.String(), "model": pl.String(),
    "prompt_tokens": pl.Int64(), "completion_tokens": pl.Int64(), "created_at": pl.String(),
    "latency_seconds": pl.Float64(),
}
_ANSWER_STRUCT = pl.Struct({name: dtype for name, dtype in ANSWER_SCHEMA.items() if name != "key"})


class ResponseCache:
    """diskcache at `directory`, read in bulk and written in transactions.

    Damage is reported, never papered over: an unreadable SQLite index or a value file that is missing
    or does not hold an answer raises CorruptCacheError naming the file (diskcache alone would treat a
    missing value file as a miss and the answer would be paid for again without a word).
    """

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        # No eviction: a teacher answer is paid for, so it is never dropped silently (and culling
        # on every write costs ~3x the write itself).
        with self._reading():
            self._cache = diskcache.Cache(str(directory), eviction_policy="none", cull_limit=0)

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """SQLite's damage errors ("file is not a database", "database disk image is malformed") as
        CorruptCacheError naming the index file."""
        try:
            yield
        except sqlite3.DatabaseError as error:
            if isinstance(error, sqlite3.OperationalError) and "locked" in str(error):
                raise  # contention, not damage
            raise CorruptCacheError(str(self.directory), str(self.directory / diskcache.core.DBNAME), str(error)) from error

    def get_many(self, keys: Iterable[str]) -> dict[str, CachedAnswer]:
        found = self._get_texts(keys, "")
        answers = {}
        for key, value in found.items():
            try:
                answers[key] = CachedAnswer.from_json(value)
            except (ValueError, TypeError) as error:
                raise self._not_an_answer(key, error) from error
        return answers

    def get_frame(self, keys: pl.Series | Sequence[str]) -> pl.DataFrame:
        """The stored answers of `keys` as columns (ANSWER_SCHEMA: `key` and CachedAnswer's fields), one
        row per distinct key found; keys not in the cache are absent. The columnar twin of `get_many`
        for bulk reads (a warm responses partition): the keys are looked up in sorted order (neighbouring
        index pages) and the JSON values parsed as one column, with no object per answer. Damage raises
        CorruptCacheError as in get_many."""
        wanted = pl.Series("key", keys, dtype=pl.String).unique().sort()
        stored_keys, values = self._fetch_columns(wanted.to_list())
        texts = pl.DataFrame({"key": stored_keys, "value": values}, schema={"key": pl.String, "value": pl.String})
        try:
            parsed = texts.select("key", pl.col("value").str.json_decode(_ANSWER_STRUCT).alias("answer")).unnest("answer")
            complete = not parsed.select(pl.any_horizontal(pl.all().is_null()).any()).item()
        except pl.exceptions.PolarsError:
            complete = False
        if not complete:
            # Name the first entry that is not an answer, as get_many does.
            for key, value in zip(stored_keys, values):
                try:
                    CachedAnswer.from_json(value)
                except (ValueError, TypeError) as error:
                    raise self._not_an_answer(key, error) from error
            raise CorruptCacheError(str(self.directory), str(self.directory / diskcache.core.DBNAME),
                                    "an entry lacks a field of an answer")
        return parsed.select(list(ANSWER_SCHEMA)).cast(ANSWER_SCHEMA)  # type: ignore[arg-type]

    def _not_an_answer(self, key: str, error: Exception) -> CorruptCacheError:
        return CorruptCacheError(str(self.directory), self._location(key), f"the entry for key {key} is not an answer ({error})")

    def _location(self, key: str) -> str:
        """The file that holds a key's value: its value file, else the index."""
        with self._reading():
            row = self._cache._sql("SELECT filename FROM Cache WHERE raw = 1 AND key = ?", (key,)).fetchone()  # noqa: SLF001
        return str(self.directory / row[0]) if row and row[0] else str(self.directory / diskcache.core.DBNAME)

    def _get_texts(self, keys: Iterable[str], prefix: str) -> dict[str, str]:
        """The stored text of each `prefix + key` there is, by key."""
        stored, values = self._fetch_columns(sorted(prefix + key for key in keys))
        return {key[len(prefix):]: value for key, value in zip(stored, values)}

    def _fetch_columns(self, stored: list[str]) -> tuple[list[str], list[str]]:
        """(keys, texts) of the keys in `stored` (as stored, prefix included) that the cache holds.

        One SELECT per _SELECT_CHUNK keys on diskcache's own Cache table instead of one `get` per key
        (measured on 173k answers: per-key get 65k keys/s, these SELECTs 131k/s in random order and
        179k/s with the keys sorted, as the callers pass them). Two threads run the SELECTs, each on
        diskcache's connection of its thread: SQLite reads without holding the GIL, so a warm 600k-key
        read takes about half the wall time for the same CPU (~4.6 s; the reads are random row reads:
        a join on a JSON list of keys, reading by rowid order or one joined text per chunk cost the same
        or more). Values of 32 KB or more live in files; those few go through `get`."""
        chunks = [stored[start : start + _SELECT_CHUNK] for start in range(0, len(stored), _SELECT_CHUNK)]
        found_keys: list[str] = []
        found_values: list[str] = []
        with self._reading(), ThreadPoolExecutor(max_workers=_READ_THREADS, thread_name_prefix="teacher-cache-read") as pool:
            # In order, each chunk's rows dropped once copied; one chunk (a small read) stays on this thread.
            selected = pool.map(self._select_chunk, chunks) if len(chunks) > 1 else map(self._select_chunk, chunks)
            for rows in selected:
                if not rows:
                    continue
                # Columns by zip and the mode test by tuple.count, in C: a Python loop over each row cost
                # ~1 s of CPU (holding the GIL the reading threads need) at 741k keys.
                chunk_keys, modes, values, filenames = zip(*rows)
                found_keys.extend(chunk_keys)
                if modes.count(diskcache.core.MODE_RAW) == len(modes):
                    found_values.extend(values)
                    continue
                for stored_key, mode, value, filename in rows:
                    if mode != diskcache.core.MODE_RAW:
                        value = self._cache.get(stored_key)
                        if value is None:  # diskcache reads a missing value file as a miss
                            raise CorruptCacheError(str(self.directory), str(self.directory / (filename or "")),
                                                    f"the value file of key {stored_key} is missing")
                    found_values.append(value)
        return found_keys, found_values

    def _select_chunk(self, chunk: list[str]) -> list[tuple[str, int, str | None, str | None]]:
        return self._cache._sql(  # noqa: SLF001 - diskcache's documented Cache table
            f"SELECT key, mode, value, filename FROM Cache WHERE raw = 1 AND key IN ({','.join('?' * len(chunk))})",
            chunk,
        ).fetchall()

    def put(self, key: str, answer: CachedAnswer, request: Mapping[str, Any] | None = None) -> None:
        """Commit one answer (and the request behind it) durably, in one transaction."""
        self.put_many([(key, answer, request)])

    def put_many(self, items: Iterable[tuple[str, CachedAnswer, Mapping[str, Any] | None]]) -> None:
        with self._reading(), self._cache.transact():
            for key, answer, request in items:
                if request is not None:
                    self._cache.set(REQUEST_PREFIX + key, canonical_json(request))
                self._cache.set(key, answer.to_json())

    def get_requests(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The stored request of each key that has one: {"backend", "model", "messages", "params",
        "template_version"} (never an API key). Keys with no stored request (older entries) are absent."""
        return {key: json.loads(text) for key, text in self._get_texts(keys, REQUEST_PREFIX).items()}

    def keys(self) -> list[str]:
        """Keys of stored answers."""
        with self._reading():
            return [key for key in self._cache.iterkeys() if not key.startswith(REQUEST_PREFIX)]

    def __len__(self) -> int:
        return len(self.keys())

    def close(self) -> None:
        self._cache.close()


class CacheWriter:
    """Commits answers on a worker thread as soon as they arrive, in groups: answers that arrive while
    one commit runs go into the next. `save` returns a future that resolves once the answer is on
    disk, so the caller counts the call done only then and a kill never loses a finished call.

    Group commits, not one commit per answer on the event loop: a commit costs 0.1-0.5 ms (more on a
    busy machine), which at 1,000+ answers a second would take most of the loop's time.
    """

    def __init__(self, cache: ResponseCache, loop: asyncio.AbstractEventLoop) -> None:
        self._cache = cache
        self._loop = loop
        self._pending: list[tuple[str, CachedAnswer, Mapping[str, Any] | None, asyncio.Future[None]]] = []
        self._wake = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="teacher-cache-writer", daemon=True)
        self._thread.start()

    def save(self, key: str, answer: CachedAnswer, request: Mapping[str, Any] | None) -> asyncio.Future[None]:
        future: asyncio.Future[None] = self._loop.create_future()
        with self._wake:
            self._pending.append((key, answer, request, future))
            self._wake.notify()
        return future

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._closing:
                    self._wake.wait()
                if not self._pending:
                    return
                batch, self._pending = self._pending, []
            error: BaseException | None = None
            try:
                self._cache.put_many((key, answer, request) for key, answer, request, _ in batch)
            except BaseException as exc:  # reported to every waiting call, never swallowed
                error = exc
            try:
                self._loop.call_soon_threadsafe(_resolve, [future for *_, future in batch], error)
            except RuntimeError:  # the loop has closed; the answers are on disk all the same
                pass

    def close(self) -> None:
        """Commit everything still pending, then stop the thread."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._thread.join()


def _resolve(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for future in futures:
        if not future.done():
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)


@dataclass
class RepairReport:
    kept: int  # entries (answers and stored requests) copied into the rebuilt cache
    dropped: int  # entries whose row or value file could not be read
    unreadable_ranges: int  # ranges of _REPAIR_CHUNK rowids SQLite could not read (their entries are lost)
    moved_to: Path | None  # the damaged folder, kept for inspection (None: nothing was damaged)


_REPAIR_CHUNK = 500  # rowids per read while salvaging
_REPAIR_GIVE_UP = 40  # consecutive empty/unreadable ranges (20k rowids) that end the walk


def repair_cache(directory: Path) -> RepairReport:
    """Rebuild a damaged teacher cache in place: copy every entry that still reads (index row and, for
    large values, its value file holding valid JSON) into a fresh cache, move the damaged folder aside
    to `<directory>.corrupt-<time>`, and put the fresh one at `directory`. A healthy cache is left alone.

    SQLite's own recovery (`.recover`) is a CLI feature Python's sqlite3 lacks, so rows are read in
    rowid ranges and a range that fails is counted as lost.
    """
    try:
        cache = ResponseCache(directory)
        try:
            cache.get_many(cache.keys())
            cache.get_requests(cache.keys())
            return RepairReport(kept=len(cache._cache), dropped=0, unreadable_ranges=0, moved_to=None)  # noqa: SLF001
        finally:
            cache.close()
    except CorruptCacheError:
        pass
    rebuilt = directory.with_name(f"{directory.name}.rebuilding")
    shutil.rmtree(rebuilt, ignore_errors=True)
    fresh = diskcache.Cache(str(rebuilt), eviction_policy="none", cull_limit=0)
    kept = dropped = 0
    lost = [0]  # rowid ranges SQLite could not read
    try:
        for key, value in _readable_entries(directory / diskcache.core.DBNAME, directory, lost):
            if value is None or not _is_json(value):
                dropped += 1
                continue
            fresh.set(key, value)
            kept += 1
    finally:
        fresh.close()
    moved = directory.with_name(f"{directory.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
    directory.rename(moved)
    rebuilt.rename(directory)
    return RepairReport(kept=kept, dropped=dropped, unreadable_ranges=lost[0], moved_to=moved)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _readable_entries(database: Path, directory: Path, lost: list[int]) -> Iterator[tuple[str, str | None]]:
    """(key, text or None when unreadable) of every Cache row SQLite can still read."""
    try:
        conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    except sqlite3.DatabaseError:
        return  # not a database: nothing to salvage
    try:
        # max(rowid) reads the table's last page, which a truncation loses: walk rowid ranges instead and
        # stop after a run of ranges that are empty or unreadable.
        start, misses = 0, 0
        while misses < _REPAIR_GIVE_UP:
            try:
                rows = conn.execute(
                    "SELECT key, raw, mode, filename, value FROM Cache WHERE rowid >= ? AND rowid < ?",
                    (start, start + _REPAIR_CHUNK),
                ).fetchall()
            except sqlite3.DatabaseError:
                rows = None
            start += _REPAIR_CHUNK
            if not rows:
                misses += 1
                lost[0] += rows is None
                continue
            misses = 0
            for key, raw, mode, filename, value in rows:
                if not raw or not isinstance(key, str):
                    continue  # this project stores str keys only
                if mode == diskcache.core.MODE_RAW:
                    yield key, value
                elif mode == diskcache.core.MODE_TEXT and filename:
                    try:
                        yield key, (directory / filename).read_text(encoding="UTF-8")
                    except (OSError, UnicodeDecodeError):
                        yield key, None
                else:
                    yield key, None
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    """python -m lamini_assets.teacher.cache repair <cache_dir>"""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "repair":
        print(main.__doc__, file=sys.stderr)
        return 2
    report = repair_cache(Path(args[1]))
    if report.moved_to is None:
        print(f"{args[1]}: healthy, {report.kept} entries; nothing to do")
    else:
        print(f"{args[1]}: rebuilt with {report.kept} readable entries; dropped {report.dropped} unreadable entries "
              f"and {report.unreadable_ranges} unreadable index range(s) of {_REPAIR_CHUNK} rows (called again on the next run); "
              f"the damaged folder is at {report.moved_to}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
