"""The contract tables the audit reads, built from real P3 rows (../shared/data/p3_t0_sample).

A dataset of ~2,800 rows over the seven instruction sources in two versions, two students (one per
version, different splits) with their manifests, checkpoints, scores, dataset versions and cards, the
seed rows generated instructions were drawn from, and the teacher's cached generation replies.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl
import pytest

from lamini_assets.artifacts import LocalArtifactStore
from lamini_assets.schema import INSTRUCTION_SOURCES, make_instruction_id
from lamini_assets.teacher.cache import CachedAnswer, ResponseCache
from lamini_assets.warehouse import replace_table

from tests.support.paths import SHARED_DATA
ROWS_PER_TEMPLATE = 20
GENERATED = {"generated_p3", "generated_flan", "self_instruct_with_topic", "self_instruct_without_topic"}


def _hash(*parts: str) -> str:
    return hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=8).hexdigest()


def _split(row_id: str, salt: str) -> str:
    bucket = int(_hash(row_id, salt), 16) % 20
    return "validation" if bucket == 0 else "test" if bucket == 1 else "train"


@dataclass
class LineageFixture:
    db: Path
    state: Path
    store: LocalArtifactStore
    dataset: pl.DataFrame  # every row of either version
    manifest: pl.DataFrame
    checkpoints: pl.DataFrame
    versions: dict[str, list[str]]  # version -> row ids
    cache_dir: Path


def p3_rows() -> list[dict[str, str]]:
    rows = []
    for path in sorted((SHARED_DATA / "p3_t0_sample").glob("*.jsonl")):
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if number > ROWS_PER_TEMPLATE:
                    break
                record = json.loads(line)
                rows.append({"template": path.stem, "prompt": record["prompt"],
                             "completion": record["completion"].removesuffix("<|endoftext|>").strip(),
                             "origin": f"{path.name}:{number}"})
    return rows


def build_lineage_tables(state: Path) -> LineageFixture:
    state.mkdir(parents=True, exist_ok=True)
    raw = p3_rows()
    seeds = pl.DataFrame([
        {"instruction_id": make_instruction_id(r["prompt"]), "seed_source": "p3", "source_name": "p3_t0",
         "instruction": r["prompt"], "input": "", "output": r["completion"], "template": r["template"],
         "origin": r["origin"]}
        for r in raw
    ]).unique("instruction_id", keep="first", maintain_order=True)

    cache_dir = state / "teacher_cache"
    cache = ResponseCache(cache_dir)
    dataset_rows: list[dict[str, object]] = []
    replies: dict[str, list[str]] = {}  # generation call -> the instructions its reply held
    generation_requests: dict[str, dict[str, object]] = {}
    call_examples: dict[str, list[str]] = {}
    seeds_text = dict(seeds.select("instruction_id", "instruction").iter_rows())
    examples_of = {t: ids[:3] for t, ids in seeds.group_by("template", maintain_order=True).agg("instruction_id").iter_rows()}
    for number, seed in enumerate(seeds.iter_rows(named=True)):
        source = INSTRUCTION_SOURCES[number % len(INSTRUCTION_SOURCES)]
        generated = source in GENERATED
        # A generated row: the seed's first line reworded, from a call that showed 3 seeds of its template.
        task = seed["instruction"] if not generated else f"Rewrite example {number}: " + seed["instruction"].split("\n")[0][:200]
        task_input = "" if number % 3 else seed["output"][:200]
        instruction_id = make_instruction_id(task, task_input)
        response_key = hashlib.sha256(f"response{instruction_id}".encode()).hexdigest()
        generation_key = hashlib.sha256(f"call{number // 5}".encode()).hexdigest() if generated else None
        # One call shows one set of examples: the seeds of its first row's template.
        examples = call_examples.setdefault(generation_key, examples_of[seed["template"]]) if generated else []
        topics = ["Physics", "Music history", "Rivers"] if source == "self_instruct_with_topic" else []
        dataset_rows.append({
            "row_id": _hash(source, instruction_id, response_key),
            "instruction": task if not task_input else f"{task}\n\n{task_input}",
            "response": seed["output"] or "(empty)",
            "instruction_source": source,
            "instruction_id": instruction_id,
            "task_instruction": task,
            "task_input": task_input,
            "origin": f"generation:{source}-{number // 5}" if generated else seed["origin"],
            "template": seed["template"],
            "example_ids": examples,
            "topics": topics,
            "generation_cache_key": generation_key,
            "cache_key": response_key,
            "teacher_model": "gpt-4o-mini" if number % 11 == 0 else "gpt-3.5-turbo",
            "finish_reason": "stop",
            "generation_template_version": "generation-v1" if generated else None,
            "response_template_version": "response-v2" if number % 13 == 0 else "response-v1",
        })
        if generated:
            replies.setdefault(generation_key, []).append(f"<example>{task}</example>")
            shown = "\n".join(f"<example>{seeds_text[i]}</example>" for i in examples)
            generation_requests[generation_key] = {
                "backend": "openai", "model": "gpt-3.5-turbo", "template_version": "generation-v1",
                "messages": [{"role": "user", "content": f"Generate 10 diverse examples like these:\n{shown}"}],
                "params": {"temperature": 1.0, "max_tokens": 1024},
            }
    answers = [
        (key, CachedAnswer(texts=["\n".join(examples)], finish_reason="stop", model="gpt-3.5-turbo", prompt_tokens=100,
                           completion_tokens=20, created_at="2026-11-27T00:00:00+00:00", latency_seconds=0.5))
        for key, examples in replies.items()
    ]
    if hasattr(ResponseCache, "get_requests"):  # i8's cache stores each request with its answer
        cache.put_many([(key, answer, generation_requests[key]) for key, answer in answers])
    else:
        cache.put_many(answers)
    dataset = pl.DataFrame(dataset_rows).unique("row_id", keep="first").sort("instruction_source", "instruction_id")

    # Version 1 lacks every 17th row; version 2 lacks every 23rd.
    ordered = dataset["row_id"].to_list()
    versions = {
        "aaaaaaaaaaaaaaa1": [r for i, r in enumerate(ordered) if i % 17 != 5],
        "bbbbbbbbbbbbbbb2": [r for i, r in enumerate(ordered) if i % 23 != 7],
    }
    students = [("student_ed", "ckpt_ed_1", "aaaaaaaaaaaaaaa1", "encoder-decoder", "2026-11-27 01:00:00"),
                ("student_do", "ckpt_do_1", "aaaaaaaaaaaaaaa1", "decoder-only", "2026-11-27 01:30:00"),
                ("student_do", "ckpt_do_2", "bbbbbbbbbbbbbbb2", "decoder-only", "2026-11-27 02:00:00")]
    by_id = {r["row_id"]: r for r in dataset.iter_rows(named=True)}
    manifest = pl.DataFrame([
        {"student": student, "checkpoint_id": ckpt, "dataset_version": version, "row_id": row_id,
         "instruction_id": by_id[row_id]["instruction_id"], "instruction_source": by_id[row_id]["instruction_source"],
         "split": _split(row_id, student)}
        for student, ckpt, version, _, _ in students
        for row_id in versions[version]
    ])
    checkpoints = pl.DataFrame([
        {"student": student, "checkpoint_id": ckpt, "family": family, "base": "from_config",
         "dataset_version": version, "uri": str(state / "artifacts" / "checkpoints" / student / ckpt),
         "base_uri": str(state / "artifacts" / "checkpoints" / student / ckpt / "base"),
         "created_at": created, "run_id": f"run-{ckpt}", "config_hash": "c0ffee", "code_version": "train-v1",
         "hyperparameters": json.dumps({"learning_rate": 5e-4 if family == "encoder-decoder" else 2e-5, "epochs": 5}),
         "train_loss": 1.5, "validation_loss": 1.7}
        for student, ckpt, version, family, created in students
    ]).with_columns(pl.col("created_at").str.to_datetime())
    scores = pl.DataFrame([
        {"student": s, "checkpoint_id": c, "model_kind": kind, "task": task, "metric": "acc",
         "value": 0.25 + 0.01 * n, "n_items": 200, "dataset_version": v, "created_at": "2026-11-27 03:00:00",
         "run_id": f"eval-{c}"}
        for n, (s, c, v, _, _) in enumerate(students)
        for kind in ("distilled", "base")
        for task in ("sciq", "piqa")
    ])
    dataset_versions = pl.DataFrame([
        {"version": v, "run_id": f"run-dataset-{v[-1]}", "created_at": f"2026-11-27 0{n}:00:00",
         "rows_per_source": json.dumps(dict(
             dataset.filter(pl.col("row_id").is_in(rows)).group_by("instruction_source").len().iter_rows())),
         "config_hash": "c0ffee", "code_version": "dataset-v1",
         "uri": str(state / "artifacts" / "lamini_dataset" / v)}
        for n, (v, rows) in enumerate(versions.items())
    ])
    requests = pl.DataFrame([
        {"cache_key": r["cache_key"],
         "messages": json.dumps([{"role": "system", "content": "Answer concisely."},
                                 {"role": "user", "content": r["instruction"]}]),
         "params": json.dumps({"temperature": 0.7, "max_tokens": 512})}
        for r in dataset.iter_rows(named=True)
    ])
    store = LocalArtifactStore(state / "artifacts")
    for version, rows in versions.items():
        store.write_bytes(f"lamini_dataset/{version}/dataset_card.md",
                          f"# LaMini dataset {version}\n\n{len(rows)} rows.\n".encode())

    db = state / "lamini.duckdb"
    with duckdb.connect(str(db)) as conn:
        replace_table(conn, "seed_instructions", seeds)
        replace_table(conn, "lamini_dataset", dataset)
        replace_table(conn, "training_manifest", manifest)
        replace_table(conn, "student_checkpoints", checkpoints)
        replace_table(conn, "eval_scores", scores)
        replace_table(conn, "dataset_versions", dataset_versions)
        replace_table(conn, "teacher_requests", requests)
    return LineageFixture(db=db, state=state, store=store, dataset=dataset, manifest=manifest,
                          checkpoints=checkpoints, versions=versions, cache_dir=cache_dir)


@pytest.fixture(scope="module")
def lineage_tables(tmp_path_factory: pytest.TempPathFactory) -> LineageFixture:
    return build_lineage_tables(tmp_path_factory.mktemp("lineage") / "state")


@pytest.fixture
def lineage_builder():
    """build_lineage_tables, for tests that change the tables."""
    return build_lineage_tables
