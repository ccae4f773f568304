import dagster as dg

from lamini_assets.schema import INSTRUCTION_SOURCES, SEED_SOURCES

seed_source_partitions = dg.StaticPartitionsDefinition(list(SEED_SOURCES))
instruction_source_partitions = dg.StaticPartitionsDefinition(list(INSTRUCTION_SOURCES))
