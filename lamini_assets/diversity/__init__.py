"""LaMini's diversity analysis (no Dagster here): sentence embeddings cached per model, a 2D
projection by source, MATTR and distinct-n, Table 1, novelty against the seeds, and the report.

Submodules load on first use (lazy_loader), so a light import such as the config or the
audit CLI does not pay for the heavy libraries behind the rest."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "config": ["BUNDLED_MINILM", "DiversityChecks", "DiversityConfig", "VerbNounConfig"],
        "embeddings": ["EmbeddingCache", "EmbeddingRun", "embed_instructions", "model_slug"],
        "inputs": ["dataset_version_rows", "read_inputs"],
        "lexical": ["distinct_n", "lexical_stats", "mattr", "near_duplicate_rate", "words"],
        "report": ["DiversityInputs", "DiversityReport", "build_diversity_report", "floor_violations", "report_html", "report_markdown", "write_report"],
    },
)
