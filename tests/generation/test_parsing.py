from __future__ import annotations

import pytest

from lamini_assets.generation.parsing import (
    GeneratedInstruction,
    instruction_rows,
    parse_generated_instructions,
    split_instruction_input,
)


def test_example_tags_in_order_with_stray_whitespace() -> None:
    text = (
        "Sure! Here are the examples:\n"
        "<example>  Name three rivers in Africa. </example>\n\n"
        "< Example >How do volcanoes form?</ example >\n"
        "<EXAMPLE>\nClassify the animal as a mammal or a bird:\nPenguin\n</EXAMPLE>"
    )

    assert parse_generated_instructions(text) == [
        GeneratedInstruction("Name three rivers in Africa.", "", True),
        GeneratedInstruction("How do volcanoes form?", "", True),
        GeneratedInstruction("Classify the animal as a mammal or a bird", "Penguin", True),
    ]


def test_missing_final_closing_tag_keeps_the_last_example() -> None:
    text = "<example>Write a haiku about rain.</example>\n<example>Explain why the sky looks blue"

    parsed = parse_generated_instructions(text)

    assert [p.instruction for p in parsed] == ["Write a haiku about rain.", "Explain why the sky looks blue"]
    assert [p.complete for p in parsed] == [True, False]


def test_missing_closing_tag_in_the_middle_ends_at_the_next_example() -> None:
    parsed = parse_generated_instructions("<example>First task here\n<example>Second task here</example>")

    assert [p.instruction for p in parsed] == ["First task here", "Second task here"]


def test_numbered_and_bulleted_lists_without_tags() -> None:
    text = (
        "Here are 4 new examples:\n\n"
        "1. Describe the water cycle in simple terms.\n"
        "2) Summarize the following paragraph: The city council met on Monday\n"
        "   and voted on the budget.\n"
        "- What is the capital of Peru?\n"
        "* Suggest a name for a bakery."
    )

    parsed = parse_generated_instructions(text)

    assert [(p.instruction, p.input) for p in parsed] == [
        ("Describe the water cycle in simple terms.", ""),
        ("Summarize the following paragraph", "The city council met on Monday\nand voted on the budget."),
        ("What is the capital of Peru?", ""),
        ("Suggest a name for a bakery.", ""),
    ]


def test_text_with_neither_tags_nor_list_gives_nothing() -> None:
    assert parse_generated_instructions("I'm sorry, I cannot help with that.") == []
    assert parse_generated_instructions("<example>   </example>") == []


SPLITS = [
    ("Translate the sentence into French: Where is the station?",
     ("Translate the sentence into French", "Where is the station?")),
    ("Instruction: Sort the list.\nInput: 3, 1, 2", ("Sort the list.", "3, 1, 2")),
    ("Instruction: Name a famous painter.", ("Name a famous painter.", "")),
]
NOT_SPLIT = [
    "What time is it in Tokyo when it is 10:30 in London?",  # a time
    "Mix the paint in a 3:1 ratio and describe the colour.",  # a ratio
    "Summarize the article at https://example.org/news: keep it short",  # the first colon is a URL's
    "Note: answer briefly. Why do cats purr?",  # a one-word label, not an instruction
    "Step 1: boil the water. What is step 2?",  # head ends with a number
    "List three uses of bamboo:",  # nothing after the colon
    "Read the text below and answer.\nPassage: Owls hunt at night.",  # head spans lines
]


@pytest.mark.parametrize(("text", "expected"), SPLITS + [(text, (text, "")) for text in NOT_SPLIT])
def test_colon_split_rules(text: str, expected: tuple[str, str]) -> None:
    assert split_instruction_input(text) == expected


def test_rows_of_a_truncated_reply_flag_only_the_last_one() -> None:
    text = "<example>Name a bird that cannot fly.</example><example>Write a story about a dragon who"

    rows = instruction_rows(text, "length")

    assert [row["finish_reason"] for row in rows] == ["stop", "length"]
    assert [row["finish_reason"] for row in instruction_rows(text, "stop")] == ["stop", "stop"]
    assert instruction_rows("no examples", "stop") == []
