"""MATTR, distinct-n and the near-duplicate rate on cases small enough to compute by hand."""

import pytest

from lamini_assets.dedup.novelty import NoveltyConfig
from lamini_assets.diversity import distinct_n, lexical_stats, mattr, near_duplicate_rate, words


def test_words_are_lowercased_word_runs() -> None:
    assert words("The Cat, sat!  On  the MAT.") == ["the", "cat", "sat", "on", "the", "mat"]


def test_mattr_is_the_mean_type_token_ratio_of_every_window() -> None:
    tokens = ["a", "b", "a", "c", "b", "a"]
    # Windows of 3: (a b a) 2/3, (b a c) 3/3, (a c b) 3/3, (c b a) 3/3 -> (2/3 + 3) / 4 = 11/12.
    assert mattr(tokens, window=3) == pytest.approx(11 / 12)
    # A window as long as the text is its plain type-token ratio: 3 types over 6 tokens.
    assert mattr(tokens, window=6) == pytest.approx(3 / 6)
    assert mattr(["x"] * 10, window=5) == pytest.approx(1 / 5)
    assert mattr(tokens, window=7) is None  # fewer tokens than one window


def test_distinct_n_counts_ngrams_within_each_text() -> None:
    texts = [["the", "cat", "sat"], ["the", "cat", "ran"]]
    assert distinct_n(texts, 1) == pytest.approx(4 / 6)  # the cat sat ran / 6 tokens
    # (the cat) (cat sat) (the cat) (cat ran): 3 distinct of 4; no bigram spans two texts.
    assert distinct_n(texts, 2) == pytest.approx(3 / 4)
    assert distinct_n([["one"]], 2) is None


def test_lexical_stats_of_a_stream_of_texts() -> None:
    stats = lexical_stats(["The cat sat.", "The cat ran."], window=3)
    # Stream: the cat sat the cat ran -> windows (the cat sat) (cat sat the) (sat the cat) (the cat ran): all 3/3.
    assert stats == {"tokens": 6, "mattr": pytest.approx(1.0), "distinct_1": pytest.approx(4 / 6),
                     "distinct_2": pytest.approx(3 / 4)}


def test_near_duplicate_rate_counts_rows_close_to_an_earlier_row() -> None:
    texts = [
        "Write a short poem about the sea at night.",
        "Write a short poem about the sea at night, please.",  # Jaccard 9/10 with the first
        "Explain how a bicycle gear works to a child.",
        "List three uses of baking soda in cleaning.",
    ]
    assert near_duplicate_rate(["a", "b", "c", "d"], texts, NoveltyConfig()) == pytest.approx(1 / 4)
    assert near_duplicate_rate([], [], NoveltyConfig()) is None
