"""One evaluation job: every model of a student (distilled checkpoint and its base) on every
benchmark, plus its answers to the instruction-following items. Runs in-process or as the Pipes
script `python -m lamini_assets.evaluation.run`; its input and output are plain JSON."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from lamini_assets.evaluation.benchmarks import resolve_tasks, run_benchmarks
from lamini_assets.evaluation.config import BenchmarkConfig
from lamini_assets.evaluation.models import generate_answers, load_lm


def evaluate_job(job: dict[str, Any], log: Callable[[str], None] = print) -> dict[str, Any]:
    """Scores and answers for every model in `job["models"]`; written to `job["output"]` as JSON."""
    config = BenchmarkConfig.model_validate(job["benchmarks"])
    tasks = resolve_tasks(config, Path(job["base_dir"]))
    scores: list[dict[str, Any]] = []
    answers: list[dict[str, Any]] = []
    timings: dict[str, float] = {}
    for model in job["models"]:
        label = f"{model['student']} [{model['model_kind']}]"
        started = time.monotonic()
        log(f"{label}: {len(tasks)} benchmark(s) from {model['path']}")
        lm = load_lm(model["path"], model["family"], config.batch_size, config.device,
                     alpaca=config.alpaca_prompt)
        for score in run_benchmarks(lm, tasks, config.limit):
            scores.append({**_model_id(model), **asdict(score)})
        del lm
        for item_set, items in job.get("instruction_sets", {}).items():
            if not items:
                continue
            log(f"{label}: answering {len(items)} {item_set} instruction(s)")
            texts = generate_answers(model["path"], model["family"], [i["instruction"] for i in items],
                                     job["max_new_tokens"], device=config.device)
            answers.extend({**_model_id(model), "item_set": item_set, "item_id": item["item_id"], "answer": text}
                           for item, text in zip(items, texts, strict=True))
        timings[label] = round(time.monotonic() - started, 2)
        log(f"{label}: done in {timings[label]:.1f}s")
    result = {"scores": scores, "answers": answers, "seconds": timings, "pid": os.getpid()}
    output = Path(job["output"])
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result), encoding="utf-8")
    return result


def _model_id(model: dict[str, Any]) -> dict[str, Any]:
    return {key: model[key] for key in ("student", "checkpoint_id", "model_kind")}
