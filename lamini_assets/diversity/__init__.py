"""LaMini's diversity analysis (no Dagster here): sentence embeddings cached per model, a 2D
projection by source, MATTR and distinct-n, Table 1, novelty against the seeds, and the report."""

from lamini_assets.diversity.config import BUNDLED_MINILM, DiversityChecks, DiversityConfig, VerbNounConfig
from lamini_assets.diversity.embeddings import EmbeddingCache, EmbeddingRun, embed_instructions, model_slug
from lamini_assets.diversity.inputs import dataset_version_rows, read_inputs
from lamini_assets.diversity.lexical import distinct_n, lexical_stats, mattr, near_duplicate_rate, words
from lamini_assets.diversity.report import (
    DiversityInputs,
    DiversityReport,
    build_diversity_report,
    floor_violations,
    report_html,
    report_markdown,
    write_report,
)

__all__ = [
    "BUNDLED_MINILM",
    "DiversityChecks",
    "DiversityConfig",
    "DiversityInputs",
    "DiversityReport",
    "EmbeddingCache",
    "EmbeddingRun",
    "VerbNounConfig",
    "build_diversity_report",
    "dataset_version_rows",
    "distinct_n",
    "embed_instructions",
    "floor_violations",
    "lexical_stats",
    "mattr",
    "model_slug",
    "near_duplicate_rate",
    "read_inputs",
    "report_html",
    "report_markdown",
    "words",
    "write_report",
]
