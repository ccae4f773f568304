"""From dataset rows to training batches that waste little: prompt templates, tokenisation with the
prompt masked out of the labels, optional packing, and dynamic padding.

Length-grouped sampling is the trainer's (`train_sampling_strategy="group_by_length"`), fed by the
`length` column written here; `collate` pads each batch only to its own longest sequence.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import datasets
import polars as pl
from transformers import DataCollatorForSeq2Seq, PreTrainedTokenizerBase

IGNORE_INDEX = -100  # label positions the loss skips (prompt and padding)

# Stanford Alpaca's prompt wrapper, which LaMini-LM used for its decoder-only students.
ALPACA_PROMPT_WITH_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
)
ALPACA_PROMPT = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:\n"
)


def alpaca_prompt(instruction: str, input_text: str = "") -> str:
    """The decoder-only student's prompt: the Alpaca template, with the input section when there is one."""
    if input_text:
        return ALPACA_PROMPT_WITH_INPUT.format(instruction=instruction, input=input_text)
    return ALPACA_PROMPT.format(instruction=instruction)


def source_texts(rows: pl.DataFrame, family: str) -> list[str]:
    """What the student reads: LaMini's `instruction` (enc-dec) or the Alpaca prompt (dec-only)."""
    if family == "encoder-decoder":
        return rows["instruction"].to_list()
    return [alpaca_prompt(row["task_instruction"] or row["instruction"], row["task_input"] or "")
            for row in rows.select("instruction", "task_instruction", "task_input").iter_rows(named=True)]


def encode(
    rows: pl.DataFrame,
    tokenizer: PreTrainedTokenizerBase,
    family: str,
    max_source_length: int,
    max_target_length: int,
) -> datasets.Dataset:
    """Token ids and labels per row, EOS appended to the target, plus `length` for length grouping.

    Special tokens are added here rather than by the tokenizer, because a tokenizer trained with
    `tokenizers` has no post-processor and hub tokenizers differ in what theirs adds.
    """
    eos = tokenizer.eos_token_id
    sources = tokenizer(source_texts(rows, family), add_special_tokens=False)["input_ids"]
    targets = tokenizer(rows["response"].to_list(), add_special_tokens=False)["input_ids"]
    columns: dict[str, list[Any]] = {"input_ids": [], "labels": [], "length": []}
    for source, target in zip(sources, targets):
        target = target[: max_target_length - 1] + [eos]
        if family == "encoder-decoder":
            source = source[: max_source_length - 1] + [eos]
            columns["input_ids"].append(source)
            columns["labels"].append(target)
        else:
            source = source[:max_source_length]
            columns["input_ids"].append(source + target)
            columns["labels"].append([IGNORE_INDEX] * len(source) + target)
        # Tokens the batch is padded for: both sides for enc-dec, the one sequence for dec-only.
        columns["length"].append(len(columns["input_ids"][-1]) + (len(target) if family == "encoder-decoder" else 0))
    return datasets.Dataset.from_dict(columns)


def pack(encoded: datasets.Dataset, block_size: int) -> datasets.Dataset:
    """Concatenate whole decoder-only examples (in order) into sequences of at most block_size tokens.

    Examples are never split, so every response keeps its prompt; attention crosses example
    boundaries inside a block (as in TRL's default packing), which is the price of no padding.
    """
    packed: dict[str, list[Any]] = {"input_ids": [], "labels": [], "length": []}
    ids: list[int] = []
    labels: list[int] = []
    for example_ids, example_labels in zip(encoded["input_ids"], encoded["labels"]):
        if ids and len(ids) + len(example_ids) > block_size:
            packed["input_ids"].append(ids)
            packed["labels"].append(labels)
            packed["length"].append(len(ids))
            ids, labels = [], []
        ids = ids + example_ids
        labels = labels + example_labels
    if ids:
        packed["input_ids"].append(ids)
        packed["labels"].append(labels)
        packed["length"].append(len(ids))
    return datasets.Dataset.from_dict(packed)


class DynamicPaddingCollator:
    """Pads a batch to its own longest sequence (labels with IGNORE_INDEX); T5 gets decoder inputs."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, model: Any = None, pad_to_length: int | None = None) -> None:
        # pad_to_length: pad every batch to this fixed length instead (the benchmark's baseline).
        self.pad_to_length = pad_to_length
        self.inner = DataCollatorForSeq2Seq(
            tokenizer,
            model=model,
            padding="max_length" if pad_to_length else "longest",
            max_length=pad_to_length,
            label_pad_token_id=IGNORE_INDEX,
            return_tensors="pt",
        )

    def __call__(self, features: Sequence[dict[str, Any]]) -> dict[str, Any]:
        return self.inner([{key: value for key, value in feature.items() if key != "length"} for feature in features])


def non_pad_tokens(batch: dict[str, Any]) -> int:
    """Real tokens in a batch: attended inputs plus, for enc-dec, the targets the decoder reads."""
    count = int(batch["attention_mask"].sum())
    if "decoder_input_ids" in batch:
        count += int((batch["labels"] != IGNORE_INDEX).sum())
    return count
