"""One evaluation job: every model of a student (distilled checkpoint and its base) on every
benchmark, plus its answers to the instruction-following items. Runs in-process or as the Pipes
script `python -m lamini_assets.evaluation.run`; its input and output are plain JSON."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Any

from lamini_assets.artifacts import store_at
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
    if job.get("output"):
        output = Path(job["output"])
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(result), encoding="utf-8")
    return result


def run_store_job(job: dict[str, Any], log: Callable[[str], None] = print) -> dict[str, Any]:
    """`evaluate_job` against the artifact store at job["store_root"] (S3 or a folder, as this host sees
    it): models named by a store `key` (a published folder, optionally a `subfolder` of it) are read from it (S3 folders are copied to job["cache_dir"]
    once), and the result is written back at job["output_key"], where the orchestrator reads it."""
    store = store_at(job["store_root"], job["cache_dir"])
    with ExitStack() as stack:
        models = [
            {**model, "path": str(stack.enter_context(store.local_dir(model["key"])) / model.get("subfolder", ""))}
            if model.get("key") else model
            for model in job["models"]
        ]
        result = evaluate_job({**job, "models": models}, log=log)
    store.write_bytes(job["output_key"], json.dumps(result).encode("utf-8"))
    return result


def _model_id(model: dict[str, Any]) -> dict[str, Any]:
    return {key: model[key] for key in ("student", "checkpoint_id", "model_kind")}
