"""Teacher stage: the teacher's response to every instruction, one shard of a source at a time."""

from collections.abc import Iterator

import dagster as dg
import duckdb
import polars as pl
from dagster_duckdb import DuckDBResource

from lamini_assets.defs.checks import expected_empty
from lamini_assets.defs.metadata import config_metadata, counts_metadata, table_metadata, teacher_metadata
from lamini_assets.defs.partitions import (
    RESPONSE_SHARDS,
    register_response_shards,
    response_partitions,
    response_shard_partitions,
)
from lamini_assets.defs.resources import TEACHER_POOL, PipelineConfigResource, TeacherResource
from lamini_assets.generation.partitions import answer_instructions
from lamini_assets.generation.shards import (
    in_shard_sql,
    read_shard,
    replace_shard,
    shard_count,
    shard_index,
    shard_key,
    source_rows,
)
from lamini_assets.validation import response_counts
from lamini_assets.warehouse import table_version


def response_shard(partition_key: str) -> tuple[str, int]:
    """(instruction_source, shard index) of a `responses` partition key ("alpaca|0003")."""
    keys = response_partitions.get_partition_key_from_str(str(partition_key)).keys_by_dimension
    return keys["instruction_source"], shard_index(keys["shard"])


def _failures_of_shard(conn: duckdb.DuckDBPyConnection, source: str, shard: int, count: int) -> pl.DataFrame:
    """The source's failed generation calls, and the failed response calls of this shard."""
    return conn.execute(
        "select * from main.teacher_failures where instruction_source = $source"
        f" and (asset = 'instructions' or (asset = 'responses' and {in_shard_sql(shard, count, 'row_id')}))",
        {"source": source},
    ).pl()


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "responses",
            deps=["instructions"],
            group_name="teacher",
            kinds={"duckdb", "openai"},
            description=(
                "The teacher's answer to every instruction, with LaMini's concise-answer system message; one "
                "partition per instruction_source x shard (about responses.shard_rows rows each; a row's shard is "
                "a hash of its instruction_id). Cached by content: new instructions are the only calls. Failed "
                "calls stay as rows with their error (and in teacher_failures); truncated answers are kept and "
                "flagged. A shard's data version is a hash of its rows."
            ),
        ),
        dg.AssetSpec(
            "teacher_failures",
            deps=["instructions"],
            group_name="teacher",
            kinds={"duckdb"},
            description=(
                "Teacher calls that still failed after their retries: the source's generation calls (written "
                "when `instructions` runs) and this shard's response calls, with error class, message, attempts "
                "and time. Rematerialising a shard retries just its failed calls; the rest come from the cache."
            ),
        ),
    ],
    partitions_def=response_partitions,
    pool=TEACHER_POOL,  # parallel shards (and generation steps) share the teacher's budget
    can_subset=True,  # `responses` alone may be selected; the failures table is written either way
)
def responses(
    context: dg.AssetExecutionContext, pipeline: PipelineConfigResource, duckdb: DuckDBResource, teacher: TeacherResource
) -> Iterator[dg.MaterializeResult]:
    label, shard = response_shard(context.partition_key)
    config = pipeline.load()
    with duckdb.get_connection() as conn:
        source_size = source_rows(conn, label)
        count = shard_count(source_size, config.responses.shard_rows)
        instructions = read_shard(conn, "instructions", label, shard, count, ["instruction_id", "instruction", "input"])
    # Normally the instructions step registered these keys; a smaller responses.shard_rows since needs more.
    register_response_shards(context.instance, source_size, config.responses.shard_rows)
    if shard >= count:
        context.log.info(f"{label} has {count} shard(s) of {source_size} instructions: shard {shard:04d} is empty")
    client = teacher.client(context.log.info)
    partition = answer_instructions(label, instructions, client)
    version = table_version(partition.rows)
    with duckdb.get_connection() as conn:
        # Left untouched when the table already holds exactly these rows (a warm rerun, nothing changed).
        replaced = replace_shard(conn, "responses", partition.rows, label, shard, count, skip_unchanged=True)
        replace_shard(conn, "teacher_failures", partition.failures, label, shard, count, id_column="row_id",
                      where={"asset": "responses"})
        failures = _failures_of_shard(conn, label, shard, count)
    shard_metadata = {"shard": f"{shard:04d}", "source_shards": count, "source_instructions": source_size,
                      "rows_replaced": replaced or 0}
    selected = {key.to_user_string() for key in context.selected_asset_keys}
    if "responses" in selected:
        yield dg.MaterializeResult(
            asset_key="responses",
            metadata={
                **table_metadata(partition.rows, "responses"),
                **shard_metadata,
                "table_rewritten": replaced is not None,
                **counts_metadata(partition.counts),
                **teacher_metadata(client, partition.teacher_stats),
                **config_metadata(config),
            },
            data_version=dg.DataVersion(version),
        )
    if "teacher_failures" in selected:
        by_asset = dict(failures.group_by("asset").len().iter_rows())
        yield dg.MaterializeResult(
            asset_key="teacher_failures",
            metadata={
                **table_metadata(failures, "teacher_failures"),
                **shard_metadata,
                "failed_generation_calls": by_asset.get("instructions", 0),
                "failed_response_calls": by_asset.get("responses", 0),
                **config_metadata(config),
            },
            data_version=dg.DataVersion(table_version(failures.drop("failed_at"))),
        )


def _check_spec(name: str, description: str) -> dg.AssetCheckSpec:
    """A blocking check of one response shard."""
    return dg.AssetCheckSpec(name, asset="responses", partitions_def=response_partitions, blocking=True,
                             description=description)


RESPONSE_CHECK_SPECS = [
    _check_spec(
        "partition_has_rows",
        "The shard has at least one row (only a warning when the config leaves the source empty, or the shard "
        "lies beyond the source's shard count).",
    ),
    _check_spec("instruction_ids_unique", "No instruction_id appears twice in the shard."),
    _check_spec(
        "every_instruction_answered",
        "Every instruction of the shard has a responses row (answered or error) and every response still has its "
        "instruction. Fails when instructions changed after responses were built.",
    ),
    *(
        _check_spec(f"{kind}_share_under_limit",
                    f"Share of {kind} responses: any warns; above responses.{limit_key} of the shard it fails (ERROR).")
        for kind, limit_key in (("failed", "max_failed_share"), ("truncated", "max_truncated_share"))
    ),
]


# One step for all five checks: each check step costs ~0.3 s of Dagster bookkeeping and a DuckDB open,
# paid per shard (about 130 shards at LaMini's size).
@dg.multi_asset_check(specs=RESPONSE_CHECK_SPECS, can_subset=True, name="response_shard_checks")
def response_shard_checks(
    context: dg.AssetCheckExecutionContext, pipeline: PipelineConfigResource, duckdb: DuckDBResource
) -> Iterator[dg.AssetCheckResult]:
    config = pipeline.load()
    selected = {key.name for key in context.selected_asset_check_keys}
    label, shard = response_shard(context.partition_key)
    with duckdb.get_connection() as conn:
        count = shard_count(source_rows(conn, label), config.responses.shard_rows)
        unanswered, shares = response_counts(conn, label, (shard, count))  # one query for all five checks

    if "partition_has_rows" in selected:
        reason = expected_empty(config, "instruction_source", label)
        if reason is None and shard >= count:
            reason = f"{label} has {count} shard(s) (responses.shard_rows: {config.responses.shard_rows})"
        yield dg.AssetCheckResult(
            check_name="partition_has_rows", passed=shares["responses"] > 0,
            severity=dg.AssetCheckSeverity.WARN if reason else dg.AssetCheckSeverity.ERROR,
            metadata={"rows": shares["responses"], "source_shards": count, "expected_empty": reason or "no"},
        )
    if "instruction_ids_unique" in selected:
        yield dg.AssetCheckResult(
            check_name="instruction_ids_unique", passed=shares["repeated_ids"] == 0,
            metadata={name: shares[name] for name in ("responses", "distinct_ids", "repeated_ids")},
        )
    if "every_instruction_answered" in selected:
        yield dg.AssetCheckResult(
            check_name="every_instruction_answered",
            passed=unanswered["unanswered"] == unanswered["orphan_responses"] == 0,
            metadata={**unanswered, "source_shards": count},
        )
    share_metadata = {name: shares[name] for name in ("responses", "failed", "truncated", "failed_share", "truncated_share")}
    for kind, limit in (("failed", config.responses.max_failed_share), ("truncated", config.responses.max_truncated_share)):
        if f"{kind}_share_under_limit" in selected:
            yield dg.AssetCheckResult(
                check_name=f"{kind}_share_under_limit", passed=shares[kind] == 0,
                severity=dg.AssetCheckSeverity.ERROR if shares[f"{kind}_share"] > limit else dg.AssetCheckSeverity.WARN,
                metadata={**share_metadata, "limit": limit},
            )


response_checks = [response_shard_checks]


@dg.sensor(
    name="response_shard_keys",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    description=(
        "Registers response shard 0000 (every source has it) in a fresh instance, so the first backfill of "
        "instructions + responses from the UI includes one shard per source. A source's further shards are "
        "registered by its instructions step."
    ),
)
def response_shard_keys(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    first = shard_key(0)
    if context.instance.has_dynamic_partition(RESPONSE_SHARDS, first):
        return dg.SkipReason(f"response shard {first} is registered")
    return dg.SensorResult(dynamic_partitions_requests=[response_shard_partitions.build_add_request([first])])
