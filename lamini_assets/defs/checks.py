"""Checks shared by the partitioned instruction tables: the partition has rows, its ids are unique.

Both are blocking: a failed (ERROR) check stops downstream assets of the same run, so an empty or
corrupt partition never flows on into responses and the dataset. The validators are in
lamini_assets/validation.py; these wrappers only turn their counts into results.
"""

import dagster as dg
from dagster_duckdb import DuckDBResource

from lamini_assets.config import PipelineConfig
from lamini_assets.defs.resources import PipelineConfigResource
from lamini_assets.schema import LABEL_SEED_POOL, ORIGINAL_LABELS
from lamini_assets.validation import count_repeated_ids, count_rows


def expected_empty(config: PipelineConfig, partition_column: str, partition_key: str) -> str | None:
    """Why the config itself leaves a partition empty (then an empty partition only warns), else None."""
    pool = partition_key if partition_column == "seed_source" else LABEL_SEED_POOL[partition_key]
    if not config.sources_for(pool):
        return f"no source in the config feeds the {pool} pool"
    if partition_column == "instruction_source" and partition_key not in ORIGINAL_LABELS:
        if config.generation.calls_per_partition.get(partition_key, 0) == 0:
            return f"generation.calls_per_partition.{partition_key} is 0"
    return None


def partition_has_rows_check(
    asset: str, partition_column: str, partitions_def: dg.PartitionsDefinition
) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset, name="partition_has_rows", partitions_def=partitions_def, blocking=True,
        description="The partition has at least one row (only a warning when the config leaves it empty).",
    )
    def has_rows(
        context: dg.AssetCheckExecutionContext, pipeline: PipelineConfigResource, duckdb: DuckDBResource
    ) -> dg.AssetCheckResult:
        with duckdb.get_connection() as conn:
            found = count_rows(conn, asset, partition_column, context.partition_key)
        reason = expected_empty(pipeline.load(), partition_column, context.partition_key)
        severity = dg.AssetCheckSeverity.WARN if reason else dg.AssetCheckSeverity.ERROR
        return dg.AssetCheckResult(
            passed=found["rows"] > 0, severity=severity, metadata={**found, "expected_empty": reason or "no"}
        )

    return has_rows


def ids_unique_check(
    asset: str, partition_column: str, partitions_def: dg.PartitionsDefinition
) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset, name="instruction_ids_unique", partitions_def=partitions_def, blocking=True,
        description="No instruction_id appears twice in the partition.",
    )
    def ids_unique(context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource) -> dg.AssetCheckResult:
        with duckdb.get_connection() as conn:
            found = count_repeated_ids(conn, asset, partition_column, context.partition_key)
        return dg.AssetCheckResult(passed=found["repeated_ids"] == 0, metadata=found)

    return ids_unique
