"""The released dataset as a stage of its own (no Dagster): build, versions, card and exports."""

from lamini_assets.dataset.build import (
    DATASET_SCHEMA,
    NEAR_DUPLICATE_SCHEMA,
    LaminiDataset,
    build_dataset_table,
    build_lamini_dataset,
    content_version,
    drop_cross_source_near_duplicates,
)
from lamini_assets.dataset.card import CardFacts, render_card
from lamini_assets.dataset.config import DatasetConfig
from lamini_assets.dataset.versions import (
    LATEST_KEY,
    VersionRecord,
    latest_version,
    point_latest,
    publish_version,
    read_version,
    record_version,
    version_key,
)

__all__ = [
    "DATASET_SCHEMA",
    "LATEST_KEY",
    "NEAR_DUPLICATE_SCHEMA",
    "CardFacts",
    "DatasetConfig",
    "LaminiDataset",
    "VersionRecord",
    "build_dataset_table",
    "build_lamini_dataset",
    "content_version",
    "drop_cross_source_near_duplicates",
    "latest_version",
    "point_latest",
    "publish_version",
    "read_version",
    "record_version",
    "render_card",
    "version_key",
]
