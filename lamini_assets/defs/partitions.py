import dagster as dg

from lamini_assets.config import PipelineConfig
from lamini_assets.generation.shards import shard_count, shard_keys
from lamini_assets.schema import INSTRUCTION_SOURCES, SEED_SOURCES

seed_source_partitions = dg.StaticPartitionsDefinition(list(SEED_SOURCES))
instruction_source_partitions = dg.StaticPartitionsDefinition(list(INSTRUCTION_SOURCES))

# Response shards: `responses` is partitioned by instruction_source x shard. The shard keys ("0000",
# "0001", ...) are registered in the instance by a source's `instructions` step (`register_response_shards`);
# a source of R rows uses the first ceil(R / responses.shard_rows) of them. Dagster maps each
# `instructions` partition to every shard of its source (MultiToSingleDimensionPartitionMapping, inferred),
# so a source's new instructions mark only its own shards stale.
RESPONSE_SHARDS = "response_shards"
response_shard_partitions = dg.DynamicPartitionsDefinition(name=RESPONSE_SHARDS)
response_partitions = dg.MultiPartitionsDefinition(
    {"instruction_source": instruction_source_partitions, "shard": response_shard_partitions}
)


def register_response_shards(instance: dg.DagsterInstance, rows: int, shard_rows: int) -> int:
    """Add the shard keys a source of `rows` instructions needs; returns its shard count. Keys are only
    ever added: the dimension is shared by every source (the largest sets its length)."""
    count = shard_count(rows, shard_rows)
    missing = [key for key in shard_keys(count) if not instance.has_dynamic_partition(RESPONSE_SHARDS, key)]
    if missing:
        instance.add_dynamic_partitions(RESPONSE_SHARDS, missing)
    return count


def response_partition_key(source: str, shard: str = "0000") -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"instruction_source": source, "shard": shard})


def student_partitions(config: PipelineConfig) -> dg.StaticPartitionsDefinition:
    """The configured students' names (the `students:` section), in config order."""
    return dg.StaticPartitionsDefinition([student.name for student in config.students])
