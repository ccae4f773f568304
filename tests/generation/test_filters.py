from __future__ import annotations

import pytest

from lamini_assets.dedup import NoveltyConfig, make_novelty_index
from lamini_assets.generation.config import GenerationConfig, InstructionFilterConfig
from lamini_assets.generation.filters import (
    BadStartFilter,
    BlacklistFilter,
    NoveltyFilter,
    TruncatedFilter,
    WordLengthFilter,
    instruction_filters,
    run_filters,
)
from lamini_assets.schema import make_instruction_id


def rows(*instructions: str, **extra: str) -> list[dict[str, str]]:
    return [{"instruction": text, "input": "", **extra} for text in instructions]


def test_truncated_filter_drops_length_cut_rows() -> None:
    step = TruncatedFilter()
    batch = [{"instruction": "Name a bird.", "finish_reason": "length"},
             {"instruction": "Name a fish.", "finish_reason": "stop"},
             {"instruction": "Name a tree."}]

    kept = step.run(batch)

    assert [row["instruction"] for row in kept] == ["Name a fish.", "Name a tree."]
    assert step.counts == {"total": 3, "kept": 2, "dropped_truncated": 1}
    assert step.dropped == [{**batch[0], "drop_reason": "truncated", "neighbour_id": None}]


def test_word_length_bounds_are_self_instructs() -> None:
    step = WordLengthFilter()
    batch = rows("Name a bird.", "Name a flightless bird.", " ".join(["word"] * 150), " ".join(["word"] * 151))

    kept = step.run(batch)

    assert [len(row["instruction"].split()) for row in kept] == [4, 150]
    assert step.counts == {"total": 4, "kept": 2, "dropped_too_short": 1, "dropped_too_long": 1}
    assert WordLengthFilter(min_words=1, max_words=3).run(rows("Name a bird.")) == rows("Name a bird.")


def test_blacklist_matches_whole_words_and_phrases_in_any_case() -> None:
    step = BlacklistFilter(["image", "graph", "go to"])
    batch = rows(
        "Describe this IMAGE in detail please.",
        "Summarize the second paragraph of the essay.",  # 'graph' inside a word
        "Tell me how to go  to the station.",
        "Why did Gordon go today to Tokyo?",
        "Explain how images are compressed.",  # plural is another word; Self-Instruct lists plurals
    )

    kept = step.run(batch)

    assert kept == [batch[1], batch[3], batch[4]]
    assert step.counts["dropped_blacklist"] == 2
    assert len(BlacklistFilter(InstructionFilterConfig().blacklist).run(batch)) == 2


def test_bad_start_drops_punctuation_non_ascii_and_empty() -> None:
    step = BadStartFilter()
    batch = rows("- Name a bird.", "¿Qué hora es ahora?", "   ", "\"Quote\" this sentence back.", "Name a bird.")

    kept = step.run(batch)

    assert [row["instruction"] for row in kept] == ["Name a bird."]
    assert step.counts == {"total": 5, "kept": 1, "dropped_bad_start": 4}


def test_novelty_filter_drops_near_duplicates_of_pool_and_of_earlier_rows(
    self_instruct_rows: list[dict[str, str]],
) -> None:
    seed = self_instruct_rows[1]
    index = make_novelty_index(NoveltyConfig())
    index.add_pool([r["instruction_id"] for r in self_instruct_rows], [r["instruction"] for r in self_instruct_rows])
    near_seed = seed["instruction"].replace("relation ", "relationship ")
    new = "Explain how glaciers carve valleys over thousands of years in mountain regions."
    batch = rows(near_seed, new, new.replace("mountain", "alpine"), "Write a limerick about a forgetful cat named Mo.")

    step = NoveltyFilter(index)
    kept = step.run(batch)

    assert near_seed != seed["instruction"]
    assert [row["instruction"] for row in kept] == [new, batch[3]["instruction"]]
    assert [row["neighbour_id"] for row in step.dropped] == [seed["instruction_id"], make_instruction_id(new)]
    assert step.counts == {"total": 4, "kept": 2, "dropped_near_duplicate": 2}


def test_pipeline_accounts_for_every_row(self_instruct_rows: list[dict[str, str]]) -> None:
    config = GenerationConfig().filters
    batch = [
        {"instruction": "Explain how tides are caused by the moon.", "input": "", "finish_reason": "stop"},
        {"instruction": "Explain how tides are caused by the moon.", "input": "", "finish_reason": "stop"},
        {"instruction": "Draw a map of your town.", "input": "", "finish_reason": "stop"},
        {"instruction": "Hi there", "input": "", "finish_reason": "stop"},
        {"instruction": "#Write a short poem about spring.", "input": "", "finish_reason": "stop"},
        {"instruction": "Write a letter to a friend about your", "input": "", "finish_reason": "length"},
        {**self_instruct_rows[0], "finish_reason": "stop"},
        # Same task, other input: word Jaccard 0.29, clear of the 0.5 threshold (a shorter input at 0.45
        # sat within MinHash's error of it, so the verdict depended on the shingle hash).
        {"instruction": "Classify the sentiment of the review", "input": "I loved every minute of it and will come back.", "finish_reason": "stop"},
        {"instruction": "Classify the sentiment of the review", "input": "Cold, rude staff.", "finish_reason": "stop"},
    ]

    result = run_filters(batch, instruction_filters(config, self_instruct_rows))

    assert result.counts == {"total": 9, "kept": 3, "dropped_truncated": 1, "dropped_too_short": 1,
                             "dropped_blacklist": 1, "dropped_bad_start": 1, "dropped_near_duplicate": 2}
    assert len(result.kept) + len(result.dropped) == len(batch)
    assert result.kept == [batch[0], batch[7], batch[8]]
    near = [row for row in result.dropped if row["drop_reason"] == "near_duplicate"]
    assert [row["neighbour_id"] for row in near] == [
        make_instruction_id(batch[0]["instruction"]), self_instruct_rows[0]["instruction_id"]
    ]


def test_filters_follow_config() -> None:
    config = InstructionFilterConfig(drop_truncated=False, drop_bad_start=False, blacklist=(), min_words=0)
    batch = [{"instruction": "#Draw it", "input": "", "finish_reason": "length"}]

    result = run_filters(batch, instruction_filters(config))

    assert result.counts == {"total": 1, "kept": 1}


def test_config_forbids_unknown_filter_settings() -> None:
    with pytest.raises(ValueError, match="extra"):
        InstructionFilterConfig.model_validate({"min_word": 3})
