"""Teacher stage: the teacher's response to every instruction."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from lamini_assets.defs.checks import instruction_table_checks
from lamini_assets.defs.metadata import config_metadata, counts_metadata, table_metadata, teacher_metadata
from lamini_assets.defs.partitions import instruction_source_partitions
from lamini_assets.defs.resources import TEACHER_POOL, PipelineConfigResource, TeacherResource
from lamini_assets.generation.partitions import answer_instructions
from lamini_assets.warehouse import read_table, replace_partition


@dg.asset(
    deps=["instructions"],
    partitions_def=instruction_source_partitions,
    pool=TEACHER_POOL,
    group_name="teacher",
    kinds={"duckdb", "openai"},
    description=(
        "The teacher's answer to every instruction of the partition, with LaMini's concise-answer system "
        "message. Cached by content: new instructions are the only calls. Failed calls stay as rows with "
        "their error (and in teacher_failures); truncated answers are kept and flagged."
    ),
)
def responses(
    context: dg.AssetExecutionContext, pipeline: PipelineConfigResource, duckdb: DuckDBResource, teacher: TeacherResource
) -> dg.MaterializeResult:
    label = context.partition_key
    with duckdb.get_connection() as conn:
        instructions = read_table(conn, "instructions", "instruction_source", [label])
    client = teacher.client(context.log.info)
    partition = answer_instructions(label, instructions, client)
    with duckdb.get_connection() as conn:
        replace_partition(conn, "responses", partition.rows, {"instruction_source": label})
        replace_partition(conn, "teacher_failures", partition.failures, {"asset": "responses", "instruction_source": label})
    return dg.MaterializeResult(
        metadata={
            **table_metadata(partition.rows, "responses"),
            **counts_metadata(partition.counts),
            **teacher_metadata(client, partition.teacher_stats),
            **config_metadata(pipeline.load()),
        }
    )


response_checks = instruction_table_checks("responses", "instruction_source", instruction_source_partitions, unique_ids=True)
