"""Rows of the `eval_scores` table: benchmark scores, ROUGE-L and judge grade shares per model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from lamini_assets.evaluation.benchmarks import BenchmarkTask
from lamini_assets.evaluation.instruction import GRADES, grade_distribution, rouge_l
from lamini_assets.evaluation.leaderboard import JUDGE_TASK, ROUGE_TASK

EVAL_SCORES_SCHEMA = {
    "student": pl.String, "checkpoint_id": pl.String, "model_kind": pl.String, "task": pl.String,
    "metric": pl.String, "value": pl.Float64, "n_items": pl.Int64, "dataset_version": pl.String,
    "created_at": pl.String, "run_id": pl.String,
    # beyond the contract's columns: the score's standard error, where its items came from, and whether
    # it is the metric the leaderboard reports for the task
    "stderr": pl.Float64, "source": pl.String, "reported": pl.Boolean,
}
ANSWER_SCHEMA = {
    "student": pl.String, "checkpoint_id": pl.String, "model_kind": pl.String, "item_set": pl.String,
    "item_id": pl.String, "answer_id": pl.String, "instruction": pl.String, "answer": pl.String,
    "reference": pl.String, "rouge_l": pl.Float64, "grade": pl.String, "grade_reason": pl.String,
    "judge_cache_key": pl.String, "dataset_version": pl.String, "run_id": pl.String,
}


def answer_frame(answers: Sequence[dict[str, Any]], items: dict[str, pl.DataFrame], dataset_version: str,
                 run_id: str) -> pl.DataFrame:
    """Each model's answer beside its item (instruction, reference) and its ROUGE-L against the reference."""
    rows = []
    lookup = {(name, r["item_id"]): r for name, frame in items.items() for r in frame.iter_rows(named=True)}
    for answer in answers:
        item = lookup[(answer["item_set"], answer["item_id"])]
        rows.append({**{k: answer[k] for k in ("student", "checkpoint_id", "model_kind", "item_set", "item_id", "answer")},
                     "answer_id": f"{answer['student']}/{answer['checkpoint_id']}/{answer['model_kind']}/"
                                  f"{answer['item_set']}/{answer['item_id']}",
                     "instruction": item["instruction"], "reference": item["reference"],
                     "dataset_version": dataset_version, "run_id": run_id})
    frame = pl.DataFrame(rows, schema={k: v for k, v in ANSWER_SCHEMA.items()
                                       if k not in {"rouge_l", "grade", "grade_reason", "judge_cache_key"}})
    scores = rouge_l(frame["answer"].to_list(), frame["reference"].to_list()) if frame.height else []
    return frame.with_columns(
        pl.Series("rouge_l", scores, dtype=pl.Float64), pl.lit(None, pl.String).alias("grade"),
        pl.lit(None, pl.String).alias("grade_reason"), pl.lit(None, pl.String).alias("judge_cache_key"),
    ).select(list(ANSWER_SCHEMA))


def score_frame(benchmark_scores: Sequence[dict[str, Any]], tasks: Sequence[BenchmarkTask], answers: pl.DataFrame,
                dataset_version: str, created_at: str, run_id: str) -> pl.DataFrame:
    """eval_scores rows: each benchmark metric, ROUGE-L on the held-out split, judge grade shares."""
    reported = {task.name: task.metric for task in tasks}
    common = {"dataset_version": dataset_version, "created_at": created_at, "run_id": run_id}
    rows = [{**{k: s[k] for k in ("student", "checkpoint_id", "model_kind", "task", "metric", "value", "n_items",
                                  "stderr", "source")},
             **common, "reported": reported.get(s["task"]) == s["metric"]} for s in benchmark_scores]
    for (student, checkpoint_id, kind), group in answers.group_by("student", "checkpoint_id", "model_kind"):
        model = {"student": student, "checkpoint_id": checkpoint_id, "model_kind": kind, **common}
        held_out = group.filter(pl.col("item_set") == "held_out")
        if held_out.height:
            rows.append({**model, "task": ROUGE_TASK, "metric": "rouge_l", "value": float(held_out["rouge_l"].mean()),
                         "n_items": held_out.height, "stderr": float(held_out["rouge_l"].std() / held_out.height ** 0.5)
                         if held_out.height > 1 else None, "source": "held_out:train_split.test", "reported": True})
        graded = group.filter(pl.col("grade").is_not_null())
        if graded.height:
            shares = grade_distribution(graded["grade"].to_list())
            rows.extend({**model, "task": JUDGE_TASK, "metric": g, "value": shares[g], "n_items": graded.height,
                         "stderr": None, "source": "user_oriented:teacher", "reported": True} for g in GRADES)
    return pl.DataFrame(rows, schema=EVAL_SCORES_SCHEMA).select(list(EVAL_SCORES_SCHEMA))
