"""Each answer is stored with the request behind it, readable by cache key (never the API key)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from lamini_assets.teacher import CachedAnswer, ChatRequest, ResponseCache, Teacher, TeacherConfig
from lamini_assets.teacher.cache import make_cache_key
from tests.support.loopback_openai import LoopbackServer

SECRET = "sk-test-secret-key-0123456789"


def test_requests_are_stored_with_answers_and_read_back_by_key(
    loopback: LoopbackServer, loopback_config: Callable[..., TeacherConfig]
) -> None:
    config = loopback_config(sampling={"temperature": 0.3, "max_tokens": 64, "seed": 11})
    teacher = Teacher(config, api_key=SECRET)
    requests = [
        ChatRequest(f"r{i}", ({"role": "system", "content": "Be concise."}, {"role": "user", "content": f"q {i}"}),
                    "test@1", {"temperature": 0.9} if i == 0 else {})
        for i in range(20)
    ]
    result = teacher.run(requests)
    keys = [r.cache_key for r in result.results]

    cache = ResponseCache(config.cache_dir)
    try:
        stored = cache.get_requests([*keys, "0" * 64])
        assert set(stored) == set(keys)  # an unknown key is simply absent
        for request, key in zip(requests, keys, strict=True):
            assert stored[key] == {**teacher.key_material(request), "messages": list(request.messages)}
            assert make_cache_key(stored[key]) == key  # exactly the material the key was made from
        assert stored[keys[0]]["params"]["temperature"] == 0.9
        assert stored[keys[1]]["params"] == {"temperature": 0.3, "max_tokens": 64, "seed": 11, "n": 1}
        assert len(cache) == 20 and set(cache.keys()) == set(keys)  # requests are not counted as answers
    finally:
        cache.close()
    raw = b"".join(p.read_bytes() for p in config.cache_dir.rglob("*") if p.is_file())
    assert SECRET.encode() not in raw


def test_entries_written_without_a_request_still_answer(
    loopback: LoopbackServer, loopback_config: Callable[..., TeacherConfig]
) -> None:
    # An entry as earlier versions wrote it: the answer alone.
    config = loopback_config()
    teacher = Teacher(config)
    request = ChatRequest("old", ({"role": "user", "content": "answered long ago"},), "test@1")
    key = teacher.cache_key(request)
    old = CachedAnswer(["old answer"], "stop", "loopback-model", 3, 2, datetime.now(UTC).isoformat(), 0.1)
    cache = ResponseCache(config.cache_dir)
    cache.put(key, old)
    cache.close()

    result = teacher.run([request])
    assert result.results[0].cached and result.results[0].text == "old answer"
    assert loopback.app.total_requests == 0
    cache = ResponseCache(config.cache_dir)
    assert cache.get_requests([key]) == {}
    cache.close()


def test_large_requests_and_answers_stored_in_files_read_back(tmp_path) -> None:
    # diskcache keeps values of 32 KB or more in files, outside its table: the bulk reads fall back.
    cache = ResponseCache(tmp_path / "cache")
    long_prompt = "word " * 10_000
    answer = CachedAnswer(["long " * 10_000], "stop", "m", 10_000, 10_000, datetime.now(UTC).isoformat(), 1.0)
    request = {"messages": [{"role": "user", "content": long_prompt}], "params": {"n": 1}}
    cache.put("k" * 64, answer, request)
    cache.put("s" * 64, CachedAnswer(["short"], "stop", "m", 1, 1, "t", 0.1), {"messages": [], "params": {}})
    try:
        assert cache.get_many(["k" * 64, "s" * 64, "x" * 64]) == {"k" * 64: answer, "s" * 64: cache.get_many(["s" * 64])["s" * 64]}
        assert cache.get_requests(["k" * 64])["k" * 64] == request
        assert any(p.suffix == ".val" for p in (tmp_path / "cache").rglob("*"))  # really in a file
    finally:
        cache.close()
