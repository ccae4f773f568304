import dagster as dg

from lamini_assets.config import PipelineConfig

from lamini_assets.schema import INSTRUCTION_SOURCES, SEED_SOURCES

seed_source_partitions = dg.StaticPartitionsDefinition(list(SEED_SOURCES))
instruction_source_partitions = dg.StaticPartitionsDefinition(list(INSTRUCTION_SOURCES))


def student_partitions(config: PipelineConfig) -> dg.StaticPartitionsDefinition:
    """The configured students' names (the `students:` section), in config order."""
    return dg.StaticPartitionsDefinition([student.name for student in config.students])
