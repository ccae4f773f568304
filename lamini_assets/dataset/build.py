"""The released LaMini-instruction dataset: usable responses with their provenance, free of
cross-source near-duplicates, with stable row ids and a content version."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import polars as pl

from lamini_assets.dataset.config import DatasetConfig
from lamini_assets.dedup import NoveltyConfig, make_novelty_index
from lamini_assets.generation.filters import novelty_text

# One row per released pair: LaMini's three columns, ids, and where every part came from.
DATASET_SCHEMA: dict[str, pl.DataType] = {
    "row_id": pl.String(),  # 16 hex of md5(instruction_source, instruction_id, cache_key)
    "instruction": pl.String(),  # as LaMini released it: task, blank line, input
    "response": pl.String(),
    "instruction_source": pl.String(),
    "instruction_id": pl.String(),
    "task_instruction": pl.String(),
    "task_input": pl.String(),
    "origin": pl.String(),  # original: file:line of the seed; generated: generation:<call_id>
    "template": pl.String(),
    "example_ids": pl.List(pl.String()),  # generated: seeds its prompt showed
    "topics": pl.List(pl.String()),  # topic-guided: topics its prompt named
    "generation_cache_key": pl.String(),  # teacher cache key of the call that generated it
    "cache_key": pl.String(),  # teacher cache key of its response
    "teacher_model": pl.String(),
    "finish_reason": pl.String(),
    "generation_template_version": pl.String(),
    "response_template_version": pl.String(),
}

# Rows left out because a row of a higher-priority source is nearly the same.
NEAR_DUPLICATE_SCHEMA: dict[str, pl.DataType] = {
    "row_id": pl.String(),
    "instruction_source": pl.String(),
    "instruction_id": pl.String(),
    "instruction": pl.String(),
    "neighbour_row_id": pl.String(),
    "neighbour_source": pl.String(),
    "neighbour_instruction_id": pl.String(),
}

_PROVENANCE = ["origin", "template", "example_ids", "topics", "generation_cache_key", "generation_template_version"]
EXCLUSION_REASONS = ("failed", "truncated", "empty", "no_instruction")


@dataclass
class LaminiDataset:
    rows: pl.DataFrame  # DATASET_SCHEMA, sorted by instruction_source, instruction_id, row_id
    near_duplicates: pl.DataFrame  # NEAR_DUPLICATE_SCHEMA
    counts: dict[str, int]  # responses, excluded_<reason>, near_duplicates, kept
    version: str  # content hash (16 hex): changes only when a row does

    def rows_per_source(self) -> dict[str, int]:
        return dict(sorted(self.rows.group_by("instruction_source").len().iter_rows()))


def build_lamini_dataset(
    responses: pl.DataFrame, instructions: pl.DataFrame, config: DatasetConfig | None = None
) -> LaminiDataset:
    """Keep answered, complete, non-empty responses whose instruction is still in `instructions`,
    carry the instruction's provenance over, drop cross-source near-duplicates; count every row left out.

    `instruction` is what the teacher was asked, as LaMini released it: the task instruction, and
    its input after a blank line when there is one; the parts stay in task_instruction/task_input.
    """
    config = config or DatasetConfig()
    keys = ["instruction_source", "instruction_id"]
    reason = (
        pl.when(pl.col("response").is_null()).then(pl.lit("failed"))
        .when(pl.col("truncated")).then(pl.lit("truncated"))
        .when(pl.col("response").str.strip_chars() == "").then(pl.lit("empty"))
        .otherwise(pl.lit(None))
    )
    # Joins, filters and the sort run on narrow columns (ids and row positions); the text columns
    # are gathered once, in their final order: at 2.58M rows each copy of the text is ~2 GB.
    marked = responses.select(*keys, "cache_key", reason.alias("reason")).with_row_index("_response")
    counts = {"responses": responses.height}
    reasons = dict(marked.group_by("reason").len().iter_rows())
    for name in EXCLUSION_REASONS[:-1]:
        counts[f"excluded_{name}"] = int(reasons.get(name, 0))
    usable = marked.filter(pl.col("reason").is_null()).drop("reason")
    positions = instructions.select(keys).with_row_index("_instruction")
    counts["excluded_no_instruction"] = usable.join(positions, on=keys, how="anti").height
    pairs = with_row_ids(usable.join(positions, on=keys, how="inner")).sort(*keys, "row_id")  # the final order
    texts = pairs.select(
        "row_id", *keys,
        responses["instruction"].gather(pairs["_response"]).alias("task_instruction"),
        responses["input"].gather(pairs["_response"]).alias("task_input"),
    )
    _, near_duplicates = drop_cross_source_near_duplicates(texts, config.near_duplicates, config.source_priority)
    if near_duplicates.height:
        keep = ~pairs["row_id"].is_in(near_duplicates["row_id"].implode())  # one mask keeps both aligned
        pairs, texts = pairs.filter(keep), texts.filter(keep)
    response_at, instruction_at = pairs["_response"], pairs["_instruction"]
    del marked, usable
    rows = pl.DataFrame([
        pairs["row_id"],
        _released_instruction(texts["task_instruction"], texts["task_input"]),
        responses["response"].gather(response_at),
        pairs["instruction_source"],
        pairs["instruction_id"],
        texts["task_instruction"],
        texts["task_input"],
        *(instructions[name].gather(instruction_at) for name in _PROVENANCE[:5]),
        pairs["cache_key"],
        *(responses[name].gather(response_at) for name in ("teacher_model", "finish_reason")),
        instructions["generation_template_version"].gather(instruction_at),
        responses["response_template_version"].gather(response_at),
    ]).cast(DATASET_SCHEMA)
    counts["near_duplicates"] = near_duplicates.height
    counts["kept"] = rows.height
    return LaminiDataset(rows=rows, near_duplicates=near_duplicates, counts=counts, version=content_version(rows))


def _released_instruction(task: pl.Series, task_input: pl.Series) -> pl.Series:
    """As LaMini released it: the task, and its input after a blank line when there is one."""
    frame = pl.DataFrame([task, task_input])
    return frame.select(
        pl.when(pl.col("task_input") == "").then(pl.col("task_instruction"))
        .otherwise(pl.concat_str([pl.col("task_instruction"), pl.lit("\n\n"), pl.col("task_input")]))
        .alias("instruction")
    ).to_series()


def with_row_ids(rows: pl.DataFrame) -> pl.DataFrame:
    """Add `row_id`: 16 hex of md5(instruction_source, instruction_id, cache_key), hashed by DuckDB
    (md5 is the same in every version, unlike polars' row hash)."""
    arrow_rows = rows.select("instruction_source", "instruction_id", "cache_key").to_arrow()  # noqa: F841
    with duckdb.connect() as conn:
        ids = conn.execute(
            "select substr(md5(concat_ws(chr(31), instruction_source, instruction_id, coalesce(cache_key, ''))), 1, 16)"
            " as row_id from arrow_rows"
        ).pl()
    return rows.with_columns(ids["row_id"])


def content_version(rows: pl.DataFrame) -> str:
    """16 hex of sha256 over the column names and types and every row's md5, in sorted order: equal
    content gives the same version whatever the row order. Hashed inside DuckDB, with no Python
    loop over rows (md5 is the same in every DuckDB version)."""
    # Arrow string views share polars' buffers (the default large strings would copy every text).
    arrow_rows = rows.to_arrow(compat_level=pl.CompatLevel.newest())  # noqa: F841
    schema = ",".join(f"{name}:{dtype}" for name, dtype in rows.schema.items())
    with duckdb.connect() as conn:
        found = conn.execute(
            f"""
            select sha256($schema || coalesce(string_agg(digest, '' order by digest), ''))
            from (select md5(concat_ws(chr(31), {_row_text(rows.schema)})) as digest from arrow_rows)
            """,
            {"schema": schema},
        ).fetchone()
    assert found is not None
    return str(found[0])[:16]


def _row_text(schema: pl.Schema) -> str:
    """SQL parts whose chr(31)-joined text identifies a row: a null is chr(0); a list is its length
    and its items joined by chr(30). (A whole-row to_json costs 5x more at 2.58M rows.)"""
    parts = []
    for name, dtype in schema.items():
        column = f'"{name}"'
        if isinstance(dtype, pl.List):
            parts.append(f"coalesce(len({column}) || chr(30) || array_to_string({column}, chr(30)), chr(0))")
        else:
            parts.append(f"coalesce({column}::varchar, chr(0))")
    return ", ".join(parts)


def drop_cross_source_near_duplicates(
    rows: pl.DataFrame, novelty: NoveltyConfig | None, source_priority: list[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Leave out rows nearly the same as a kept row of a higher-priority source (kept, removed).

    Sources are judged in priority order and rows in instruction_id order, so the result depends on
    the content only, never on the order partitions were materialised in. Near-duplicates within one
    source stay: the generation filters judged those already, and LaMini kept Alpaca's own.
    """
    empty = pl.DataFrame(schema=NEAR_DUPLICATE_SCHEMA)
    if novelty is None or rows.is_empty():
        return rows, empty
    index = make_novelty_index(novelty)
    removed_ids: list[str] = []
    neighbour_ids: list[str] = []
    for source in source_priority:
        part = rows.filter(pl.col("instruction_source") == source).sort("instruction_id", "row_id")
        if part.is_empty():
            continue
        texts = [
            novelty_text({"instruction": instruction, "input": task_input})
            for instruction, task_input in zip(part["task_instruction"], part["task_input"], strict=True)
        ]
        ids = part["row_id"].to_list()
        for row_id, neighbour in zip(ids, index.add_group(ids, texts), strict=True):
            if neighbour is not None:
                removed_ids.append(row_id)
                neighbour_ids.append(neighbour)
    if not removed_ids:
        return rows, empty
    pairs = pl.DataFrame({"row_id": removed_ids, "neighbour_row_id": neighbour_ids}, schema={"row_id": pl.String(), "neighbour_row_id": pl.String()})
    neighbours = rows.select(
        pl.col("row_id").alias("neighbour_row_id"),
        pl.col("instruction_source").alias("neighbour_source"),
        pl.col("instruction_id").alias("neighbour_instruction_id"),
    )
    removed = (
        pairs.join(rows.select("row_id", "instruction_source", "instruction_id",
                               _released_instruction(rows["task_instruction"], rows["task_input"])), on="row_id")
        .join(neighbours, on="neighbour_row_id")
        .select(list(NEAR_DUPLICATE_SCHEMA))
        .sort("instruction_source", "instruction_id", "row_id")
    )
    return rows.join(pairs, on="row_id", how="anti"), removed
