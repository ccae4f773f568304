"""Near-duplicate detection (no Dagster): an incremental novelty index over instruction texts.

Submodules load on first use (lazy_loader), so a light import such as the config or the
audit CLI does not pay for the heavy libraries behind the rest."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "novelty": ["MinHashNoveltyIndex", "MinHashSigner", "NoveltyConfig", "NoveltyIndex", "RougeLNoveltyIndex", "load_novelty_index", "make_novelty_index"],
        "pool_index": ["load_pool_index", "pool_index_path", "saved_pool_index"],
    },
)
