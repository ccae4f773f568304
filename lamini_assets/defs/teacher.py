"""Teacher stage: the teacher's response to every instruction."""

from collections.abc import Iterator

import dagster as dg
from dagster_duckdb import DuckDBResource

from lamini_assets.defs.checks import ids_unique_check, partition_has_rows_check
from lamini_assets.defs.metadata import config_metadata, counts_metadata, table_metadata, teacher_metadata
from lamini_assets.defs.partitions import instruction_source_partitions
from lamini_assets.defs.resources import TEACHER_POOL, PipelineConfigResource, TeacherResource
from lamini_assets.generation.partitions import answer_instructions
from lamini_assets.validation import count_unanswered, response_shares
from lamini_assets.warehouse import read_table, replace_partition, table_version


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "responses",
            deps=["instructions"],
            group_name="teacher",
            kinds={"duckdb", "openai"},
            description=(
                "The teacher's answer to every instruction of the partition, with LaMini's concise-answer system "
                "message. Cached by content: new instructions are the only calls. Failed calls stay as rows with "
                "their error (and in teacher_failures); truncated answers are kept and flagged. Its data version "
                "is a hash of the partition's rows."
            ),
        ),
        dg.AssetSpec(
            "teacher_failures",
            deps=["instructions"],
            group_name="teacher",
            kinds={"duckdb"},
            description=(
                "Teacher calls of this source that still failed after their retries: generation calls (written "
                "when `instructions` runs) and response calls, with error class, message, attempts and time. "
                "Rematerialising retries just these calls; the rest come from the cache."
            ),
        ),
    ],
    partitions_def=instruction_source_partitions,
    pool=TEACHER_POOL,
    can_subset=True,  # `responses` alone may be selected; the failures table is written either way
)
def responses(
    context: dg.AssetExecutionContext, pipeline: PipelineConfigResource, duckdb: DuckDBResource, teacher: TeacherResource
) -> Iterator[dg.MaterializeResult]:
    label = context.partition_key
    with duckdb.get_connection() as conn:
        instructions = read_table(conn, "instructions", "instruction_source", [label])
    client = teacher.client(context.log.info)
    partition = answer_instructions(label, instructions, client)
    with duckdb.get_connection() as conn:
        replace_partition(conn, "responses", partition.rows, {"instruction_source": label})
        replace_partition(conn, "teacher_failures", partition.failures, {"asset": "responses", "instruction_source": label})
        failures = read_table(conn, "teacher_failures", "instruction_source", [label])
    selected = {key.to_user_string() for key in context.selected_asset_keys}
    if "responses" in selected:
        yield dg.MaterializeResult(
            asset_key="responses",
            metadata={
                **table_metadata(partition.rows, "responses"),
                **counts_metadata(partition.counts),
                **teacher_metadata(client, partition.teacher_stats),
                **config_metadata(pipeline.load()),
            },
            data_version=dg.DataVersion(table_version(partition.rows)),
        )
    if "teacher_failures" in selected:
        by_asset = dict(failures.group_by("asset").len().iter_rows())
        yield dg.MaterializeResult(
            asset_key="teacher_failures",
            metadata={
                **table_metadata(failures, "teacher_failures"),
                "failed_generation_calls": by_asset.get("instructions", 0),
                "failed_response_calls": by_asset.get("responses", 0),
            },
            data_version=dg.DataVersion(table_version(failures.drop("failed_at"))),
        )


@dg.asset_check(
    asset="responses", partitions_def=instruction_source_partitions, blocking=True,
    description=(
        "Every instruction of the source has a responses row (answered or error) and every response still has "
        "its instruction. Fails when instructions changed after responses were built."
    ),
)
def every_instruction_answered(context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource) -> dg.AssetCheckResult:
    with duckdb.get_connection() as conn:
        found = count_unanswered(conn, context.partition_key)
    return dg.AssetCheckResult(passed=found["unanswered"] == found["orphan_responses"] == 0, metadata=found)


def _share_check(kind: str, limit_key: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset="responses", name=f"{kind}_share_under_limit", partitions_def=instruction_source_partitions,
        blocking=True,
        description=(
            f"Share of {kind} responses: any warns; above responses.{limit_key} of the partition it fails (ERROR)."
        ),
    )
    def share_under_limit(
        context: dg.AssetCheckExecutionContext, pipeline: PipelineConfigResource, duckdb: DuckDBResource
    ) -> dg.AssetCheckResult:
        with duckdb.get_connection() as conn:
            found = response_shares(conn, context.partition_key)
        limit = getattr(pipeline.load().responses, limit_key)
        share = found[f"{kind}_share"]
        severity = dg.AssetCheckSeverity.ERROR if share > limit else dg.AssetCheckSeverity.WARN
        return dg.AssetCheckResult(passed=found[kind] == 0, severity=severity, metadata={**found, "limit": limit})

    return share_under_limit


response_checks = [
    partition_has_rows_check("responses", "instruction_source", instruction_source_partitions),
    ids_unique_check("responses", "instruction_source", instruction_source_partitions),
    every_instruction_answered,
    _share_check("failed", "max_failed_share"),
    _share_check("truncated", "max_truncated_share"),
]
