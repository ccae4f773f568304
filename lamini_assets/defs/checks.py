"""Checks shared by the partitioned instruction tables: the partition has rows, its ids are unique.

Both are blocking: a failed (ERROR) check stops downstream assets of the same run, so an empty or
corrupt partition never flows on into responses and the dataset. The validators are in
lamini_assets/validation.py; these wrappers only turn their counts into results.
"""

from collections.abc import Iterator

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


def partition_checks(
    asset: str, partition_column: str, partitions_def: dg.PartitionsDefinition, ids_unique: bool = True
) -> dg.AssetChecksDefinition:
    """`partition_has_rows` and (with `ids_unique`) `instruction_ids_unique` of one partitioned table, in one
    step: each check step costs ~0.3 s of Dagster bookkeeping and a DuckDB open, per partition."""
    specs = [dg.AssetCheckSpec(
        "partition_has_rows", asset=asset, partitions_def=partitions_def, blocking=True,
        description="The partition has at least one row (only a warning when the config leaves it empty).",
    )]
    if ids_unique:
        specs.append(dg.AssetCheckSpec(
            "instruction_ids_unique", asset=asset, partitions_def=partitions_def, blocking=True,
            description="No instruction_id appears twice in the partition.",
        ))

    @dg.multi_asset_check(specs=specs, can_subset=True, name=f"{asset}_partition_checks")
    def checks(
        context: dg.AssetCheckExecutionContext, pipeline: PipelineConfigResource, duckdb: DuckDBResource
    ) -> Iterator[dg.AssetCheckResult]:
        selected = {key.name for key in context.selected_asset_check_keys}
        with duckdb.get_connection() as conn:
            rows = count_rows(conn, asset, partition_column, context.partition_key) if "partition_has_rows" in selected else None
            repeated = (count_repeated_ids(conn, asset, partition_column, context.partition_key)
                        if "instruction_ids_unique" in selected else None)
        if rows is not None:
            reason = expected_empty(pipeline.load(), partition_column, context.partition_key)
            yield dg.AssetCheckResult(
                check_name="partition_has_rows", passed=rows["rows"] > 0,
                severity=dg.AssetCheckSeverity.WARN if reason else dg.AssetCheckSeverity.ERROR,
                metadata={**rows, "expected_empty": reason or "no"},
            )
        if repeated is not None:
            yield dg.AssetCheckResult(check_name="instruction_ids_unique", passed=repeated["repeated_ids"] == 0,
                                      metadata=repeated)

    return checks
