"""Dataset stage: the released LaMini dataset as immutable versions, and its blocking checks."""

from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import duckdb as duckdb_module
from dagster_duckdb import DuckDBResource

from lamini_assets.dataset import (
    CardFacts,
    VersionRecord,
    build_dataset_table,
    point_latest,
    publish_version,
    record_version,
    render_card,
)
from lamini_assets.dataset.checks import missing_sources, repeated_row_ids
from lamini_assets.dataset.exports import CARD_FILE
from lamini_assets.dedup import saved_pool_index
from lamini_assets.defs.automation import FOLLOWS_UPSTREAM
from lamini_assets.defs.checks import expected_empty
from lamini_assets.defs.metadata import (
    PREVIEW_ROWS,
    config_hash,
    config_metadata,
    counts_metadata,
    table_metadata,
)
from lamini_assets.defs.resources import PipelineConfigResource
from lamini_assets.schema import INSTRUCTION_SOURCES
from lamini_assets.warehouse import memory_limit, rename_table, replace_table, table_exists

# Teacher figures summed over every partition of the teacher-calling assets.
TEACHER_FIGURES = ("requests", "cache_hits", "misses", "failures", "truncated", "prompt_tokens",
                   "completion_tokens", "estimated_cost_usd")
TEACHER_CALLING = ("instructions", "responses")
PAGE = 1_000  # event-log records fetched at once (the storage caps one fetch)


def teacher_totals(instance: dg.DagsterInstance) -> dict[str, Any]:
    """`teacher_latest/*`: summed over the latest materialisation of every partition (what the data
    now on disk cost in the runs that made it); `teacher_all_runs/*`: summed over every run ever."""
    latest = dict.fromkeys(TEACHER_FIGURES, 0)
    every = dict.fromkeys(TEACHER_FIGURES, 0)
    for asset in TEACHER_CALLING:
        seen: set[str | None] = set()
        for record in _materializations(instance, dg.AssetKey(asset)):
            metadata = record.asset_materialization.metadata if record.asset_materialization else {}
            first = record.partition_key not in seen
            seen.add(record.partition_key)
            for name in TEACHER_FIGURES:
                entry = metadata.get(f"teacher/{name}")
                value = entry.value if entry is not None else 0
                if isinstance(value, (int, float)):
                    every[name] += value
                    if first:
                        latest[name] += value
    return {
        **{f"teacher_latest/{name}": round(value, 6) for name, value in latest.items()},
        **{f"teacher_all_runs/{name}": round(value, 6) for name, value in every.items()},
    }


def _materializations(instance: dg.DagsterInstance, key: dg.AssetKey) -> Iterator[Any]:
    """Every materialisation record of an asset, newest first, page by page."""
    cursor = None
    while True:
        page = instance.fetch_materializations(key, limit=PAGE, cursor=cursor)
        yield from page.records
        if not page.has_more:
            return
        cursor = page.cursor


def generation_rejects(conn: duckdb_module.DuckDBPyConnection) -> dict[str, dict[str, int]]:
    """instruction_rejects counted by source and reason, for the card."""
    if not table_exists(conn, "instruction_rejects"):
        return {}
    found: dict[str, dict[str, int]] = {}
    for source, reason, count in conn.execute(
        "select instruction_source, drop_reason, count(*) from main.instruction_rejects group by all order by all"
    ).fetchall():
        found.setdefault(source, {})[reason] = count
    return found


@dg.asset(
    deps=["responses", "instructions", "instruction_rejects"],
    group_name="dataset",
    kinds={"duckdb", "parquet"},
    automation_condition=FOLLOWS_UPSTREAM,
    description=(
        "LaMini-instruction as released (instruction, response, instruction_source) plus row_id and every "
        "row's provenance. Rows without a usable response (failed, truncated, empty) and cross-source "
        "near-duplicates (dataset_near_duplicates) are left out and counted. Each distinct content is an "
        "immutable version (its data version): artifacts lamini_dataset/<version>/ (parquet, HF folder, "
        "Alpaca JSON, dataset card), tables dataset_versions and dataset_rows, pointer lamini_dataset/latest."
    ),
)
def lamini_dataset(
    context: dg.AssetExecutionContext, pipeline: PipelineConfigResource, duckdb: DuckDBResource
) -> dg.MaterializeResult:
    config = pipeline.load()
    store = config.artifact_store()
    code_version = context.assets_def.code_versions_by_key.get(context.asset_key) or ""
    near = config.dataset.near_duplicates
    # closing(): dagster-duckdb closes its connection only when the block succeeds, and a failed export
    # would otherwise leave the file open (and locked to other configurations) until garbage collection.
    with duckdb.get_connection() as conn, closing(conn):
        with memory_limit(conn, config.dataset.duckdb_memory_limit):
            # Built, hashed and exported inside DuckDB: the rows' text never becomes Python objects.
            # The seed pool's saved index lends its signatures of the pass-through texts.
            pool_index = saved_pool_index(config.novelty_dir, config.generation.filters.novelty) if near else None
            dataset = build_dataset_table(conn, config.dataset, pool_index=pool_index)
            facts = CardFacts(
                run_id=context.run.run_id,
                created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                config_hash=config_hash(config),
                code_version=code_version,
                filter_settings={
                    "generation": config.generation.filters.model_dump(),
                    "cross_source_near_duplicates": near.model_dump() if near else None,
                    "source_priority": config.dataset.source_priority,
                },
                upstream_rejects=generation_rejects(conn),
            )
            # Files first, then tables, then the pointer: `latest` never names a version not fully recorded.
            folder = publish_version(store, dataset, render_card(dataset, facts))
            rename_table(conn, dataset.table, "lamini_dataset")
            replace_table(conn, "dataset_near_duplicates", dataset.near_duplicates)
            record = VersionRecord(
                version=dataset.version, run_id=facts.run_id, created_at=facts.created_at,
                rows_per_source=dataset.rows_per_source(), config_hash=facts.config_hash,
                code_version=code_version, uri=folder,
            )
            is_new = record_version(conn, record, "lamini_dataset")
            preview = conn.execute(f"select * from main.lamini_dataset limit {PREVIEW_ROWS}").pl()
            tokens = conn.execute("select coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0)"
                                  " from main.responses").fetchone() or (0, 0)
    point_latest(store, dataset.version)

    card_key = f"lamini_dataset/{dataset.version}/{CARD_FILE}"
    return dg.MaterializeResult(
        metadata={
            **table_metadata(preview, "lamini_dataset"),
            "dagster/row_count": dataset.height,
            **config_metadata(config),
            **counts_metadata(dataset.counts),
            **counts_metadata(dataset.rows_per_source(), prefix="rows/"),
            "dataset/version": dataset.version,
            "dataset/new_version": is_new,
            "dataset/folder": dg.MetadataValue.path(folder),
            "dataset/card": dg.MetadataValue.path(store.uri(card_key)),
            "dataset/response_prompt_tokens": int(tokens[0]),
            "dataset/response_completion_tokens": int(tokens[1]),
            "near_duplicates_preview": table_metadata(dataset.near_duplicates, "dataset_near_duplicates")["preview"],
            **teacher_totals(context.instance),
        },
        data_version=dg.DataVersion(dataset.version),
    )


@dg.asset_check(asset=lamini_dataset, name="row_ids_unique", blocking=True,
                description="Every row_id (hash of instruction_source, instruction_id, response cache key) is unique.")
def row_ids_unique(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    with duckdb.get_connection() as conn:
        found = repeated_row_ids(conn)
    return dg.AssetCheckResult(passed=found["repeated_row_ids"] == 0 and found["rows"] > 0, metadata=found)


@dg.asset_check(asset=lamini_dataset, name="every_source_present", blocking=True,
                description="Each of the seven instruction sources has rows, unless dataset.absent_sources names it "
                            "or the config feeds it nothing (no source for its seed pool, or 0 generation calls).")
def every_source_present(pipeline: PipelineConfigResource, duckdb: DuckDBResource) -> dg.AssetCheckResult:
    config = pipeline.load()
    left_empty = [label for label in INSTRUCTION_SOURCES if expected_empty(config, "instruction_source", label)]
    with duckdb.get_connection() as conn:
        found = missing_sources(conn, [*config.dataset.absent_sources, *left_empty])
    return dg.AssetCheckResult(
        passed=not found["missing"],
        metadata={name: ", ".join(sources) or "none" for name, sources in found.items()},
    )


dataset_checks = [row_ids_unique, every_source_present]
