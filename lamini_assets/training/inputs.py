"""Which dataset version the split describes, and its rows (the Dataset contract of issue 9)."""

from __future__ import annotations

import polars as pl

from lamini_assets.artifacts import ArtifactStore
from lamini_assets.dataset import latest_version, read_version


def read_latest_dataset(store: ArtifactStore) -> tuple[str, pl.DataFrame]:
    """(version, rows) of the newest published dataset version."""
    version = latest_version(store)
    if version is None:
        raise ValueError("no lamini_dataset version has been published yet; materialise lamini_dataset first")
    return version, read_version(store, version)
