"""The released dataset as a stage of its own (no Dagster): build, versions, card and exports.

Submodules load on first use (lazy_loader), so a light import such as the config or the
audit CLI does not pay for the heavy libraries behind the rest."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "build": ["DATASET_SCHEMA", "NEAR_DUPLICATE_SCHEMA", "LaminiDataset", "build_dataset_table", "build_lamini_dataset", "content_version", "drop_cross_source_near_duplicates", "near_duplicate_pairs"],
        "card": ["CardFacts", "render_card"],
        "config": ["DatasetConfig"],
        "versions": ["LATEST_KEY", "VersionRecord", "latest_version", "point_latest", "publish_version", "read_version", "record_version", "version_key"],
    },
)
