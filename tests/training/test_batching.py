"""Batches that waste nothing: prompt masked out of labels, EOS on targets, per-batch padding, packing."""

import polars as pl
import pytest

from lamini_assets.training.data import IGNORE_INDEX, DynamicPaddingCollator, alpaca_prompt, encode, non_pad_tokens, pack
from lamini_assets.training.models import train_tokenizer
from tests.support.lamini_dataset_fixture import dataset_frame, p3_rows


@pytest.fixture(scope="module")
def rows() -> pl.DataFrame:
    return dataset_frame(p3_rows(64))


@pytest.fixture(scope="module")
def tokenizer(rows: pl.DataFrame):
    return train_tokenizer([*rows["instruction"], *rows["response"]], vocab_size=500)


def test_decoder_only_labels_mask_the_alpaca_prompt(rows, tokenizer) -> None:
    encoded = encode(rows, tokenizer, "decoder-only", 512, 64)
    row = rows.row(0, named=True)
    prompt_ids = tokenizer(alpaca_prompt(row["task_instruction"]), add_special_tokens=False)["input_ids"]
    response_ids = tokenizer(row["response"], add_special_tokens=False)["input_ids"][:63] + [tokenizer.eos_token_id]
    assert encoded[0]["input_ids"] == prompt_ids + response_ids
    assert encoded[0]["labels"] == [IGNORE_INDEX] * len(prompt_ids) + response_ids
    assert "### Input:" in alpaca_prompt("Summarise.", "A text.") and "### Input:" not in alpaca_prompt("Summarise.")


def test_encoder_decoder_truncates_both_sides_and_ends_with_eos(rows, tokenizer) -> None:
    encoded = encode(rows, tokenizer, "encoder-decoder", 16, 4)
    for example in encoded:
        assert len(example["input_ids"]) <= 16 and example["input_ids"][-1] == tokenizer.eos_token_id
        assert len(example["labels"]) <= 4 and example["labels"][-1] == tokenizer.eos_token_id
        assert example["length"] == len(example["input_ids"]) + len(example["labels"])


def test_batches_pad_only_to_their_longest_sequence(rows, tokenizer) -> None:
    encoded = encode(rows, tokenizer, "decoder-only", 512, 64)
    features = [encoded[i] for i in range(4)]
    batch = DynamicPaddingCollator(tokenizer)(features)
    longest = max(len(feature["input_ids"]) for feature in features)
    assert batch["input_ids"].shape == (4, longest)
    assert non_pad_tokens(batch) == sum(len(feature["input_ids"]) for feature in features)
    assert (batch["labels"][batch["attention_mask"] == 0] == IGNORE_INDEX).all()
    fixed = DynamicPaddingCollator(tokenizer, pad_to_length=600)(features)
    assert fixed["input_ids"].shape == (4, 600) and non_pad_tokens(fixed) == non_pad_tokens(batch)


def test_packing_keeps_whole_examples_within_the_block(rows, tokenizer) -> None:
    encoded = encode(rows, tokenizer, "decoder-only", 448, 64)
    packed = pack(encoded, 512)
    assert len(packed) <= len(encoded) / 2
    assert all(len(ids) <= 512 for ids in packed["input_ids"])
    assert sum(map(len, packed["input_ids"])) == sum(map(len, encoded["input_ids"]))
    trained = lambda labels: sum(label != IGNORE_INDEX for row in labels for label in row)  # noqa: E731
    assert trained(packed["labels"]) == trained(encoded["labels"])
