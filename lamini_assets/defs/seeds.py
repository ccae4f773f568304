"""Seed stage: the four seed pools loaded from their published formats into DuckDB."""

from collections.abc import Iterator

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from lamini_assets.defs.checks import partition_checks
from lamini_assets.defs.metadata import config_metadata, counts_metadata, table_metadata
from lamini_assets.defs.partitions import seed_source_partitions
from lamini_assets.defs.resources import PipelineConfigResource
from lamini_assets.schema import QUARANTINE_SCHEMA, SEED_SCHEMA
from lamini_assets.sources import SourceError, load_source
from lamini_assets.validation import count_dedup_coverage
from lamini_assets.warehouse import replace_partition

@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "seed_instructions",
            description=(
                "Seed instructions of one pool (self_instruct, alpaca, p3, flan), read from each configured "
                "source in its published format into the common schema, with a stable instruction_id and origin."
            ),
            group_name="seeds",
            kinds={"duckdb", "polars"},
        ),
        dg.AssetSpec(
            "seed_quarantine",
            description="Seed rows that could not be read (sources with on_bad_rows: quarantine), with file, line, field and reason.",
            group_name="seeds",
            kinds={"duckdb"},
        ),
    ],
    partitions_def=seed_source_partitions,
)
def seed_instructions(
    context: dg.AssetExecutionContext, pipeline: PipelineConfigResource, duckdb: DuckDBResource
) -> Iterator[dg.MaterializeResult]:
    config = pipeline.load()
    pool = context.partition_key
    specs = config.sources_for(pool)
    if not specs:
        context.log.warning(f"no source in the config feeds the {pool} pool; the partition will be empty")
    try:
        loaded = [load_source(spec, config.base_dir, cache_dir=config.hf_datasets_cache_dir) for spec in specs]
    except SourceError as error:
        # One line naming file, line and field (or the likely cause), shown first in the UI and CLI.
        raise dg.Failure(description=str(error), allow_retries=False) from error
    empty_files = [f"{spec.name}: {file}" for spec, source in zip(specs, loaded) for file in source.empty_files]
    if empty_files:
        context.log.warning(f"{len(empty_files)} empty files (no rows) skipped: {', '.join(empty_files[:20])}")
    rows = pl.concat([source.rows for source in loaded]) if loaded else pl.DataFrame(schema=SEED_SCHEMA)
    quarantine = pl.concat([source.quarantine for source in loaded]) if loaded else pl.DataFrame(schema=QUARANTINE_SCHEMA)
    with duckdb.get_connection() as conn:
        replace_partition(conn, "seed_instructions", rows, {"seed_source": pool})
        replace_partition(conn, "seed_quarantine", quarantine, {"seed_source": pool})

    per_source = {
        f"{spec.name}.{name}": value for spec, source in zip(specs, loaded) for name, value in source.counts.items()
    }
    yield dg.MaterializeResult(
        asset_key="seed_instructions",
        metadata={
            **table_metadata(rows, "seed_instructions"),
            "sources": ", ".join(f"{spec.name} ({spec.format})" for spec in specs),
            "quarantined": quarantine.height,
            "templates": rows["template"].n_unique(),
            "empty_outputs": rows.filter(pl.col("output") == "").height,
            "empty_files": dg.MetadataValue.md("\n".join(f"- {file}" for file in empty_files) or "none"),
            **counts_metadata(per_source),
            **config_metadata(config),
        },
    )
    yield dg.MaterializeResult(asset_key="seed_quarantine",
                               metadata={**table_metadata(quarantine, "seed_quarantine"), **config_metadata(config)})

# Within a pool exact duplicates are expected until dedup, so ids are checked after it.
seed_instruction_checks = [partition_checks("seed_instructions", "seed_source", seed_source_partitions, ids_unique=False)]


@dg.asset_check(
    asset="seed_instructions_dedup", blocking=True,
    description=(
        "Dedup keeps exactly one row of every distinct seed: no seed id missing, none extra, none twice. "
        "Fails when seed pools changed after dedup was built, or when the dedup SQL keeps the wrong copies."
    ),
)
def seed_dedup_keeps_one_of_each(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    with duckdb.get_connection() as conn:
        found = count_dedup_coverage(conn)
    passed = found["missing_ids"] == found["extra_ids"] == found["repeated_ids"] == 0
    return dg.AssetCheckResult(passed=passed, metadata=found)
