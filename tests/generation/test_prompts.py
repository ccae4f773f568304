from __future__ import annotations

import random
import re
from collections import Counter

import numpy as np
import pytest

from lamini_assets.generation.config import GenerationConfig
from lamini_assets.generation.prompts import (
    TEMPLATE_VERSION,
    GenerationCall,
    _hash64,
    _HashRanking,
    build_generation_prompt,
    build_response_messages,
    plan_generation_calls,
    render_example,
)

EXAMPLE = re.compile(r"<example>(.*?)</example>", re.DOTALL)
TOPICS = ["Design bureaus", "Conidae", "Infantry", "Jazz", "Volcanoes", "Origami", "Falconry"]

PAPER_PROMPT = """<example>What are some things you can do to de-stress?</example>
<example>How can individuals and organizations reduce unconscious bias?</example>
<example>Write a program to compute the sum of integers from k to n.</example>
Generate 20 diverse examples that are similar to the provided examples with the topics "Design bureaus, Conidae, Infantry".
You do not need to provide a response to the generated examples.
Each example must include an instruction.
Each generated instruction can be either an imperative sentence or a question.
Each example must start with the label "<example>" and end with the label "</example>"."""


def prompt_of(call: GenerationCall) -> str:
    assert len(call.messages) == 1 and call.messages[0]["role"] == "user"
    return call.messages[0]["content"]


def examples_shown(call: GenerationCall) -> list[str]:
    """The <example> blocks before the request (the request itself names the tags too)."""
    return EXAMPLE.findall(prompt_of(call).split("\nGenerate ")[0])


def test_prompt_text_is_laminis() -> None:
    examples = [
        "What are some things you can do to de-stress?",
        "How can individuals and organizations reduce unconscious bias?",
        "Write a program to compute the sum of integers from k to n.",
    ]
    assert build_generation_prompt(examples, 20, ["Design bureaus", "Conidae", "Infantry"]) == PAPER_PROMPT
    without_topics = build_generation_prompt(examples, 20)
    assert "with the topics" not in without_topics
    assert "similar to the provided examples.\n" in without_topics


def test_seed_with_input_is_written_instruction_colon_input() -> None:
    assert render_example("Sort the numbers", "3, 1, 2") == "Sort the numbers:3, 1, 2"
    assert render_example("Translate this sentence:", "Bonjour") == "Translate this sentence:Bonjour"
    assert render_example("Name a color.", "") == "Name a color."


def test_self_instruct_calls_show_three_seeds_and_ask_for_20(self_instruct_rows: list[dict[str, str]]) -> None:
    by_id = {row["instruction_id"]: row for row in self_instruct_rows}
    calls = plan_generation_calls("self_instruct_without_topic", self_instruct_rows, 6, GenerationConfig())

    assert len(calls) == 6 and len({call.call_id for call in calls}) == 6
    for call in calls:
        shown = examples_shown(call)
        assert len(shown) == 3 and len(set(call.example_ids)) == 3
        assert shown == [render_example(by_id[i]["instruction"], by_id[i]["input"]) for i in call.example_ids]
        assert "Generate 20 diverse examples" in prompt_of(call)
        assert "with the topics" not in prompt_of(call) and call.topics == ()
        assert call.template_version == TEMPLATE_VERSION
        assert isinstance(call.params["seed"], int) and call.params["temperature"] == 1.0
    assert len({call.params["seed"] for call in calls}) == 6


def test_p3_calls_ask_for_10_from_one_template_family(p3_rows: list[dict[str, str]]) -> None:
    template_of = {row["instruction_id"]: row["template"] for row in p3_rows}
    calls = plan_generation_calls("generated_p3", p3_rows, 30, GenerationConfig())

    families = [{template_of[i] for i in call.example_ids} for call in calls]
    assert all(len(family) == 1 for family in families)
    assert len({next(iter(family)) for family in families}) > 3  # families vary across calls
    assert all("Generate 10 diverse examples" in prompt_of(call) for call in calls)
    distinct_per_family = Counter(template_of.values())  # some templates repeat one prompt
    for call, family in zip(calls, families):
        expected = min(3, distinct_per_family[next(iter(family))])
        assert len(examples_shown(call)) == len(call.example_ids) == expected
    assert any(len(call.example_ids) == 3 for call in calls)


def test_small_family_shows_what_it_has(p3_rows: list[dict[str, str]]) -> None:
    rows = [dict(row, template="tiny") for row in p3_rows[:2]]

    calls = plan_generation_calls("generated_flan", rows, 2, GenerationConfig())

    assert all(len(call.example_ids) == 2 for call in calls)


def test_topic_calls_name_three_distinct_given_topics(self_instruct_rows: list[dict[str, str]]) -> None:
    calls = plan_generation_calls("self_instruct_with_topic", self_instruct_rows, 8, GenerationConfig(), TOPICS)

    for call in calls:
        assert len(set(call.topics)) == 3 and set(call.topics) <= set(TOPICS)
        assert f'with the topics "{", ".join(call.topics)}".' in prompt_of(call)
    assert len({call.topics for call in calls}) > 1
    with pytest.raises(ValueError, match="needs topics"):
        plan_generation_calls("self_instruct_with_topic", self_instruct_rows, 1, GenerationConfig(), [])


def test_plan_is_deterministic_and_ignores_row_order(self_instruct_rows: list[dict[str, str]]) -> None:
    config = GenerationConfig()
    shuffled = list(self_instruct_rows)
    random.Random(7).shuffle(shuffled)

    first = plan_generation_calls("self_instruct_with_topic", self_instruct_rows, 5, config, TOPICS)
    again = plan_generation_calls("self_instruct_with_topic", shuffled, 5, config, list(reversed(TOPICS)))
    other_seed = plan_generation_calls(
        "self_instruct_with_topic", self_instruct_rows, 5, GenerationConfig(seed=1), TOPICS
    )

    assert first == again
    assert [c.example_ids for c in first] != [c.example_ids for c in other_seed]


def test_one_more_call_keeps_the_first_ones(p3_rows: list[dict[str, str]]) -> None:
    config = GenerationConfig()
    assert plan_generation_calls("generated_p3", p3_rows, 9, config)[:8] == plan_generation_calls(
        "generated_p3", p3_rows, 8, config
    )


def test_new_seed_rows_change_only_calls_that_show_them(self_instruct_rows: list[dict[str, str]]) -> None:
    config = GenerationConfig()
    old_rows, new_rows = self_instruct_rows[:150], self_instruct_rows[150:]
    new_ids = {row["instruction_id"] for row in new_rows}

    before = plan_generation_calls("self_instruct_without_topic", old_rows, 60, config)
    after = plan_generation_calls("self_instruct_without_topic", self_instruct_rows, 60, config)

    changed = [(b, a) for b, a in zip(before, after) if b != a]
    assert len(changed) < 60 // 2  # about 3 x 25/175 of the calls
    for old_call, new_call in changed:
        assert set(new_call.example_ids) & new_ids
        # The seeds the new rows did not displace are still shown, in the same order.
        kept = [i for i in new_call.example_ids if i not in new_ids]
        assert kept == [i for i in old_call.example_ids if i in kept]


def test_call_id_changes_with_template_version_inputs(self_instruct_rows: list[dict[str, str]]) -> None:
    with_topics = plan_generation_calls("self_instruct_with_topic", self_instruct_rows, 3, GenerationConfig(), TOPICS)
    without = plan_generation_calls("self_instruct_without_topic", self_instruct_rows, 3, GenerationConfig())

    assert not {c.call_id for c in with_topics} & {c.call_id for c in without}
    assert all(re.fullmatch(r"[0-9a-f]{16}", call.call_id) for call in with_topics)


def test_bad_plans_are_refused(self_instruct_rows: list[dict[str, str]]) -> None:
    config = GenerationConfig()
    with pytest.raises(ValueError, match="unknown generated label"):
        plan_generation_calls("alpaca", self_instruct_rows, 1, GenerationConfig())
    with pytest.raises(ValueError, match="seed pool is empty"):
        plan_generation_calls("generated_flan", [], 1, GenerationConfig())
    with pytest.raises(ValueError, match="seed row 1 .* instruction is empty"):
        plan_generation_calls("generated_flan", [{"instruction": "Name a bird."}, {"instruction": " "}], 1, config)
    assert plan_generation_calls("generated_flan", [], 0, GenerationConfig()) == []


def test_examples_and_counts_follow_config(self_instruct_rows: list[dict[str, str]]) -> None:
    config = GenerationConfig(examples_per_prompt=2, topics_per_prompt=1,
                              instructions_per_call={"self_instruct": 5, "p3": 4, "flan": 4})

    call = plan_generation_calls("self_instruct_with_topic", self_instruct_rows, 1, config, TOPICS)[0]

    assert len(call.example_ids) == 2 and len(call.topics) == 1
    assert "Generate 5 diverse examples" in prompt_of(call)


def test_response_messages() -> None:
    assert build_response_messages("Name a bird.", "", "Be concise.") == (
        {"role": "system", "content": "Be concise."},
        {"role": "user", "content": "Name a bird."},
    )
    messages = build_response_messages("Sort the numbers.", "3, 1, 2", "Be concise.")
    assert messages[1]["content"] == "Sort the numbers.\n\n3, 1, 2"


def test_config_rejects_unknown_keys_and_labels() -> None:
    with pytest.raises(ValueError, match="extra"):
        GenerationConfig.model_validate({"calls": 3})
    with pytest.raises(ValueError, match="unknown labels"):
        GenerationConfig(calls_per_partition={"alpaca": 3})
    assert Counter(GenerationConfig().instructions_per_call.values()) == Counter({20: 1, 10: 2})


@pytest.mark.parametrize("pool_size", [0, 5, 466_033])
def test_seed_ranking_picks_the_lowest_hash_scores(pool_size: int) -> None:
    # The fused kernel keeps only scores below a bound; the picks must be those of a full sort of
    # every candidate's SplitMix64 score (LaMini's Self-Instruct pool is 466k rows).
    keys = [f"seed-{i:07d}" + ("-é✓" if i % 3 == 0 else "") for i in range(pool_size)]  # UTF-8 bytes are hashed
    ranking = _HashRanking(keys)
    hashes = np.array([_hash64(key) for key in keys], dtype=np.uint64)
    for call_key in (1, 2**63 + 12345, 987654321987654321):
        values = hashes ^ np.uint64(call_key)
        values += np.uint64(0x9E3779B97F4A7C15)
        values = (values ^ (values >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        values = (values ^ (values >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        values ^= values >> np.uint64(31)
        for count in (1, 3, 20):
            assert ranking.lowest(call_key, count) == np.argsort(values, kind="stable")[:count].tolist()
