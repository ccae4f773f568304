"""The split at realistic size on real data: stratified, seeded, stable, evaluation-only rows kept out."""

import json
from pathlib import Path

import polars as pl
import pytest

from lamini_assets.training.config import EvaluationOnlySet, SplitConfig
from lamini_assets.training.split import leaked_rows, load_evaluation_only, split_dataset
from tests.support.lamini_dataset_fixture import SHARED_DATA, dataset_frame, p3_rows

USER_ORIENTED = SHARED_DATA / "self_instruct_user_oriented_instructions.jsonl"


@pytest.fixture(scope="module")
def real_rows() -> pl.DataFrame:
    """5,000 real P3 rows plus 20 of Self-Instruct's user-oriented instructions (with their inputs)."""
    user_oriented = [json.loads(line) for line in USER_ORIENTED.read_text().splitlines()[:20]]
    planted = [(f"{item['instruction']}\n\n{item['instances'][0]['input']}".strip(), item["instances"][0]["output"])
               for item in user_oriented]
    return dataset_frame([*p3_rows(5000, max_prompt_words=400), *planted])


def user_oriented_index():
    return load_evaluation_only([EvaluationOnlySet(path=str(USER_ORIENTED))])


def test_split_is_stratified_and_keeps_user_oriented_instructions_out(real_rows: pl.DataFrame) -> None:
    index = user_oriented_index()
    assert index.sizes[str(USER_ORIENTED)] == 252
    split = split_dataset(real_rows, "v1", SplitConfig(validation_fraction=0.05, test_fraction=0.1), index)
    assert split.counts["excluded_evaluation_only"] == 20
    assert split.rows.height == real_rows.height - 20
    assert split.rows["row_id"].n_unique() == split.rows.height
    for source, group in split.rows.group_by("instruction_source"):
        shares = group["split"].value_counts(normalize=True)
        share = dict(zip(shares["split"], shares["proportion"]))
        assert abs(share["test"] - 0.1) < 0.01 and abs(share["validation"] - 0.05) < 0.01, (source, share)
    assert leaked_rows(split.rows, index).is_empty()


def test_split_is_seeded_and_stable_when_rows_are_added(real_rows: pl.DataFrame) -> None:
    config, index = SplitConfig(seed=3), load_evaluation_only([])
    first = split_dataset(real_rows.head(4000), "v1", config, index).table
    again = split_dataset(real_rows.head(4000), "v1", config, index).table
    assert first.equals(again)
    other_seed = split_dataset(real_rows.head(4000), "v1", SplitConfig(seed=4), index).table
    assert not first["split"].equals(other_seed.join(first.select("row_id"), on="row_id")["split"])
    grown = split_dataset(real_rows, "v2", config, index).table
    moved = first.join(grown, on="row_id", suffix="_grown").filter(pl.col("split") != pl.col("split_grown"))
    assert moved.height < 0.05 * first.height  # only rows near the held-out boundary change side


def test_leaked_rows_finds_a_user_oriented_row_in_train(real_rows: pl.DataFrame) -> None:
    index = user_oriented_index()
    split = split_dataset(real_rows, "v1", SplitConfig(), index)
    # A bug or a hand edit puts an evaluation-only row into the training split.
    leak = split.excluded.head(1).with_columns(pl.lit("v1").alias("dataset_version"), pl.lit("train").alias("split"))
    leaked = leaked_rows(pl.concat([split.rows, leak.select(split.rows.columns)]), index)
    assert leaked["row_id"].to_list() == leak["row_id"].to_list()


def test_an_instruction_matches_by_normalised_text_alone(tmp_path: Path) -> None:
    eval_set = tmp_path / "eval.jsonl"
    eval_set.write_text(json.dumps({"question": "What is the capital of France?"}) + "\n")
    index = load_evaluation_only([EvaluationOnlySet(path=str(eval_set), format="text_field", field="question")])
    rows = pl.DataFrame({"instruction": ["  what is the CAPITAL of france?", "What is the capital of Spain?"],
                         "task_instruction": ["x", "y"], "instruction_id": ["1", "2"]})
    assert index.matches(rows).to_list() == [True, False]


def test_a_bad_evaluation_only_line_is_named(tmp_path: Path) -> None:
    eval_set = tmp_path / "eval.jsonl"
    eval_set.write_text('{"instruction": "ok"}\n{not json\n')
    with pytest.raises(ValueError, match=r"eval\.jsonl:2: field 'instruction/instances'"):
        load_evaluation_only([EvaluationOnlySet(path=str(eval_set))])
