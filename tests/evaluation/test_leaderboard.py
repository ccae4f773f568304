"""The leaderboard from eval_scores rows: LaMini-style tables with each distilled student beside its
base, the average over the reported metrics, instruction-following and rating tables, PNG charts."""

from __future__ import annotations

import polars as pl

from lamini_assets.evaluation.leaderboard import build_leaderboard
from lamini_assets.evaluation.scores import EVAL_SCORES_SCHEMA


def score(student: str, kind: str, task: str, metric: str, value: float, reported: bool = True, n: int = 200) -> dict:
    return {"student": student, "checkpoint_id": "c1", "model_kind": kind, "task": task, "metric": metric,
            "value": value, "n_items": n, "dataset_version": "v1", "created_at": "t", "run_id": "r",
            "stderr": None, "source": "local:x", "reported": reported}


def scores() -> pl.DataFrame:
    rows = [
        score("gpt2", "base", "arc_challenge", "acc_norm", 0.20), score("gpt2", "distilled", "arc_challenge", "acc_norm", 0.30),
        score("gpt2", "base", "arc_challenge", "acc", 0.99, reported=False),  # not the reported metric: ignored
        score("gpt2", "base", "sst2", "acc", 0.50), score("gpt2", "distilled", "sst2", "acc", 0.70),
        score("t5", "base", "sst2", "acc", 0.40), score("t5", "distilled", "sst2", "acc", 0.45),
        score("gpt2", "distilled", "instruction_following", "rouge_l", 0.25, n=20),
        score("gpt2", "base", "instruction_following", "rouge_l", 0.05, n=20),
        *[score("gpt2", "distilled", "teacher_judge", g, v, n=4) for g, v in zip("ABCD", [0.5, 0.25, 0.25, 0.0])],
    ]
    return pl.DataFrame(rows, schema=EVAL_SCORES_SCHEMA)


def test_tables_pair_each_student_with_its_base() -> None:
    human = pl.DataFrame({"student": ["gpt2"], "model_kind": ["distilled"], "checkpoint_id": ["c1"], "n": [8],
                          "A": [0.125], "B": [0.375], "C": [0.25], "D": [0.25]})
    board = build_leaderboard(scores(), human)
    main = board.markdown["Benchmarks (zero-shot lm-eval, %)"].splitlines()
    assert main[0] == "| Model | ARC-C (acc_norm) | SST (acc) | Average |"
    assert main[2:] == [
        "| gpt2 (base) | 20.0 | 50.0 | 35.0 |",
        "| gpt2 (distilled) | 30.0 | 70.0 | 50.0 |",
        "| t5 (base) | – | 40.0 | 40.0 |",
        "| t5 (distilled) | – | 45.0 | 45.0 |",
    ]
    assert "| gpt2 | 50.0 | 70.0 | +20.0 | 200 |" in board.markdown["SST (acc, %)"]
    assert "| gpt2 | 5.0 | 25.0 | 20 |" in board.markdown[
        "Instruction following: ROUGE-L vs the teacher on the held-out split (%)"]
    assert "| gpt2 (distilled) | 50.0 | 25.0 | 25.0 | 0.0 | 4 |" in board.markdown["Teacher judge ratings (share of answers, %)"]
    assert "| gpt2 (distilled) | 12.5 | 37.5 | 25.0 | 25.0 | 8 |" in board.markdown["Human ratings (share of answers, %)"]
    assert set(board.charts) == {"benchmarks.png", "ratings.png"}
    assert all(png.startswith(b"\x89PNG") for png in board.charts.values())
    summary = {(r["student"], r["model_kind"]): r["average"] for r in board.summary.iter_rows(named=True)}
    assert summary[("gpt2", "distilled")] == 0.5


def test_without_ratings_there_is_no_ratings_chart() -> None:
    board = build_leaderboard(scores().filter(pl.col("task") != "teacher_judge"))
    assert set(board.charts) == {"benchmarks.png"} and "Human ratings (share of answers, %)" not in board.markdown
