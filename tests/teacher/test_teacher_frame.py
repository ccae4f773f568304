"""The columnar response path (Teacher.run_frame, ResponseCache.get_frame, answer_instructions): the same
keys, answers and failure rows as the per-request path, on thousands of real prompts, with one bulk
cache read for a warm partition."""

from __future__ import annotations

import json
from collections.abc import Callable

import polars as pl
import pytest

from lamini_assets.generation import RESPONSE_TEMPLATE_VERSION
from lamini_assets.generation.partitions import answer_instructions, response_requests
from lamini_assets.generation.prompts import build_response_messages, response_messages
from lamini_assets.schema import INSTRUCTION_SCHEMA, RESPONSE_SCHEMA, make_instruction_id
from lamini_assets.teacher import CacheMissError, ChatFailure, Teacher, TeacherConfig
from lamini_assets.teacher.cache import ResponseCache
from lamini_assets.teacher.errors import CorruptCacheError
from tests.support.lamini_dataset_fixture import p3_rows
from tests.support.loopback_openai import Fault, LoopbackServer
from tests.support.paths import SHARED_DATA

# Inputs whose emptiness Python's strip() and Unicode's White_Space disagree on (U+001C-U+001F),
# JSON escapes (quotes, backslashes, control characters) and non-ASCII text.
EDGE_CASES = [
    ("Summarise the text.", "\x1c\x1d\x1e\x1f"),
    ("Summarise the text.", " \t\n\u3000\xa0"),
    ('Quote "this" \\ that', "tab\there\x00\x7f\u2028 é 😀 </script>"),
    ("Translate to French:", "  padded input  "),
]


def instruction_frame(pairs: list[tuple[str, str]], label: str = "original_p3") -> pl.DataFrame:
    return pl.DataFrame(
        [{"instruction_id": make_instruction_id(text, inp), "instruction_source": label, "instruction": text,
          "input": inp, "template": "t", "origin": "x", "example_ids": [], "topics": []} for text, inp in pairs],
        schema=INSTRUCTION_SCHEMA,
    )


@pytest.fixture(scope="module")
def real_pairs() -> list[tuple[str, str]]:
    """Over 3,000 real P3 prompts and the 175 Self-Instruct seed tasks (125 with an input), distinct."""
    with (SHARED_DATA / "self_instruct_seed_tasks.jsonl").open(encoding="utf-8") as handle:
        tasks = [json.loads(line) for line in handle if line.strip()]
    pairs = [(prompt, "") for prompt, _ in p3_rows(5000, max_prompt_words=400)]
    pairs += [(t["instruction"], t["instances"][0]["input"]) for t in tasks] + EDGE_CASES
    distinct = list(dict.fromkeys(pairs))
    assert len(distinct) > 3000
    return distinct


def per_row_reference(label: str, instructions: pl.DataFrame, teacher: Teacher) -> pl.DataFrame:
    """The responses table as the per-request path builds it (Teacher.run, one record per row)."""
    run = teacher.run(response_requests(instructions.to_dicts(), teacher.config.system_prompt))
    answers = run.by_row_id()
    records = []
    for row in instructions.select("instruction_id", "instruction", "input").to_dicts():
        answer = answers[row["instruction_id"]]
        base = {**row, "instruction_source": label, "response_template_version": RESPONSE_TEMPLATE_VERSION,
                "cache_key": answer.cache_key}
        if isinstance(answer, ChatFailure):
            records.append({**base, "response": None, "finish_reason": "error", "truncated": False,
                            "teacher_model": teacher.config.model, "prompt_tokens": 0, "completion_tokens": 0,
                            "error": f"{answer.error_class}: {answer.message}"})
        else:
            records.append({**base, "response": answer.text, "finish_reason": answer.finish_reason,
                            "truncated": answer.truncated, "teacher_model": answer.model,
                            "prompt_tokens": answer.prompt_tokens, "completion_tokens": answer.completion_tokens,
                            "error": None})
    return pl.DataFrame(records, schema=RESPONSE_SCHEMA)


def test_columnar_messages_and_keys_equal_the_per_request_ones(real_pairs, tmp_path) -> None:
    teacher = Teacher(TeacherConfig(cache_dir=tmp_path / "cache"))
    instructions = instruction_frame(real_pairs)
    columns = response_messages(instructions, teacher.config.system_prompt)
    per_row = [build_response_messages(text, inp, teacher.config.system_prompt) for text, inp in real_pairs]
    assert [tuple(m) for m in columns.to_list()] == per_row
    keys = teacher.frame_keys(columns, RESPONSE_TEMPLATE_VERSION).to_list()
    assert keys == [teacher.cache_key(r) for r in response_requests(instructions.to_dicts(), teacher.config.system_prompt)]


def test_a_warm_partition_is_one_bulk_read_with_the_per_row_answers(real_pairs, tmp_path) -> None:
    config = TeacherConfig(cache_dir=tmp_path / "cache")
    instructions = instruction_frame(real_pairs)
    half = instructions.height // 2
    # Half the partition answered through the per-request path first: the rest are calls.
    per_row_reference("original_p3", instructions.head(half), Teacher(config))
    partial = answer_instructions("original_p3", instructions, Teacher(config))
    # Two edge-case inputs are blank to Python's strip(), so their rows ask the same call: one key.
    distinct = instructions.height - 1
    assert (partial.teacher_stats.unique_keys, partial.teacher_stats.cache_hits, partial.teacher_stats.misses) == (
        distinct, half, distinct - half)
    expected = per_row_reference("original_p3", instructions, Teacher(config))
    assert partial.rows.equals(expected)

    # Warm: every answer from the cache, no call, the same rows.
    warm = answer_instructions("original_p3", instructions, Teacher(TeacherConfig(cache_dir=config.cache_dir,
                                                                                     cache_mode="cache_only")))
    assert warm.rows.equals(expected)
    stats = warm.teacher_stats
    assert (stats.requests, stats.unique_keys, stats.cache_hits, stats.misses, stats.http_attempts) == (
        instructions.height, distinct, distinct, 0, 0)
    assert warm.counts == {"instructions": instructions.height, "answered": instructions.height, "failed": 0,
                           "truncated": 0}

    # cache_only still refuses to call for what the cache lacks.
    extra = instruction_frame([("A question nobody asked before?", "")])
    with pytest.raises(CacheMissError):
        answer_instructions("original_p3", pl.concat([instructions, extra]),
                            Teacher(TeacherConfig(cache_dir=config.cache_dir, cache_mode="cache_only")))


def test_failed_and_truncated_calls_become_the_same_rows(
    loopback: LoopbackServer, loopback_config: Callable[..., TeacherConfig], real_pairs
) -> None:
    loopback.settings.faults = [Fault("[fail]", "status", status=400), Fault("[long]", "truncate")]
    pairs = real_pairs[:300] + [("Never answered [fail]", ""), ("Say a lot [long]", "about this"),
                                ("Also never answered [fail]", "x")]
    instructions = instruction_frame(pairs)
    config = loopback_config(max_attempts=1)
    answered = answer_instructions("original_p3", instructions, Teacher(config))
    assert answered.counts == {"instructions": 303, "answered": 301, "failed": 2, "truncated": 1}
    assert answered.failures.height == 2 and set(answered.failures["asset"]) == {"responses"}
    reference = per_row_reference("original_p3", instructions, Teacher(config))  # the failures are called again
    assert answered.rows.equals(reference)
    failed = answered.rows.filter(pl.col("error").is_not_null())
    assert failed["finish_reason"].to_list() == ["error", "error"] and failed["response"].null_count() == 2


def test_bulk_read_names_a_damaged_entry(real_pairs, tmp_path) -> None:
    config = TeacherConfig(cache_dir=tmp_path / "cache")
    instructions = instruction_frame(real_pairs[:2000])
    answer_instructions("original_p3", instructions, Teacher(config))
    teacher = Teacher(config)
    keys = teacher.frame_keys(response_messages(instructions, config.system_prompt), RESPONSE_TEMPLATE_VERSION)
    cache = ResponseCache(config.cache_dir)
    assert cache.get_frame(keys).height == 2000
    cache._cache.set(keys[700], '{"texts": ["half an answer"]}')  # noqa: SLF001 - damage one entry
    with pytest.raises(CorruptCacheError, match=f"the entry for key {keys[700]} is not an answer"):
        cache.get_frame(keys)
    cache._cache.set(keys[700], "not json")  # noqa: SLF001
    with pytest.raises(CorruptCacheError, match=f"the entry for key {keys[700]} is not an answer"):
        answer_instructions("original_p3", instructions, teacher)
    cache.close()


def test_bulk_sha256_equals_hashlib_whatever_the_texts_share(real_pairs) -> None:
    """_sha256_hex hashes the blocks every text starts with once: the digests must stay hashlib's, also
    when only some rows share a prefix, or none, or the texts are shorter than a block."""
    import hashlib

    from lamini_assets.teacher.client import _sha256_hex

    head = '{"backend":"offline","messages":[{"content":"' + "S" * 150
    real = [head + json.dumps(text + inp) for text, inp in real_pairs]
    cases = {
        "shared head": real,
        # The first and last rows share 200 bytes that a middle row lacks: no shared blocks may be used.
        "first and last only": [real[0], real[1][:40] + "é" + real[1][40:], real[2], real[-1]],
        "one row differs early": [*real[:1000], "x" + real[1000], *real[1001:]],
        "short and non-ASCII": ["", "a", "é😀" * 20, "a" * 64, "a" * 63, "a" * 128, "a" * 129],
        "empty column": [],
    }
    for name, texts in cases.items():
        expected = [hashlib.sha256(text.encode("utf-8")).hexdigest() for text in texts]
        assert _sha256_hex(pl.Series("t", texts, dtype=pl.String)).to_list() == expected, name
    # A sliced column (an Arrow offset) hashes its own rows.
    sliced = pl.Series("t", real, dtype=pl.String).slice(7, 500)
    assert _sha256_hex(sliced).to_list() == [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in real[7:507]]
