"""Settings of instruction generation and its filters; every default is LaMini-LM's (or Self-Instruct's,
where LaMini reused its filters), except the demo-sized number of teacher calls."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lamini_assets.dedup.novelty import NoveltyConfig
from lamini_assets.generation.topics import TopicFilterConfig

# Generated `instruction_source` labels and the seed pool each one draws its examples from.
GENERATED_LABEL_POOLS: dict[str, str] = {
    "self_instruct_without_topic": "self_instruct",
    "self_instruct_with_topic": "self_instruct",
    "generated_p3": "p3",
    "generated_flan": "flan",
}

# Self-Instruct's keyword blacklist: tasks a text-only model cannot do.
SELF_INSTRUCT_BLACKLIST: tuple[str, ...] = (
    "image", "images", "graph", "graphs", "picture", "pictures", "file", "files", "map", "maps",
    "draw", "plot", "go to", "video", "audio", "music", "flowchart", "diagram",
)


class GenerationSampling(BaseModel):
    """Sampling of the generation calls (each call also gets its own `seed`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(2048, ge=16)  # 20 examples of up to ~80 tokens, with room


class TopicSourceConfig(BaseModel):
    """Where the Wikipedia categories come from (a relative path is resolved by the caller; the
    pipeline config resolves it against the config file's folder)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str | None = None
    format: Literal["sql_dump", "tsv"] = "sql_dump"
    lenient: bool = False  # count unreadable rows as dropped_unparseable instead of failing
    filter: TopicFilterConfig = Field(default_factory=TopicFilterConfig)


class InstructionFilterConfig(BaseModel):
    """Self-Instruct/Alpaca's filters of generated instructions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    drop_truncated: bool = True  # finish_reason == "length"
    min_words: int = Field(3, ge=0)  # instructions with this many words or fewer are dropped
    max_words: int = Field(150, ge=1)  # instructions with more words are dropped
    blacklist: tuple[str, ...] = SELF_INSTRUCT_BLACKLIST  # whole words or phrases, any case
    drop_bad_start: bool = True  # first character is punctuation or not ASCII
    novelty: NoveltyConfig = Field(default_factory=NoveltyConfig)


class ResponsesConfig(BaseModel):
    """The `responses:` section: its shard size, and the limits of its checks (any failed or truncated
    answer warns; above these shares of a shard's rows the check fails, ERROR, blocking the dataset in
    the same run)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_failed_share: float = Field(0.01, ge=0.0, le=1.0)  # calls that still failed after their retries
    max_truncated_share: float = Field(0.05, ge=0.0, le=1.0)  # answers cut off by max_tokens
    # Rows per response shard (a partition of `responses`): a source of R instructions has
    # ceil(R / shard_rows) shards. Sized so a shard's teacher calls outlast a launched run's ~20 s
    # start by far (bench/response_shards.py; README "Response shards").
    shard_rows: int = Field(20_000, ge=1)


class GenerationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Teacher calls planned per generated partition (LaMini made ~100K+; the demo makes a few).
    calls_per_partition: dict[str, int] = Field(default_factory=lambda: dict.fromkeys(GENERATED_LABEL_POOLS, 4))
    examples_per_prompt: int = Field(3, ge=1)  # seed examples shown in each prompt
    # Instructions asked for per call, by seed pool: P3/FLAN prompts are long, so fewer.
    instructions_per_call: dict[str, int] = Field(
        default_factory=lambda: {"self_instruct": 20, "p3": 10, "flan": 10}
    )
    topics_per_prompt: int = Field(3, ge=1)  # Wikipedia topics in a topic-guided prompt
    seed: int = 0  # of every random choice in planning
    sampling: GenerationSampling = Field(default_factory=GenerationSampling)
    topics: TopicSourceConfig = Field(default_factory=TopicSourceConfig)
    filters: InstructionFilterConfig = Field(default_factory=InstructionFilterConfig)

    @field_validator("calls_per_partition")
    @classmethod
    def _known_labels(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(value) - set(GENERATED_LABEL_POOLS))
        if unknown:
            raise ValueError(f"unknown labels {unknown}; generated labels are {sorted(GENERATED_LABEL_POOLS)}")
        negative = sorted(label for label, calls in value.items() if calls < 0)
        if negative:
            raise ValueError(f"calls must be >= 0 for {negative}")
        return value

    @field_validator("instructions_per_call")
    @classmethod
    def _every_pool(cls, value: dict[str, int]) -> dict[str, int]:
        pools = set(GENERATED_LABEL_POOLS.values())
        if set(value) != pools:
            raise ValueError(f"give a count for exactly the pools {sorted(pools)}")
        if any(count < 1 for count in value.values()):
            raise ValueError("counts must be >= 1")
        return value
