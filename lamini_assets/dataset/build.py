"""The released LaMini-instruction dataset: usable responses with their provenance, free of
cross-source near-duplicates, with stable row ids and a content version."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import polars as pl

from lamini_assets.dataset.config import DatasetConfig
from lamini_assets.dedup import NoveltyConfig, NoveltyIndex, make_novelty_index
from lamini_assets.generation.filters import novelty_texts
from lamini_assets.warehouse import content_hash, memory_limit

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


# The table the build writes; the asset renames it to `lamini_dataset` once the version is published.
BUILD_TABLE = "lamini_dataset_build"
_STRING_TYPES = {name: "varchar[]" if isinstance(dtype, pl.List) else "varchar" for name, dtype in DATASET_SCHEMA.items()}


@dataclass
class LaminiDataset:
    """A built dataset: its rows sit in a DuckDB table (`table` in `conn`), in DATASET_SCHEMA, sorted by
    instruction_source, instruction_id, row_id; the rest are small summaries, so nothing here holds
    the text in Python."""

    conn: duckdb.DuckDBPyConnection  # the connection whose `table` holds the rows
    table: str
    near_duplicates: pl.DataFrame  # NEAR_DUPLICATE_SCHEMA
    counts: dict[str, int]  # responses, excluded_<reason>, near_duplicates, kept
    version: str  # content hash (16 hex): changes only when a row does
    summary: dict[str, dict[str, int]]  # instruction_source / teacher_model / *_template_version -> value -> rows

    @property
    def height(self) -> int:
        return self.counts["kept"]

    @property
    def rows(self) -> pl.DataFrame:
        """Every row as a polars frame, in order (the whole text in memory: for small datasets and tests)."""
        return self.conn.execute(f"select * from {self.table}").pl().cast(DATASET_SCHEMA)

    def rows_per_source(self) -> dict[str, int]:
        return dict(self.summary["instruction_source"])


_EXCLUSION_REASON = """
    case when r.response is null then 'failed'
         when r.truncated then 'truncated'
         when regexp_full_match(r.response, '[\\t-\\r\\x{85}\\p{Z}]*') then 'empty'  -- Unicode whitespace only
    end
"""


_LIMIT_WHILE_PYTHON_WORKS = "256MB"
# LaMini's released instruction: the task, and its input after a blank line when there is one.
_RELEASED_INSTRUCTION_SQL = "case when task_input = '' then task_instruction else task_instruction || chr(10) || chr(10) || task_input end"


def build_dataset_table(
    conn: duckdb.DuckDBPyConnection,
    config: DatasetConfig | None = None,
    responses: str = "main.responses",
    instructions: str = "main.instructions",
    table: str = BUILD_TABLE,
    pool_index: NoveltyIndex | None = None,
) -> LaminiDataset:
    """Build the dataset inside DuckDB, into `table` (replaced): keep answered, complete, non-empty
    responses whose instruction is still in `instructions`, carry the instruction's provenance over,
    add row ids, drop cross-source near-duplicates; count every row left out; hash the content.

    `instruction` is what the teacher was asked, as LaMini released it: the task instruction, and
    its input after a blank line when there is one; the parts stay in task_instruction/task_input.
    Joins, the sort, row ids and the content hash all run in DuckDB, which spills to disk rather than
    holding 2.58M rows' text (2.3 GB) in Python. `pool_index`: the saved seed-pool novelty index,
    whose signatures of the same texts the near-duplicate filter reuses (the result is the same).
    """
    config = config or DatasetConfig()
    found = conn.execute(
        f"""
        select reason, count(*) from (
            select coalesce({_EXCLUSION_REASON}, case when i.instruction_id is null then 'no_instruction' end) as reason
            from {responses} r
            left join (select distinct instruction_source, instruction_id from {instructions}) i
                using (instruction_source, instruction_id)
        ) group by reason
        """
    ).fetchall()
    reasons = {reason: int(count) for reason, count in found}
    counts = {"responses": sum(reasons.values())}
    for name in EXCLUSION_REASONS:
        counts[f"excluded_{name}"] = reasons.get(name, 0)
    # `instruction` is a virtual column, computed when read: stored, it was a second copy of the task text
    # to compress and write (4.8 s of CPU at LaMini's size), and the sort moves less text.
    stored = [name for name in DATASET_SCHEMA if name != "instruction"]
    definitions = [
        f"instruction varchar generated always as ({_RELEASED_INSTRUCTION_SQL}) virtual" if name == "instruction"
        else f"{name} {_STRING_TYPES[name]}" for name in DATASET_SCHEMA
    ]
    conn.execute(f"create or replace table {table} ({', '.join(definitions)})")
    conn.execute(
        f"""
        insert into {table} ({", ".join(stored)})
        select {", ".join(f"{name}::{_STRING_TYPES[name]}" for name in stored)}
        from (
            select
                substr(md5(concat_ws(chr(31), r.instruction_source, r.instruction_id, coalesce(r.cache_key, ''))), 1, 16)
                    as row_id,
                r.response, r.instruction_source, r.instruction_id,
                r.instruction as task_instruction, r.input as task_input,
                i.origin, i.template, i.example_ids, i.topics, i.generation_cache_key,
                r.cache_key, r.teacher_model, r.finish_reason,
                i.generation_template_version, r.response_template_version
            from {responses} r join {instructions} i using (instruction_source, instruction_id)
            where {_EXCLUSION_REASON} is null
        )
        order by instruction_source, instruction_id, row_id
        """
    )
    near_duplicates = pl.DataFrame(schema=NEAR_DUPLICATE_SCHEMA)
    if config.near_duplicates is not None:
        # MinHash runs in Python over the task texts (the generation novelty filter's index), read one
        # source at a time: the largest group's text (0.6 GB for FLAN), not the dataset's (1.2 GB).
        def read_group(source: str) -> pl.DataFrame:
            # Sorted by Polars: DuckDB's sort under the lowered memory limit spills (FLAN: 4.3 s CPU, 1.0 s without).
            return conn.execute(
                f"select row_id, instruction_id, task_instruction, task_input from {table} where instruction_source = $source",
                {"source": source}).pl().sort("instruction_id", "row_id")

        # DuckDB gives its cached blocks back when its limit drops (2.1 GB -> 0.14 GB measured after a
        # 2.58M-row sort), so they do not sit beside the Python index at the step's peak.
        with memory_limit(conn, _LIMIT_WHILE_PYTHON_WORKS):
            pairs = near_duplicate_pairs(read_group, config.near_duplicates, config.source_priority, known=pool_index)
        if pairs.height:
            conn.register("_near_duplicate_pairs", pairs.to_arrow())
            near_duplicates = conn.execute(
                f"""select d.row_id, d.instruction_source, d.instruction_id, d.instruction, p.neighbour_row_id,
                           n.instruction_source as neighbour_source, n.instruction_id as neighbour_instruction_id
                    from _near_duplicate_pairs p join {table} d using (row_id) join {table} n on n.row_id = p.neighbour_row_id
                    order by d.instruction_source, d.instruction_id, d.row_id"""
            ).pl().cast(NEAR_DUPLICATE_SCHEMA)  # type: ignore[arg-type]
            conn.execute(f"delete from {table} where row_id in (select row_id from _near_duplicate_pairs)")
            conn.unregister("_near_duplicate_pairs")
    counts["near_duplicates"] = near_duplicates.height
    if pool_index is not None and config.near_duplicates is not None:
        counts["near_duplicate_signatures_reused"] = getattr(pool_index, "signatures_lent", 0)
    summary: dict[str, dict[str, int]] = {}
    for column in ("instruction_source", "teacher_model", "generation_template_version", "response_template_version"):
        summary[column] = {
            str(value): int(count)
            for value, count in conn.execute(f"select {column}, count(*) from {table} group by all order by all").fetchall()
        }
    counts["kept"] = sum(summary["instruction_source"].values())
    return LaminiDataset(conn=conn, table=table, near_duplicates=near_duplicates, counts=counts,
                         version=content_hash(conn, table), summary=summary)


def build_lamini_dataset(
    responses: pl.DataFrame, instructions: pl.DataFrame, config: DatasetConfig | None = None,
    pool_index: NoveltyIndex | None = None,
) -> LaminiDataset:
    """`build_dataset_table` over polars frames, in a DuckDB database of its own (in memory)."""
    conn = duckdb.connect()
    conn.register("responses_frame", responses.to_arrow())  # string views break pyarrow filter pushdown
    conn.register("instructions_frame", instructions.to_arrow())
    dataset = build_dataset_table(conn, config, responses="responses_frame", instructions="instructions_frame",
                                  table="lamini_dataset", pool_index=pool_index)
    conn.unregister("responses_frame")
    conn.unregister("instructions_frame")
    return dataset


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
    (md5 is the same in every version, unlike polars' row hash); the same expression as the build's."""
    with duckdb.connect() as conn:
        conn.register("keys", rows.select("instruction_source", "instruction_id", "cache_key").to_arrow())
        ids = conn.execute(
            "select substr(md5(concat_ws(chr(31), instruction_source, instruction_id, coalesce(cache_key, ''))), 1, 16)"
            " as row_id from keys"
        ).pl()
    return rows.with_columns(ids["row_id"])


def content_version(rows: pl.DataFrame) -> str:
    """The version `build_dataset_table` gives these rows (`warehouse.content_hash` of the frame,
    read by DuckDB as Arrow string views that share polars' buffers): equal content, equal version,
    whatever the row order."""
    with duckdb.connect() as conn:
        conn.register("dataset_rows", rows.to_arrow(compat_level=pl.CompatLevel.newest()))
        return content_hash(conn, "dataset_rows")


def near_duplicate_pairs(
    read_group: Callable[[str], pl.DataFrame], novelty: NoveltyConfig, source_priority: list[str],
    known: NoveltyIndex | None = None,
) -> pl.DataFrame:
    """(row_id, neighbour_row_id) of every row nearly the same as a kept row of a higher-priority source.

    `read_group(source)`: that source's rows (row_id, task_instruction, task_input) in instruction_id,
    row_id order. Sources are judged in priority order, so the result depends on the content only,
    never on the order partitions were materialised in. Near-duplicates within one source stay: the
    generation filters judged those already, and LaMini kept Alpaca's own.
    """
    index = make_novelty_index(novelty)
    found: list[pl.DataFrame] = []
    for source in source_priority:
        part = read_group(source)
        if part.is_empty():
            continue
        ids = part["row_id"].to_list()
        texts = novelty_texts(part.select(pl.col("task_instruction").alias("instruction"), pl.col("task_input").alias("input")))
        del part
        neighbours = pl.Series("neighbour_row_id", index.add_group(ids, texts, known), dtype=pl.String)
        found.append(pl.DataFrame({"row_id": ids, "neighbour_row_id": neighbours}).filter(pl.col("neighbour_row_id").is_not_null()))
    return pl.concat(found) if found else pl.DataFrame(schema={"row_id": pl.String(), "neighbour_row_id": pl.String()})


def drop_cross_source_near_duplicates(
    rows: pl.DataFrame, novelty: NoveltyConfig | None, source_priority: list[str], known: NoveltyIndex | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`near_duplicate_pairs` over a frame of dataset rows: (kept, removed in NEAR_DUPLICATE_SCHEMA)."""
    empty = pl.DataFrame(schema=NEAR_DUPLICATE_SCHEMA)
    if novelty is None or rows.is_empty():
        return rows, empty
    pairs = near_duplicate_pairs(
        lambda source: rows.filter(pl.col("instruction_source") == source).sort("instruction_id", "row_id"),
        novelty, source_priority, known)
    if not pairs.height:
        return rows, empty
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
