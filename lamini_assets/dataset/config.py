"""The `dataset:` section of the pipeline config: which source keeps a cross-source near-duplicate,
how near-duplicates are found, and which sources may be absent from a release."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lamini_assets.dedup import NoveltyConfig
from lamini_assets.schema import INSTRUCTION_SOURCES, require_known_sources

# Human-written rows first (they are what generated rows are judged against), in the seed dedup's
# pool order; then generated sources, plain Self-Instruct before topic-guided, FLAN before P3.
DEFAULT_SOURCE_PRIORITY: tuple[str, ...] = (
    "alpaca",
    "original_flan",
    "original_p3",
    "self_instruct_without_topic",
    "self_instruct_with_topic",
    "generated_flan",
    "generated_p3",
)


class DatasetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Of two near-duplicates in different sources, the row of the source listed first stays.
    source_priority: list[str] = Field(default_factory=lambda: list(DEFAULT_SOURCE_PRIORITY))
    # How cross-source near-duplicates are found (the generation novelty filter's settings); null
    # keeps them all.
    near_duplicates: NoveltyConfig | None = Field(default_factory=NoveltyConfig)
    # Sources this pipeline leaves out on purpose: the blocking presence check allows them missing.
    absent_sources: list[str] = Field(default_factory=list)

    @field_validator("source_priority")
    @classmethod
    def _every_source_once(cls, value: list[str]) -> list[str]:
        if sorted(value) != sorted(INSTRUCTION_SOURCES):
            raise ValueError(f"must list each of {', '.join(INSTRUCTION_SOURCES)} exactly once")
        return value

    @field_validator("absent_sources")
    @classmethod
    def _known_sources(cls, value: list[str]) -> list[str]:
        require_known_sources(value)
        return value
