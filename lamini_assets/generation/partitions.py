"""The rows of one `instruction_source` partition: original seeds passed through, or instructions
the teacher generated from them, parsed and filtered; and the teacher's responses to them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from lamini_assets.generation.config import GenerationConfig
from lamini_assets.dedup import NoveltyConfig, NoveltyIndex
from lamini_assets.dedup.pool_index import load_pool_index
from lamini_assets.generation.filters import instruction_filters, novelty_texts, run_filters
from lamini_assets.generation.parsing import instruction_rows
from lamini_assets.generation.prompts import (
    RESPONSE_TEMPLATE_VERSION,
    GenerationCall,
    build_response_messages,
    plan_generation_calls,
    response_messages,
)
from lamini_assets.schema import (
    INSTRUCTION_REJECT_SCHEMA,
    INSTRUCTION_SCHEMA,
    LABEL_SEED_POOL,
    ORIGINAL_LABELS,
    RESPONSE_SCHEMA,
    TEACHER_FAILURE_SCHEMA,
    make_instruction_id,
)
from lamini_assets.teacher import ChatFailure, ChatRequest, Teacher, TeacherStats
from lamini_assets.warehouse import checked_identifier, content_hash, replace_partition_from_query


@dataclass
class PartitionRows:
    """What one materialisation of a partition writes, and its counts for the asset's metadata."""

    rows: pl.DataFrame
    rejects: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=INSTRUCTION_REJECT_SCHEMA))
    failures: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=TEACHER_FAILURE_SCHEMA))
    counts: dict[str, int] = field(default_factory=dict)
    teacher_stats: TeacherStats | None = None


def failure_rows(asset: str, label: str, failures: Sequence[ChatFailure]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"asset": asset, "instruction_source": label, "row_id": f.row_id, "cache_key": f.cache_key,
             "error_class": f.error_class, "message": f.message, "attempts": f.attempts, "failed_at": f.failed_at}
            for f in failures
        ],
        schema=TEACHER_FAILURE_SCHEMA,
    )


def original_instructions(label: str, seeds: pl.DataFrame) -> PartitionRows:
    """An original source (alpaca, original_p3, original_flan): its pool's deduplicated seeds."""
    if label not in ORIGINAL_LABELS:
        raise ValueError(f"{label} is not an original source; those are {', '.join(ORIGINAL_LABELS)}")
    rows = seeds.select(
        "instruction_id",
        pl.lit(label).alias("instruction_source"),
        "instruction",
        "input",
        "template",
        "origin",
        pl.lit([], dtype=pl.List(pl.String())).alias("example_ids"),
        pl.lit([], dtype=pl.List(pl.String())).alias("topics"),
        pl.lit(None, dtype=pl.String()).alias("generation_cache_key"),
        pl.lit(None, dtype=pl.String()).alias("generation_template_version"),
    )
    return PartitionRows(rows=rows, counts={"seeds": seeds.height, "kept": rows.height})


@dataclass
class CopiedPartition:
    """A pass-through partition written by copy_original_instructions: its row count, first rows and
    data version (content_hash of its rows, the same as table_version of original_instructions' rows)."""

    rows: int
    head: pl.DataFrame
    version: str
    counts: dict[str, int] = field(default_factory=dict)


def copy_original_instructions(
    conn: duckdb.DuckDBPyConnection, label: str, seeds_table: str = "seed_instructions_dedup", head_rows: int = 20
) -> CopiedPartition:
    """original_instructions inside DuckDB: the partition `label` of `instructions` replaced by its
    pool's deduplicated seeds, copied from table to table (the rows original_instructions writes from
    the seeds read_table returns; 1.2M FLAN rows never pass through Python), and hashed where they lie.
    The rows' order was never defined (at full size the dedup view is a right semi join, which emits
    the rows in its hash table's order, different on every run) and the data version ignores it."""
    if label not in ORIGINAL_LABELS:
        raise ValueError(f"{label} is not an original source; those are {', '.join(ORIGINAL_LABELS)}")
    empty_list = "[]::varchar[]"
    columns = {
        "instruction_id": "instruction_id",
        "instruction_source": "$label",
        "instruction": "instruction",
        "input": "input",
        "template": "template",
        "origin": "origin",
        "example_ids": empty_list,
        "topics": empty_list,
        "generation_cache_key": "null::varchar",
        "generation_template_version": "null::varchar",
    }
    assert list(columns) == list(INSTRUCTION_SCHEMA)
    selected = ", ".join(f"{value} as {name}" for name, value in columns.items())
    rows = replace_partition_from_query(
        conn, "instructions", pl.DataFrame(schema=INSTRUCTION_SCHEMA), {"instruction_source": label},
        f"select {selected} from main.{checked_identifier(seeds_table)} where seed_source = $pool",
        {"label": label, "pool": LABEL_SEED_POOL[label]},
    )
    in_partition, params = "instruction_source = $label", {"label": label}
    head = conn.execute(f"select * from main.instructions where {in_partition} limit {int(head_rows)}", params).pl()
    version = content_hash(conn, "instructions", in_partition, params)
    return CopiedPartition(rows=rows, head=head, version=version, counts={"seeds": rows, "kept": rows})


# Reads pool rows (instruction_id, instruction, input) with the given ids, or all rows when None.
PoolReader = Callable[[pl.Series | None], pl.DataFrame]


def seed_pool_index(
    pool: pl.DataFrame, config: NoveltyConfig, directory: Path, read_rows: PoolReader | None = None
) -> tuple[NoveltyIndex, dict[str, int]]:
    """The novelty index of what new instructions must not nearly duplicate (every deduplicated
    seed), reusing the one saved in `directory`.

    `pool` holds the rows' instruction_id, and their instruction and input unless `read_rows` is
    given: then only the ids are needed up front, and texts are read just for rows the saved index
    lacks (none on an unchanged pool).
    """
    def id_and_text(rows: pl.DataFrame) -> pl.DataFrame:
        return rows.select(pl.col("instruction_id").alias("id"), novelty_texts(rows).alias("text"))

    if read_rows is None:
        rows = id_and_text(pool)
        return load_pool_index(directory, config, rows["id"], rows["text"])
    return load_pool_index(directory, config, pool["instruction_id"], lambda wanted: id_and_text(read_rows(wanted)))


def generated_instructions(
    label: str,
    seeds: pl.DataFrame,
    pool_index: NoveltyIndex,
    topics: Sequence[str],
    config: GenerationConfig,
    teacher: Teacher,
) -> PartitionRows:
    """Plan the partition's generation calls, ask the teacher, parse the replies and filter them.

    Candidates must not nearly duplicate anything in `pool_index` (see seed_pool_index); those kept
    join it, so later candidates are compared with them too.
    """
    calls = plan_generation_calls(label, seeds, config.calls_per_partition.get(label, 0), config, topics)
    run = teacher.run(generation_requests(calls))
    answers = run.by_row_id()

    candidates: list[dict[str, object]] = []
    for call in calls:
        answer = answers[call.call_id]
        if isinstance(answer, ChatFailure):
            continue
        for row in instruction_rows(answer.text, answer.finish_reason):
            candidates.append({
                **row,
                "instruction_id": make_instruction_id(row["instruction"], row["input"]),
                "generation_call_id": call.call_id,
                "generation_cache_key": answer.cache_key,
                "generation_template_version": call.template_version,
                "template": call.template,
                "example_ids": list(call.example_ids),
                "topics": list(call.topics),
            })

    filtered = run_filters(candidates, instruction_filters(config.filters, index=pool_index))
    rows = pl.DataFrame(
        [
            {
                "instruction_id": row["instruction_id"],
                "instruction_source": label,
                "instruction": row["instruction"],
                "input": row["input"],
                "template": row["template"],
                "origin": f"generation:{row['generation_call_id']}",
                "example_ids": row["example_ids"],
                "topics": row["topics"],
                "generation_cache_key": row["generation_cache_key"],
                "generation_template_version": row["generation_template_version"],
            }
            for row in filtered.kept
        ],
        schema=INSTRUCTION_SCHEMA,
    )
    rejects = pl.DataFrame(
        [{**{name: row.get(name) for name in INSTRUCTION_REJECT_SCHEMA}, "instruction_source": label}
         for row in filtered.dropped],
        schema=INSTRUCTION_REJECT_SCHEMA,
    )
    counts = {
        "generation_calls": len(calls),
        "failed_calls": len(run.failures),
        "candidates": len(candidates),
        **filtered.counts,
    }
    return PartitionRows(rows=rows, rejects=rejects, failures=failure_rows("instructions", label, run.failures),
                         counts=counts, teacher_stats=run.stats)


def generation_requests(calls: Sequence[GenerationCall]) -> list[ChatRequest]:
    return [ChatRequest(row_id=c.call_id, messages=c.messages, template_version=c.template_version, params=c.params)
            for c in calls]


def response_requests(tasks: Sequence[dict[str, str]], system_prompt: str) -> list[ChatRequest]:
    """The response call of each instruction (dicts with instruction_id, instruction, input)."""
    return [
        ChatRequest(
            row_id=row["instruction_id"],
            messages=build_response_messages(row["instruction"], row["input"], system_prompt),
            template_version=RESPONSE_TEMPLATE_VERSION,
        )
        for row in tasks
    ]


def answer_instructions(label: str, instructions: pl.DataFrame, teacher: Teacher) -> PartitionRows:
    """The teacher's response to every instruction; failed calls stay as rows with their error.

    Columnar end to end (Teacher.run_frame): keys planned as columns, one bulk cache lookup, only the
    misses become per-call requests."""
    tasks = instructions.select("instruction_id", "instruction", "input")
    run = teacher.run_frame(
        tasks.select(pl.col("instruction_id").alias("row_id"),
                     response_messages(tasks, teacher.config.system_prompt).alias("messages")),
        RESPONSE_TEMPLATE_VERSION,
    )
    errors = pl.DataFrame({"row_id": [f.row_id for f in run.failures],
                           "error": [f"{f.error_class}: {f.message}" for f in run.failures]},
                          schema={"row_id": pl.String, "error": pl.String})
    answered = pl.col("error").is_null()
    rows = pl.concat([tasks, run.rows.drop("row_id")], how="horizontal").join(
        errors, left_on="instruction_id", right_on="row_id", how="left", maintain_order="left",
    ).select(
        "instruction_id",
        pl.lit(label).alias("instruction_source"),
        "instruction",
        "input",
        pl.when(answered).then(pl.col("text")).alias("response"),
        pl.when(answered).then(pl.col("finish_reason")).otherwise(pl.lit("error")).alias("finish_reason"),
        (pl.col("truncated") & answered).alias("truncated"),
        pl.when(answered).then(pl.col("model")).otherwise(pl.lit(teacher.config.model)).alias("teacher_model"),
        "cache_key",
        pl.when(answered).then(pl.col("prompt_tokens")).otherwise(0).alias("prompt_tokens"),
        pl.when(answered).then(pl.col("completion_tokens")).otherwise(0).alias("completion_tokens"),
        "error",
        pl.lit(RESPONSE_TEMPLATE_VERSION).alias("response_template_version"),
    ).cast(RESPONSE_SCHEMA)  # type: ignore[arg-type]
    counts = {
        "instructions": instructions.height,
        "answered": rows.filter(pl.col("response").is_not_null()).height,
        "failed": len(run.failures),
        "truncated": int(rows["truncated"].sum()),
    }
    return PartitionRows(rows=rows, failures=failure_rows("responses", label, run.failures), counts=counts,
                         teacher_stats=run.stats)
