"""The novelty index of the seed pool, saved between runs: a rerun indexes only new pool rows."""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Sequence
from pathlib import Path

from lamini_assets.dedup.novelty import NoveltyConfig, NoveltyIndex, load_novelty_index, make_novelty_index


def pool_index_path(directory: Path, config: NoveltyConfig) -> Path:
    """One saved index per novelty config: a different config gives different answers."""
    digest = hashlib.sha256(config.model_dump_json().encode("utf-8")).hexdigest()[:16]
    return directory / f"pool-{config.method}-{digest}.pkl"


def load_pool_index(
    directory: Path, config: NoveltyConfig, ids: Sequence[str], texts: Sequence[str]
) -> tuple[NoveltyIndex, dict[str, int]]:
    """An index holding exactly the pool rows `ids`.

    The saved index is reused when every row it holds is still in the pool; then only the new rows
    are hashed and added. Otherwise (a row left the pool, or no usable file) it is rebuilt. The
    index is saved before it is returned, so the caller may add candidates without changing the file.
    Counts: pool_reused, pool_added, pool_rebuilt.
    """
    path = pool_index_path(directory, config)
    texts_by_id = dict(zip(ids, texts, strict=True))
    index: NoveltyIndex | None = None
    if path.exists():
        try:
            index = load_novelty_index(path, config)
        except (ValueError, pickle.UnpicklingError, EOFError, AttributeError):
            index = None  # unreadable or stale: rebuilt below
    if index is not None and set(index.ids) <= texts_by_id.keys():
        indexed = set(index.ids)
        new_ids = [row_id for row_id in texts_by_id if row_id not in indexed]
        index.add_pool(new_ids, [texts_by_id[row_id] for row_id in new_ids])
        counts = {"pool_reused": len(indexed), "pool_added": len(new_ids), "pool_rebuilt": 0}
    else:
        index = make_novelty_index(config)
        index.add_pool(list(texts_by_id), list(texts_by_id.values()))
        counts = {"pool_reused": 0, "pool_added": 0, "pool_rebuilt": len(texts_by_id)}
    if counts["pool_added"] or counts["pool_rebuilt"] or not path.exists():
        index.save(path)
    return index, counts
