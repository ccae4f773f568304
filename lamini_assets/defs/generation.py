"""Generation stage: Wikipedia topics, and the instructions of each LaMini `instruction_source`."""

from collections.abc import Iterator

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from lamini_assets.defs.checks import ids_unique_check, partition_has_rows_check
from lamini_assets.defs.metadata import config_metadata, counts_metadata, table_metadata, teacher_metadata
from lamini_assets.defs.partitions import instruction_source_partitions, register_response_shards
from lamini_assets.defs.resources import TEACHER_POOL, PipelineConfigResource, TeacherResource
from lamini_assets.generation import TopicSelection, select_topics
from lamini_assets.generation.topics import TOPIC_SCHEMA
from lamini_assets.generation.partitions import generated_instructions, original_instructions, seed_pool_index
from lamini_assets.schema import LABEL_SEED_POOL, ORIGINAL_LABELS
from lamini_assets.warehouse import read_table, replace_partition, replace_table, table_version

MAX_PROBLEMS_SHOWN = 20
# Seed columns a pass-through partition copies, and those a generation prompt shows.
SEED_COLUMNS_PASSED = ["instruction_id", "instruction", "input", "template", "origin"]
SEED_COLUMNS_SHOWN = ["instruction_id", "instruction", "input", "template"]


@dg.asset(
    group_name="generation",
    kinds={"duckdb", "python"},
    description=(
        "LaMini's topics for topic-guided generation: Wikipedia categories with fewer than 3 words, more "
        "than 10 subcategories and more than 50 pages, streamed from the `category` table dump (or a TSV)."
    ),
)
def wikipedia_topics(
    context: dg.AssetExecutionContext, pipeline: PipelineConfigResource, duckdb: DuckDBResource
) -> dg.MaterializeResult:
    config = pipeline.load()
    source = config.generation.topics
    if source.path is None:
        context.log.warning("generation.topics.path is not set: no topics, so self_instruct_with_topic cannot generate")
        selection = TopicSelection(topics=pl.DataFrame(schema=TOPIC_SCHEMA), counts={"total": 0, "kept": 0})
    else:
        selection = select_topics(config.resolve(source.path), source.format, source.filter, source.lenient)
    with duckdb.get_connection() as conn:
        replace_table(conn, "wikipedia_topics", selection.topics)
    return dg.MaterializeResult(
        metadata={
            **table_metadata(selection.topics, "wikipedia_topics"),
            **counts_metadata(selection.counts),
            "source": str(config.resolve(source.path)) if source.path else "none configured",
            "problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in selection.problems[:MAX_PROBLEMS_SHOWN]) or "none"),
            **config_metadata(config),
        }
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "instructions",
            deps=["seed_instructions_dedup", "seed_copy_ranks", "wikipedia_topics"],
            description=(
                "Instructions of one LaMini instruction_source. Original sources (alpaca, original_p3, "
                "original_flan) pass their pool's deduplicated seeds through; generated sources ask the teacher "
                "for new instructions from 3 seed examples (and 3 topics for self_instruct_with_topic), then "
                "parse and filter them. Teacher calls are cached: rematerialising calls only for new prompts."
            ),
            group_name="generation",
            kinds={"duckdb", "openai"},
        ),
        dg.AssetSpec(
            "instruction_rejects",
            deps=["seed_instructions_dedup", "seed_copy_ranks", "wikipedia_topics"],
            description="Generated candidates the filters dropped, each with its reason (and near-duplicate neighbour).",
            group_name="generation",
            kinds={"duckdb"},
        ),
    ],
    partitions_def=instruction_source_partitions,
    pool=TEACHER_POOL,
)
def instructions(
    context: dg.AssetExecutionContext,
    pipeline: PipelineConfigResource,
    duckdb: DuckDBResource,
    teacher: TeacherResource,
) -> Iterator[dg.MaterializeResult]:
    label = context.partition_key
    config = pipeline.load()
    def read_seeds() -> pl.DataFrame:
        with duckdb.get_connection() as conn:
            return read_table(
                conn, "seed_instructions_dedup", "seed_source", [LABEL_SEED_POOL[label]],
                columns=SEED_COLUMNS_PASSED if label in ORIGINAL_LABELS else SEED_COLUMNS_SHOWN,
            )

    # Only the columns each step uses: the whole pool (2.48M rows at LaMini's size) is read as one
    # id column; its texts only for rows the saved novelty index lacks.
    if label not in ORIGINAL_LABELS:
        with duckdb.get_connection() as conn:
            # The pool's ids are those seed_copy_ranks keeps (one rank-1 row per id): the dedup view's semi
            # join on four text columns costs 4 s of CPU to return them at 2.48M rows, this scan 0.3 s.
            pool_ids = conn.execute("select instruction_id from main.seed_copy_ranks where copy_rank = 1").pl()
            topics = read_table(conn, "wikipedia_topics", columns=["title"])["title"].to_list() if label == "self_instruct_with_topic" else []

    def read_pool_rows(wanted: pl.Series | None) -> pl.DataFrame:
        with duckdb.get_connection() as conn:
            return read_table(
                conn, "seed_instructions_dedup", None if wanted is None else "instruction_id",
                None if wanted is None else wanted.to_list(), columns=["instruction_id", "instruction", "input"],
            )

    if label in ORIGINAL_LABELS:
        partition = original_instructions(label, read_seeds())
        extra_metadata = {}
    else:
        pool_index, pool_counts = seed_pool_index(
            pool_ids, config.generation.filters.novelty, config.novelty_dir, read_rows=read_pool_rows
        )
        client = teacher.client(context.log.info)
        # Read once the pool index is built: FLAN's seed texts (0.6 GB) are not held beside the pool's.
        partition = generated_instructions(label, read_seeds(), pool_index, topics, config.generation, client)
        extra_metadata = {**counts_metadata(pool_counts, prefix="novelty/"), **teacher_metadata(client, partition.teacher_stats)}

    with duckdb.get_connection() as conn:
        replace_partition(conn, "instructions", partition.rows, {"instruction_source": label})
        replace_partition(conn, "instruction_rejects", partition.rejects, {"instruction_source": label})
        replace_partition(conn, "teacher_failures", partition.failures, {"asset": "instructions", "instruction_source": label})
    # The source's response shards (partitions of `responses`), from its row count.
    shards = register_response_shards(context.instance, partition.rows.height, config.responses.shard_rows)
    # Content-hash data versions: rematerialising a partition with the same rows leaves its
    # responses up to date; changed rows mark only this source's responses stale.
    yield dg.MaterializeResult(
        asset_key="instructions",
        metadata={**table_metadata(partition.rows, "instructions"), **counts_metadata(partition.counts), **extra_metadata,
                  "response_shards": shards, **config_metadata(config)},
        data_version=dg.DataVersion(table_version(partition.rows)),
    )
    yield dg.MaterializeResult(
        asset_key="instruction_rejects",
        metadata={**table_metadata(partition.rejects, "instruction_rejects"), **config_metadata(config)},
        data_version=dg.DataVersion(table_version(partition.rejects)),
    )


instruction_checks = [
    partition_has_rows_check("instructions", "instruction_source", instruction_source_partitions),
    ids_unique_check("instructions", "instruction_source", instruction_source_partitions),
]
