"""Seed loaders: one module per format, each returning rows in schema.SEED_SCHEMA.

Duplicates are kept (SQL dedup downstream drops them and records what it drops); rows that cannot
be read are either an error or quarantined with their reason, never silently lost.
"""

from lamini_assets.sources.base import LoadedSource, SourceError
from lamini_assets.sources.registry import LOADERS, load_source
from lamini_assets.sources.spec import SourceSpec

__all__ = ["LOADERS", "LoadedSource", "SourceError", "SourceSpec", "load_source"]
