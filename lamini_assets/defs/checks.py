"""The checks every instruction table gets, per partition: it has rows, and its instructions are sound."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from lamini_assets.validation import count_rows_problems


def instruction_table_checks(
    asset: str, partition_column: str, partitions_def: dg.PartitionsDefinition, unique_ids: bool
) -> list[dg.AssetChecksDefinition]:
    """`partition_has_rows` and `instructions_valid` (no empty instruction; unique ids if asked)."""

    def problems(context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource) -> dict[str, int]:
        with duckdb.get_connection() as conn:
            return count_rows_problems(conn, asset, partition_column, context.partition_key)

    @dg.asset_check(asset=asset, name="partition_has_rows", partitions_def=partitions_def,
                    description="The partition has at least one row.")
    def has_rows(context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource) -> dg.AssetCheckResult:
        found = problems(context, duckdb)
        return dg.AssetCheckResult(passed=found["rows"] > 0, metadata=found)

    @dg.asset_check(asset=asset, name="instructions_valid", partitions_def=partitions_def,
                    description="No instruction is empty" + (" and instruction_id is unique." if unique_ids else "."))
    def instructions_valid(context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource) -> dg.AssetCheckResult:
        found = problems(context, duckdb)
        passed = found["empty_instructions"] == 0 and (found["repeated_ids"] == 0 or not unique_ids)
        return dg.AssetCheckResult(passed=passed, metadata=found)

    return [has_rows, instructions_valid]
