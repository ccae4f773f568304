"""ROUGE-L against the teacher, grade parsing, and the teacher judge through the real client:
offline (deterministic, cached) and over HTTP against a loopback server (failures recorded)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from lamini_assets.evaluation.instruction import RUBRIC, grade_distribution, judge_answers, parse_grade, rouge_l
from lamini_assets.evaluation.items import ItemsError, held_out_items, user_oriented_items
from lamini_assets.teacher import Teacher, TeacherConfig
from tests.support.loopback_openai import Fault, LoopbackSettings, start_loopback_server

from tests.support.paths import SHARED_DATA


def test_rouge_l_against_the_teacher() -> None:
    scores = rouge_l(["the cat sat on the mat", "completely different words", ""],
                     ["the cat sat on the mat", "the cat sat on the mat", "the cat"])
    assert scores[0] == pytest.approx(1.0) and scores[1] == 0.0 and scores[2] == 0.0
    partial = rouge_l(["the cat sat"], ["the cat sat on the mat"])[0]
    assert 0.5 < partial < 1.0


@pytest.mark.parametrize("reply, grade", [
    ("Rating: B", "B"), ("Rating-A", "A"), ("rating: (c)", "C"), ("D", "D"), ("(A)", "A"),
    ("I would say Rating: C because ...", "C"), ("Grade: D", "D"),
    ("The answer is good.", None), ("Rating: E", None), ("", None),
])
def test_parse_grade(reply: str, grade: str | None) -> None:
    assert parse_grade(reply) == grade


def test_rubric_is_lamini_four_levels() -> None:
    assert [line.split(":")[0] for line in RUBRIC.splitlines()] == ["Rating-A", "Rating-B", "Rating-C", "Rating-D"]
    assert grade_distribution(["A", "A", "B", None, "D"]) == {"A": 0.5, "B": 0.25, "C": 0.0, "D": 0.25}


def _answers(n: int) -> pl.DataFrame:
    items = user_oriented_items(SHARED_DATA / "self_instruct_user_oriented_instructions.jsonl", n)
    return items.select(pl.col("item_id").alias("answer_id"), "instruction", pl.col("reference").alias("answer"))


def test_offline_judge_is_deterministic_and_cached(tmp_path: Path) -> None:
    answers = _answers(40)
    config = TeacherConfig(cache_dir=tmp_path / "cache")
    first = judge_answers(Teacher(config), answers)
    second = judge_answers(Teacher(config), answers)
    assert first.grades["grade"].to_list() == second.grades["grade"].to_list()
    assert first.grades["grade"].null_count() == 0 and set(first.grades["grade"]) <= set("ABCD")
    assert len(set(first.grades["grade"])) > 1  # a spread, not one constant grade
    assert first.stats.misses == 40 and second.stats.cache_hits == 40 and second.stats.misses == 0


def test_judge_over_http_records_failures_and_ungradable_replies(tmp_path: Path) -> None:
    server = start_loopback_server(LoopbackSettings(faults=[Fault(marker="ALWAYS-FAILS", kind="status", status=500)]))
    try:
        answers = pl.DataFrame({"answer_id": ["ok", "bad"], "instruction": ["Name a colour.", "ALWAYS-FAILS"],
                                "answer": ["Blue.", "x"]})
        config = TeacherConfig(backend="openai", model="loopback", base_url=server.base_url, cache_dir=tmp_path / "c",
                               max_attempts=2, backoff_initial_seconds=0.01, backoff_max_seconds=0.02)
        outcome = judge_answers(Teacher(config, api_key="k"), answers)
    finally:
        server.stop()
    by_id = {r["answer_id"]: r for r in outcome.grades.iter_rows(named=True)}
    assert [f.row_id for f in outcome.failures] == ["bad"] and outcome.failures[0].attempts == 2
    assert by_id["bad"]["grade"] is None and by_id["bad"]["reason"].startswith("call failed")
    # The loopback server's echo-style reply ("Loopback answer to: ...") carries no grade: kept
    # ungraded with its reason, never guessed.
    assert by_id["ok"]["reply"].startswith("Loopback answer to:")
    assert by_id["ok"]["grade"] is None and by_id["ok"]["reason"] == "no A-D grade in the reply"


def test_items_from_real_files(tmp_path: Path) -> None:
    items = user_oriented_items(SHARED_DATA / "self_instruct_user_oriented_instructions.jsonl")
    assert items.height == 252 and items["item_id"].n_unique() == 252
    assert items.row(0, named=True)["instruction"].endswith("please let me know.")  # instruction + input
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "instruction": "x", "instances": []}\n{"id": "b"}\n')
    with pytest.raises(ItemsError, match=f"{bad}:2: field 'instruction' is missing"):
        user_oriented_items(bad)
    rows = pl.DataFrame({"row_id": ["b", "a", "c"], "instruction": ["ib", "ia", "ic"], "response": ["rb", "ra", "rc"]})
    assert held_out_items(rows, 2)["item_id"].to_list() == ["a", "b"]
