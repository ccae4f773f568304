"""LaMini's instruction generation (no Dagster): topics, prompts, reply parsing and filters."""

from lamini_assets.generation.config import GENERATED_LABEL_POOLS, GenerationConfig
from lamini_assets.generation.filters import FilterResult, RowFilter, instruction_filters, run_filters
from lamini_assets.generation.parsing import instruction_rows, parse_generated_instructions, split_instruction_input
from lamini_assets.generation.prompts import (
    RESPONSE_TEMPLATE_VERSION,
    TEMPLATE_VERSION,
    GenerationCall,
    build_response_messages,
    plan_generation_calls,
)
from lamini_assets.generation.topics import TopicSelection, select_topics

__all__ = [
    "GENERATED_LABEL_POOLS",
    "RESPONSE_TEMPLATE_VERSION",
    "TEMPLATE_VERSION",
    "FilterResult",
    "GenerationCall",
    "GenerationConfig",
    "RowFilter",
    "TopicSelection",
    "build_response_messages",
    "instruction_filters",
    "instruction_rows",
    "parse_generated_instructions",
    "plan_generation_calls",
    "run_filters",
    "select_topics",
    "split_instruction_input",
]
