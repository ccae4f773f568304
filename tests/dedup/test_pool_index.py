from pathlib import Path

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


def test_unreadable_saved_index_is_rebuilt(tmp_path: Path) -> None:
    config = NoveltyConfig()
    load_pool_index(tmp_path, config, ["a"], [TEXTS["a"]])
    (saved,) = tmp_path.glob("pool-*.pkl")
    saved.write_bytes(b"not a pickle")
    _, counts = load_pool_index(tmp_path, config, ["a"], [TEXTS["a"]])
    assert counts == {"pool_reused": 0, "pool_added": 0, "pool_rebuilt": 1}
