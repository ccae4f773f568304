"""The offline stand-in: deterministic, parseable, plausible, and run through the real client path."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from lamini_assets.teacher import OFFLINE_DESCRIPTION, ChatRequest, Teacher, TeacherConfig
from lamini_assets.generation.config import SELF_INSTRUCT_BLACKLIST

SEEDS = [
    "What are some things you can do to de-stress?",
    "How can individuals and organizations reduce unconscious bias?",
    "Write a program to compute the sum of integers from k to n.",
    "Suggest a recipe for a vegetarian lasagna.",
    "Explain the causes of the French Revolution to a child.",
    "Find the grammatical errors in the sentence: She go to school every days.",
    "Give three tips for a successful job interview.",
    "Classify the sentiment of this review: The service was slow but the food was great.",
]
TOPIC_SETS = [
    "Design bureaus, Conidae, Infantry",
    "Baroque composers, Glaciers, Tax law",
    "Rivers of Peru, Typography, Beekeeping",
]


def generation_prompt(examples: list[str], count: int, topics: str | None) -> str:
    shown = "\n".join(f"<example>{e}</example>" for e in examples)
    tail = f' with the topics "{topics}".' if topics else "."
    return (
        f"{shown}\nGenerate {count} diverse examples that are similar to the provided examples{tail}\n"
        "You do not need to provide a response to the generated examples.\n"
        "Each example must include an instruction.\n"
        "Each generated instruction can be either an imperative sentence or a question.\n"
        'Each example must start with the label "<example>" and end with the label "</example>".'
    )


def prompts() -> list[tuple[str, int, str | None]]:
    out = []
    for i in range(len(SEEDS)):
        examples = [SEEDS[(i + j * 3) % len(SEEDS)] for j in range(3)]
        topics = TOPIC_SETS[i % 3] if i % 2 else None
        out.append((generation_prompt(examples, 20 if i % 4 else 10, topics), 20 if i % 4 else 10, topics))
    return out


def requests() -> list[ChatRequest]:
    return [ChatRequest(f"g{i}", ({"role": "user", "content": p},), "lamini-example-guided@1")
            for i, (p, _, _) in enumerate(prompts())]


def word_jaccard(a: str, b: str) -> float:
    x, y = set(a.lower().split()), set(b.lower().split())
    return len(x & y) / len(x | y)


def test_generation_answers_parse_into_the_requested_count(tmp_path: Path) -> None:
    result = Teacher(TeacherConfig(cache_dir=tmp_path)).run(requests())
    assert result.failures == []
    for answer, (_, count, topics) in zip(result.results, prompts(), strict=True):
        instructions = re.findall(r"<example>(.*?)</example>", answer.text, re.DOTALL)
        assert len(instructions) == count
        for text in instructions:
            assert 6 <= len(text.split()) <= 25, text
            assert re.match(r"[A-Z]", text), text
            assert not any(word in text.lower() for word in SELF_INSTRUCT_BLACKLIST), text
        kept: list[str] = []
        for text in instructions:
            if all(word_jaccard(text, other) <= 0.7 for other in kept):
                kept.append(text)
        assert len(kept) >= 0.8 * count
        if topics:
            named = sum(any(t.lower() in i.lower() for t in topics.split(", ")) for i in instructions)
            assert named >= count // 3


def test_offline_is_deterministic_and_goes_through_the_cache(tmp_path: Path) -> None:
    first = Teacher(TeacherConfig(cache_dir=tmp_path / "a")).run(requests())
    again = Teacher(TeacherConfig(cache_dir=tmp_path / "b")).run(requests())
    assert [r.text for r in first.results] == [r.text for r in again.results]
    assert first.stats.misses == len(requests()) and first.stats.cache_hits == 0

    rerun = Teacher(TeacherConfig(cache_dir=tmp_path / "a")).run(requests())
    assert rerun.stats.cache_hits == len(requests()) and rerun.stats.misses == 0
    assert all(r.cached for r in rerun.results)


def test_offline_short_answers_mention_the_question(tmp_path: Path) -> None:
    question = "Why do migratory birds fly south before winter?"
    teacher = Teacher(TeacherConfig(cache_dir=tmp_path))
    system = {"role": "system", "content": teacher.config.system_prompt}
    result = teacher.run([ChatRequest("q", (system, {"role": "user", "content": question}), "lamini-response@1")])
    answer = result.results[0]
    assert answer.finish_reason == "stop" and not answer.truncated
    assert 1 <= len(re.findall(r"[.!?]", answer.text)) <= 3
    assert any(word in answer.text.lower() for word in ("migratory", "birds", "south", "winter"))
    assert answer.prompt_tokens == len(question.split()) + len(teacher.config.system_prompt.split())
    assert answer.completion_tokens == len(answer.text.split())
    assert result.stats.estimated_cost_usd == 0.0


def test_offline_respects_max_tokens_as_truncation(tmp_path: Path) -> None:
    prompt = generation_prompt(SEEDS[:3], 20, None)
    result = Teacher(TeacherConfig(cache_dir=tmp_path)).run(
        [ChatRequest("g", ({"role": "user", "content": prompt},), "v@1", {"max_tokens": 30})]
    )
    assert result.results[0].truncated and result.stats.truncated == 1
    assert len(result.results[0].text.split()) == 30


def test_describe_says_it_is_not_a_language_model(tmp_path: Path) -> None:
    teacher = Teacher(TeacherConfig(cache_dir=tmp_path))
    teacher.run(requests()[:1])
    info = teacher.describe()
    assert info["backend"] == "offline" and info["model"] == "offline-stand-in"
    assert info["is_offline_stand_in"] == "true"
    assert info["description"] == OFFLINE_DESCRIPTION == "deterministic offline stand-in, not a language model"
    assert info["template_versions"] == "lamini-example-guided@1"
    assert "base_url" not in info


def test_default_config_is_offline_and_bad_config_is_rejected() -> None:
    config = TeacherConfig()
    assert config.backend == "offline" and config.cache_dir == Path("teacher_cache")
    with pytest.raises(ValidationError, match="max_in_flight"):
        TeacherConfig(max_in_flight=0)
    with pytest.raises(ValidationError, match="extra"):
        TeacherConfig(unknown_field=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="teacher.model"):
        TeacherConfig(backend="openai")
    with pytest.raises(ValidationError, match="temperature"):
        TeacherConfig.model_validate({"sampling": {"temperature": 3.0}})
    with pytest.raises(ValueError, match="not sampling fields"):
        ChatRequest("r", ({"role": "user", "content": "x"},), "v@1", {"api_key": "nope"})
