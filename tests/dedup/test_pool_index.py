from pathlib import Path

import polars as pl
import pytest

from lamini_assets.dedup import NoveltyConfig, load_pool_index

TEXTS = {
    "a": "Write a haiku about the first snow of winter.",
    "b": "Explain how a bicycle gear system works to a child.",
    "c": "List five questions to ask before adopting a dog.",
}


def test_saved_pool_index_is_reused_extended_or_rebuilt(tmp_path: Path) -> None:
    config = NoveltyConfig()
    index, counts = load_pool_index(tmp_path, config, ["a", "b"], [TEXTS["a"], TEXTS["b"]])
    assert counts == {"pool_reused": 0, "pool_added": 0, "pool_rebuilt": 2}
    # Candidates added after loading do not reach the saved file.
    assert index.check_and_add("x", "Describe the smell of rain after a long dry summer.") == (True, None)

    index, counts = load_pool_index(tmp_path, config, ["a", "b", "c"], list(TEXTS.values()))
    assert counts == {"pool_reused": 2, "pool_added": 1, "pool_rebuilt": 0}
    assert list(index.ids) == ["a", "b", "c"]
    assert index.check_and_add("y", "List five questions to ask before adopting a dog!") == (False, "c")

    # A row left the pool: the saved index would still flag its near-duplicates, so it is rebuilt.
    index, counts = load_pool_index(tmp_path, config, ["b", "c"], [TEXTS["b"], TEXTS["c"]])
    assert counts == {"pool_reused": 0, "pool_added": 0, "pool_rebuilt": 2}
    assert index.check_and_add("z", TEXTS["a"]) == (True, None)

    # Another config keeps its own file.
    _, counts = load_pool_index(tmp_path, NoveltyConfig(minhash_threshold=0.8), ["b", "c"], [TEXTS["b"], TEXTS["c"]])
    assert counts["pool_rebuilt"] == 2


@pytest.mark.parametrize("damaged", ["meta.json", "signatures.npy", "buckets-0.npy"])
def test_unreadable_saved_index_is_rebuilt(tmp_path: Path, damaged: str) -> None:
    config = NoveltyConfig()
    load_pool_index(tmp_path, config, ["a"], [TEXTS["a"]])
    (saved,) = (path for path in tmp_path.glob("pool-*") if path.is_symlink())
    (saved / damaged).write_bytes((saved / damaged).read_bytes()[:40])  # truncated
    _, counts = load_pool_index(tmp_path, config, ["a"], [TEXTS["a"]])
    assert counts == {"pool_reused": 0, "pool_added": 0, "pool_rebuilt": 1}


def test_unchanged_pool_reads_only_ids(tmp_path: Path) -> None:
    config = NoveltyConfig()
    requested: list[list[str] | None] = []

    def read_rows(wanted: pl.Series | None) -> pl.DataFrame:
        requested.append(None if wanted is None else wanted.to_list())
        chosen = list(TEXTS) if wanted is None else wanted.to_list()
        return pl.DataFrame({"id": chosen, "text": [TEXTS[key] for key in chosen]})

    _, counts = load_pool_index(tmp_path, config, ["a", "b"], read_rows)
    assert counts["pool_rebuilt"] == 2 and requested == [None]
    saved = {path.name for path in tmp_path.iterdir()}

    index, counts = load_pool_index(tmp_path, config, ["b", "a"], read_rows)
    assert counts == {"pool_reused": 2, "pool_added": 0, "pool_rebuilt": 0}
    assert requested == [None]  # no text read, nothing rewritten
    assert {path.name for path in tmp_path.iterdir()} == saved
    assert index.check_and_add("y", TEXTS["b"].upper()) == (False, "b")

    _, counts = load_pool_index(tmp_path, config, ["a", "b", "c"], read_rows)
    assert counts == {"pool_reused": 2, "pool_added": 1, "pool_rebuilt": 0}
    assert requested == [None, ["c"]]
    # One version on disk: the symlink and the folder it points to.
    assert len([path for path in tmp_path.iterdir() if path.is_dir() and not path.is_symlink()]) == 1


def test_reordered_pool_is_recognised_without_set_lookups(tmp_path: Path, monkeypatch) -> None:
    """The dedup view returns the pool in a different order on every read (a parallel join): at 2.48M
    ids, set lookups cost 3 s a partition, so an unchanged pool in another order is matched by hashes."""
    config = NoveltyConfig()
    ids = [f"id{n:05d}" for n in range(2_000)]
    texts = {row_id: f"Describe item number {n} of the catalogue in {n % 7 + 2} words." for n, row_id in enumerate(ids)}
    load_pool_index(tmp_path, config, ids, [texts[row_id] for row_id in ids])

    def no_set_lookup(*args, **kwargs):
        raise AssertionError("is_in was called")

    monkeypatch.setattr(pl.Series, "is_in", no_set_lookup)
    monkeypatch.setattr(pl.Series, "is_first_distinct", no_set_lookup)
    shuffled = pl.Series(ids).shuffle(seed=3)
    _, counts = load_pool_index(tmp_path, config, shuffled, lambda wanted: pytest.fail("texts were read"))
    assert counts == {"pool_reused": 2_000, "pool_added": 0, "pool_rebuilt": 0}
    monkeypatch.undo()

    # Same size, one id swapped for another: not the same set, so the new row is indexed.
    changed = [*ids[:-1], "new-row"]
    rows = {**texts, "new-row": "Name three rivers that cross more than two countries."}
    _, counts = load_pool_index(tmp_path, config, changed, [rows[row_id] for row_id in changed])
    assert counts == {"pool_reused": 0, "pool_added": 0, "pool_rebuilt": 2_000}

    # Repeated ids are indexed once.
    _, counts = load_pool_index(tmp_path, config, [*changed, changed[0]], [rows[row_id] for row_id in [*changed, changed[0]]])
    assert counts == {"pool_reused": 2_000, "pool_added": 0, "pool_rebuilt": 0}
