"""Near-duplicate detection (no Dagster): an incremental novelty index over instruction texts."""

from lamini_assets.dedup.novelty import (
    MinHashNoveltyIndex,
    MinHashSigner,
    NoveltyConfig,
    NoveltyIndex,
    RougeLNoveltyIndex,
    load_novelty_index,
    make_novelty_index,
)
from lamini_assets.dedup.pool_index import load_pool_index

__all__ = [
    "MinHashNoveltyIndex",
    "MinHashSigner",
    "NoveltyConfig",
    "NoveltyIndex",
    "RougeLNoveltyIndex",
    "load_novelty_index",
    "load_pool_index",
    "make_novelty_index",
]
