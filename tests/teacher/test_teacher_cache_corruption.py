"""A damaged teacher cache (truncated or garbage SQLite index, a truncated or missing value file) is
reported naming the file and how to rebuild, and `repair` rebuilds it keeping every readable answer."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from lamini_assets.teacher import ChatRequest, Teacher, TeacherConfig
from lamini_assets.teacher.cache import CachedAnswer, ResponseCache, repair_cache
from lamini_assets.teacher.errors import CorruptCacheError
from tests.support.lamini_dataset_fixture import p3_rows

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def real_prompts(limit: int) -> list[str]:
    """Real P3 prompts (thousands), as the responses stage sends them."""
    return list(dict.fromkeys(prompt for prompt, _ in p3_rows(limit * 2, max_prompt_words=400)))[:limit]


def requests(prompts: list[str]) -> list[ChatRequest]:
    return [ChatRequest(f"r{i}", ({"role": "user", "content": p},), "test@1", {}) for i, p in enumerate(prompts)]


@pytest.fixture
def filled_cache(tmp_path: Path) -> tuple[TeacherConfig, list[ChatRequest], str]:
    """2,500 offline-teacher answers to real prompts, plus one answer over 32 KB (diskcache keeps it in a value file)."""
    prompts = real_prompts(2500)
    assert len(prompts) == 2500
    config = TeacherConfig(cache_dir=tmp_path / "teacher_cache")
    asked = requests(prompts)
    assert Teacher(config).run(asked).stats.misses == 2500
    cache = ResponseCache(config.cache_dir)
    long_text = "\n\n".join(prompts[:400])
    assert len(long_text.encode()) > 40_000
    cache.put("a" * 64, CachedAnswer([long_text], "stop", "offline", 1, 1, "2026-11-27T00:00:00Z", 0.1))
    cache.close()
    return config, asked, "a" * 64


def value_file(directory: Path) -> Path:
    (path,) = [p for p in directory.rglob("*.val")]
    return path


def checkpoint(directory: Path) -> None:
    """Move every committed page from the WAL into cache.db, so damage to cache.db is what readers see."""
    conn = sqlite3.connect(directory / "cache.db")
    assert conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
    conn.close()


def test_truncated_index_is_named_and_repair_moves_it_aside(filled_cache) -> None:
    config, asked, _ = filled_cache
    database = config.cache_dir / "cache.db"
    checkpoint(config.cache_dir)
    with database.open("r+b") as handle:
        handle.truncate(database.stat().st_size // 2)
    with pytest.raises(CorruptCacheError) as raised:
        Teacher(config).run(asked)  # what a responses partition would hit
    message = str(raised.value)
    assert message.startswith(f"teacher cache is corrupt: {database}: ")
    assert f"python -m lamini_assets.teacher.cache repair {config.cache_dir}" in message

    # What survives depends on which pages the cut took (SQLite may refuse the file whole): the rows that
    # read are kept, the rest is called again.
    report = repair_cache(config.cache_dir)
    assert report.kept < 2 * 2500 + 1 and report.moved_to is not None and (report.moved_to / "cache.db").is_file()
    rerun = Teacher(config).run(asked)
    assert rerun.stats.cache_hits == report.kept // 2 and rerun.stats.misses == 2500 - report.kept // 2


def test_damaged_pages_are_named_and_repair_keeps_every_readable_answer(filled_cache) -> None:
    config, asked, _ = filled_cache
    database = config.cache_dir / "cache.db"
    checkpoint(config.cache_dir)
    with sqlite3.connect(database) as conn:  # SQLite's own page map: which pages hold Cache rows
        leaves = [page for (page,) in conn.execute("SELECT pageno FROM dbstat WHERE name = 'Cache' AND pagetype = 'leaf'")]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with database.open("r+b") as handle:  # two leaf pages in the middle overwritten (a bad sector, a torn copy)
        for page in leaves[len(leaves) // 2 : len(leaves) // 2 + 2]:
            handle.seek(page_size * (page - 1))
            handle.write(b"\xff" * page_size)
    with pytest.raises(CorruptCacheError, match=f"teacher cache is corrupt: {database}: "):
        Teacher(config).run(asked)

    report = repair_cache(config.cache_dir)
    assert report.moved_to is not None and report.unreadable_ranges >= 1
    assert 2 * 2500 * 0.5 < report.kept < 2 * 2500 + 1  # answers and their stored requests, most of them
    rerun = Teacher(config).run(asked)  # opens fine; only what was lost is called again
    assert rerun.stats.cache_hits > 1000 and rerun.stats.cache_hits + rerun.stats.misses == 2500
    assert len(rerun.results) == 2500 and not rerun.failures


def test_garbage_index_is_named_and_repair_starts_empty(filled_cache) -> None:
    config, asked, _ = filled_cache
    checkpoint(config.cache_dir)
    (config.cache_dir / "cache.db").write_bytes(b"not sqlite " * 1000)
    with pytest.raises(CorruptCacheError, match="file is not a database"):
        ResponseCache(config.cache_dir)
    report = repair_cache(config.cache_dir)
    assert report.kept == 0 and report.moved_to is not None
    assert (report.moved_to / "cache.db").read_bytes().startswith(b"not sqlite")  # kept for inspection
    assert Teacher(config).run(asked[:50]).stats.misses == 50


def test_truncated_value_file_is_named_and_repair_drops_only_that_entry(filled_cache) -> None:
    config, asked, big_key = filled_cache
    damaged = value_file(config.cache_dir)
    damaged.write_bytes(damaged.read_bytes()[:1000])
    cache = ResponseCache(config.cache_dir)
    assert len(cache.get_many([Teacher(config).cache_key(r) for r in asked])) == 2500  # small answers still read
    with pytest.raises(CorruptCacheError) as raised:
        cache.get_many([big_key])
    cache.close()
    assert str(damaged) in str(raised.value) and "is not an answer" in str(raised.value)

    result = subprocess.run([sys.executable, "-m", "lamini_assets.teacher.cache", "repair", str(config.cache_dir)],
                            capture_output=True, text=True, check=True, cwd=PROJECT_ROOT, env=os.environ.copy())
    assert "dropped 1 unreadable entries" in result.stdout, result.stdout
    cache = ResponseCache(config.cache_dir)
    assert cache.get_many([big_key]) == {}
    assert len(cache.keys()) == 2500
    cache.close()
    assert Teacher(config).run(asked).stats.cache_hits == 2500


def test_missing_value_file_is_not_a_silent_miss(filled_cache) -> None:
    config, _, big_key = filled_cache
    damaged = value_file(config.cache_dir)
    damaged.unlink()
    cache = ResponseCache(config.cache_dir)
    with pytest.raises(CorruptCacheError, match=f"{damaged}: the value file of key {big_key} is missing"):
        cache.get_many([big_key])
    cache.close()
    assert repair_cache(config.cache_dir).dropped == 1


def test_a_healthy_cache_is_left_alone(filled_cache) -> None:
    config, _, _ = filled_cache
    report = repair_cache(config.cache_dir)
    assert report.moved_to is None and report.dropped == 0
    assert not list(config.cache_dir.parent.glob("*.corrupt-*"))
