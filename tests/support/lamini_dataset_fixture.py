"""A published `lamini_dataset` version built from real P3 rows, for training tests that need a
dataset of known content without running the teacher stages."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl

from lamini_assets.artifacts import LocalArtifactStore
from lamini_assets.dataset import DATASET_SCHEMA, point_latest, version_key
from lamini_assets.dataset.exports import PARQUET_FILE
from lamini_assets.schema import INSTRUCTION_SOURCES, make_instruction_id

from tests.support.paths import SHARED_DATA
P3_SAMPLE = SHARED_DATA / "p3_t0_sample"


def p3_rows(limit: int, max_prompt_words: int = 60) -> list[tuple[str, str]]:
    """(prompt, completion) pairs from the real P3 sample, short prompts first per file, in file order."""
    pairs: list[tuple[str, str]] = []
    for path in sorted(P3_SAMPLE.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            prompt = item["prompt"].strip()
            completion = item["completion"].replace("<|endoftext|>", "").strip()
            if prompt and completion and len(prompt.split()) <= max_prompt_words:
                pairs.append((prompt, completion))
                break  # one per template first, for variety
    for path in sorted(P3_SAMPLE.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines()[1:]:
            if len(pairs) >= limit:
                return pairs[:limit]
            item = json.loads(line)
            prompt = item["prompt"].strip()
            completion = item["completion"].replace("<|endoftext|>", "").strip()
            if prompt and completion and len(prompt.split()) <= max_prompt_words:
                pairs.append((prompt, completion))
    return pairs[:limit]


def dataset_frame(pairs: list[tuple[str, str]], teacher_model: str = "offline-stand-in") -> pl.DataFrame:
    """Rows with the Dataset contract's columns; sources assigned round-robin over the seven labels."""
    records = []
    for index, (instruction, response) in enumerate(pairs):
        source = INSTRUCTION_SOURCES[index % len(INSTRUCTION_SOURCES)]
        instruction_id = make_instruction_id(instruction, "")
        cache_key = hashlib.sha256(f"{instruction}\x1f{response}".encode()).hexdigest()
        row_id = hashlib.blake2b(f"{source}\x1f{instruction_id}\x1f{cache_key}".encode(), digest_size=8).hexdigest()
        records.append({
            "row_id": row_id, "instruction": instruction, "response": response, "instruction_source": source,
            "instruction_id": instruction_id, "task_instruction": instruction, "task_input": "",
            "origin": f"p3:{index}", "template": "p3", "example_ids": [], "topics": [],
            "generation_cache_key": None, "cache_key": cache_key, "teacher_model": teacher_model,
            "finish_reason": "stop", "generation_template_version": None, "response_template_version": "test@1",
        })
    frame = pl.DataFrame(records, schema=DATASET_SCHEMA)
    return frame.unique("row_id", keep="first", maintain_order=True)  # P3 repeats a few prompts


def publish_version(store: LocalArtifactStore, frame: pl.DataFrame) -> str:
    """Publish the rows as the newest version (its parquet file only) and point `latest` at it."""
    version = hashlib.sha256(frame.write_json().encode()).hexdigest()[:16]
    store.publish_dir(version_key(version), lambda folder: frame.write_parquet(folder / PARQUET_FILE))
    point_latest(store, version)
    return version
