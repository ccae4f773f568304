"""The dataset card of a version, in the Hugging Face dataset-card layout (YAML header, then
markdown sections): what is in it, where it came from, and what was filtered out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl
import yaml

from lamini_assets.dataset.build import DATASET_SCHEMA, LaminiDataset
from lamini_assets.dataset.exports import ALPACA_FILE, HF_FOLDER, PARQUET_FILE

_COLUMN_NOTES = {
    "row_id": "stable id: md5 of (instruction_source, instruction_id, response cache key), 16 hex",
    "instruction": "as LaMini released it: the task, then a blank line and its input when there is one",
    "response": "the teacher's answer",
    "instruction_source": "one of LaMini's seven source labels",
    "instruction_id": "hash of the normalised instruction and input",
    "task_instruction": "the instruction without its input",
    "task_input": "the input ('' when none)",
    "origin": "original rows: file:line (and seed id) of the seed; generated rows: generation:<call id>",
    "template": "P3/FLAN template family (generated rows: the family of the examples shown)",
    "example_ids": "generated rows: instruction_id of the seed examples their prompt showed",
    "topics": "topic-guided rows: the Wikipedia topics their prompt named",
    "generation_cache_key": "teacher cache key of the call that generated the instruction (null for originals)",
    "cache_key": "teacher cache key of the response: the exact request is stored under it",
    "teacher_model": "the model name the teacher server returned",
    "finish_reason": "the teacher's finish reason",
    "generation_template_version": "version of the generation prompt template (null for originals)",
    "response_template_version": "version of the response prompt template",
}


@dataclass
class CardFacts:
    """What the card states beside the rows themselves."""

    run_id: str
    created_at: str
    config_hash: str
    code_version: str
    filter_settings: dict[str, Any] = field(default_factory=dict)  # generation filters and near-dup settings
    upstream_rejects: dict[str, dict[str, int]] = field(default_factory=dict)  # source -> drop_reason -> count


def _size_category(rows: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                        (10_000_000, "1M<n<10M")):
        if rows < limit:
            return name
    return "n>10M"


def _counts(rows: pl.DataFrame, column: str) -> dict[str, int]:
    return {str(key): int(count) for key, count in sorted(rows.group_by(column).len().iter_rows(), key=lambda kv: str(kv[0]))}


def _sorted(counts: dict[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items()))


def render_card(dataset: LaminiDataset, facts: CardFacts) -> str:
    height = dataset.height
    per_source = dataset.rows_per_source()
    teacher_models = _sorted(dataset.summary["teacher_model"])
    templates = {
        "generation": {k: v for k, v in _sorted(dataset.summary["generation_template_version"]).items() if k != "None"},
        "response": _sorted(dataset.summary["response_template_version"]),
    }
    near_duplicates = _counts(dataset.near_duplicates, "instruction_source") if dataset.near_duplicates.height else {}
    exclusions = {name: count for name, count in dataset.counts.items() if name.startswith("excluded_")}
    header = {
        "pretty_name": f"LaMini-instruction (lamini-assets version {dataset.version})",
        "language": ["en"],
        "task_categories": ["text-generation", "text2text-generation"],
        "size_categories": [_size_category(height)],
        "tags": ["instruction-tuning", "distillation", "lamini"],
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": PARQUET_FILE}]}],
        "dataset_info": {
            "features": [{"name": name, "dtype": "list<string>" if isinstance(dtype, pl.List) else "string"}
                         for name, dtype in DATASET_SCHEMA.items()],
            "splits": [{"name": "train", "num_examples": height}],
        },
        "lamini_assets": {
            "version": dataset.version,
            "run_id": facts.run_id,
            "created_at": facts.created_at,
            "config_hash": facts.config_hash,
            "code_version": facts.code_version,
            "rows_per_source": per_source,
            "teacher_models": teacher_models,
            "prompt_template_versions": templates,
            "filters": {
                "settings": facts.filter_settings,
                "generation_rejects": facts.upstream_rejects,
                "dataset_exclusions": exclusions,
                "cross_source_near_duplicates": near_duplicates,
            },
        },
    }
    table = "\n".join(f"| `{source}` | {count:,} |" for source, count in per_source.items())
    columns = "\n".join(f"| `{name}` | {_COLUMN_NOTES.get(name, '')} |" for name in DATASET_SCHEMA)
    rejects = "\n".join(
        f"| `{source}` | {reason} | {count:,} |"
        for source, reasons in sorted(facts.upstream_rejects.items()) for reason, count in sorted(reasons.items())
    ) or "| (none) | | |"
    dropped = "\n".join(f"| {name.removeprefix('excluded_')} | {count:,} |" for name, count in exclusions.items())
    near = "\n".join(f"| `{source}` | {count:,} |" for source, count in near_duplicates.items()) or "| (none) | 0 |"
    models = ", ".join(f"`{model}` ({count:,} rows)" for model, count in teacher_models.items()) or "none"
    template_list = ", ".join(f"`{v}`" for kind in templates.values() for v in kind) or "none"
    return f"""---
{yaml.safe_dump(header, sort_keys=False, allow_unicode=True).rstrip()}
---

# Dataset Card for LaMini-instruction, version `{dataset.version}`

## Dataset Description

Instruction/response pairs distilled from a teacher model following the LaMini-LM recipe
(arXiv 2304.14402), built by lamini-assets. The version is a hash of the content: the same rows
always give the same version, and this folder never changes once published.

- **Rows:** {height:,}
- **Teacher model(s):** {models}
- **Prompt template versions:** {template_list}
- **Config hash:** `{facts.config_hash}` · **code version:** `{facts.code_version}`
- **Run:** `{facts.run_id}` · **created:** {facts.created_at}

### Rows per source

| instruction_source | rows |
|---|---|
{table}

## Dataset Structure

Files: `{PARQUET_FILE}` (every column), `{HF_FOLDER}/` (`datasets.load_from_disk`), `{ALPACA_FILE}`
(`instruction`, `input`, `output`, `instruction_source`).

| column | meaning |
|---|---|
{columns}

## Dataset Creation

### Filters and their counts

Generated candidates the generation filters dropped (`instruction_rejects`):

| instruction_source | reason | rows |
|---|---|---|
{rejects}

Responses left out of the dataset:

| reason | rows |
|---|---|
{dropped}

Cross-source near-duplicates left out (a row of a higher-priority source stays; `dataset_near_duplicates`):

| instruction_source | rows |
|---|---|
{near}

Settings: `{facts.filter_settings}`

### Where the prompts live

Every row names the teacher cache key of its response (`cache_key`) and, for generated rows, of the
call that generated its instruction (`generation_cache_key`); the exact request (messages and sampling
parameters) is stored in the teacher cache under that key.

## Considerations for Using the Data

The responses were written by a model and carry its errors and biases. With the `offline` teacher
backend they are a deterministic stand-in, not a language model's answers.
"""
