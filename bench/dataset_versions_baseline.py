"""The dataset build, hash and exports as they were before they moved into DuckDB (commit 702b064),
kept only so bench/dataset_versions.py can print its ratios against them in the same run.

Rows were built with polars from `responses` and `instructions` read whole into Python, hashed by
DuckDB over Arrow views of the polars frame, and exported from polars (parquet, Alpaca JSON via
`write_json`; the HF folder from the parquet read back). Data versions of tables
(`warehouse.table_version`) were a Python loop of json.dumps over every row.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import polars as pl

from lamini_assets.dataset.build import DATASET_SCHEMA
from lamini_assets.dataset.exports import ALPACA_FILE, CARD_FILE, HF_FOLDER, PARQUET_FILE, HfFolderWriter

_PROVENANCE = ["origin", "template", "example_ids", "topics", "generation_cache_key", "generation_template_version"]


def table_version(frame: pl.DataFrame) -> str:
    digest = hashlib.sha256()
    for row in frame.sort(frame.columns, nulls_last=True).iter_rows():
        digest.update(json.dumps(row, ensure_ascii=False, default=str).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()[:16]


def build(responses: pl.DataFrame, instructions: pl.DataFrame) -> tuple[pl.DataFrame, str]:
    """(rows, version) without the cross-source near-duplicate filter (the bench leaves it off)."""
    keys = ["instruction_source", "instruction_id"]
    reason = (
        pl.when(pl.col("response").is_null()).then(pl.lit("failed"))
        .when(pl.col("truncated")).then(pl.lit("truncated"))
        .when(pl.col("response").str.strip_chars() == "").then(pl.lit("empty"))
        .otherwise(pl.lit(None))
    )
    marked = responses.select(*keys, "cache_key", reason.alias("reason")).with_row_index("_response")
    usable = marked.filter(pl.col("reason").is_null()).drop("reason")
    positions = instructions.select(keys).with_row_index("_instruction")
    pairs = _with_row_ids(usable.join(positions, on=keys, how="inner")).sort(*keys, "row_id")
    task = responses["instruction"].gather(pairs["_response"]).alias("task_instruction")
    task_input = responses["input"].gather(pairs["_response"]).alias("task_input")
    response_at, instruction_at = pairs["_response"], pairs["_instruction"]
    released = pl.DataFrame([task, task_input]).select(
        pl.when(pl.col("task_input") == "").then(pl.col("task_instruction"))
        .otherwise(pl.concat_str([pl.col("task_instruction"), pl.lit("\n\n"), pl.col("task_input")]))
        .alias("instruction")
    ).to_series()
    rows = pl.DataFrame([
        pairs["row_id"], released, responses["response"].gather(response_at),
        pairs["instruction_source"], pairs["instruction_id"], task, task_input,
        *(instructions[name].gather(instruction_at) for name in _PROVENANCE[:5]),
        pairs["cache_key"],
        *(responses[name].gather(response_at) for name in ("teacher_model", "finish_reason")),
        instructions["generation_template_version"].gather(instruction_at),
        responses["response_template_version"].gather(response_at),
    ]).cast(DATASET_SCHEMA)
    return rows, content_version(rows)


def _with_row_ids(rows: pl.DataFrame) -> pl.DataFrame:
    arrow_rows = rows.select("instruction_source", "instruction_id", "cache_key").to_arrow()  # noqa: F841
    with duckdb.connect() as conn:
        ids = conn.execute(
            "select substr(md5(concat_ws(chr(31), instruction_source, instruction_id, coalesce(cache_key, ''))), 1, 16)"
            " as row_id from arrow_rows"
        ).pl()
    return rows.with_columns(ids["row_id"])


def content_version(rows: pl.DataFrame) -> str:
    arrow_rows = rows.to_arrow(compat_level=pl.CompatLevel.newest())  # noqa: F841
    schema = ",".join(f"{name}:{dtype}" for name, dtype in rows.schema.items())
    parts = []
    for name, dtype in rows.schema.items():
        column = f'"{name}"'
        if isinstance(dtype, pl.List):
            parts.append(f"coalesce(len({column}) || chr(30) || array_to_string({column}, chr(30)), chr(0))")
        else:
            parts.append(f"coalesce({column}::varchar, chr(0))")
    with duckdb.connect() as conn:
        found = conn.execute(
            f"""
            select sha256($schema || coalesce(string_agg(digest, '' order by digest), ''))
            from (select md5(concat_ws(chr(31), {", ".join(parts)})) as digest from arrow_rows)
            """,
            {"schema": schema},
        ).fetchone()
    assert found is not None
    return str(found[0])[:16]


def write_exports(rows: pl.DataFrame, folder: Path, version: str, card: str) -> None:
    rows.write_parquet(folder / PARQUET_FILE)
    table = rows.to_arrow()
    hf = HfFolderWriter(folder / HF_FOLDER, table.schema, version)  # today's HF writer: flatters the baseline
    for batch in table.to_batches():
        hf.write(batch)
    hf.close()
    rows.select(
        pl.col("task_instruction").alias("instruction"), pl.col("task_input").alias("input"),
        pl.col("response").alias("output"), "instruction_source",
    ).write_json(folder / ALPACA_FILE)
    (folder / CARD_FILE).write_text(card, encoding="utf-8")
