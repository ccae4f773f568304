"""Instruction following: ROUGE-L against the teacher's answers, and the teacher as judge grading
each answer A-D with the rubric LaMini's human raters used (from Self-Instruct)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from lamini_assets.teacher import ChatFailure, ChatRequest, Teacher, TeacherStats

GRADES = ("A", "B", "C", "D")
JUDGE_TEMPLATE_VERSION = "lamini-judge@1"

# LaMini-LM section 5 (after Self-Instruct's human evaluation).
RUBRIC = """Rating-A: The response is valid and satisfying.
Rating-B: The response is acceptable but has minor errors or imperfections.
Rating-C: The response is relevant and responds to the instruction, but it has significant errors in the content.
Rating-D: The response is irrelevant or invalid, including repetition of the input, totally irrelevant output, etc."""

JUDGE_SYSTEM = "You are a careful, strict evaluator of answers to instructions."
JUDGE_PROMPT = """Grade the response to the instruction below with the rubric.

{rubric}

Instruction:
{instruction}

Response:
{answer}

Reply with one line, exactly: Rating: <A, B, C or D>"""

_GRADE_PATTERNS = (
    re.compile(r"rating\s*[-:=]?\s*\(?\s*([ABCD])\b", re.IGNORECASE),
    re.compile(r"\bgrade\s*[-:=]?\s*\(?\s*([ABCD])\b", re.IGNORECASE),
    re.compile(r"^\s*\(?([ABCD])\)?\s*[.:)]?\s*$", re.MULTILINE),
)


def rouge_l(answers: Sequence[str], references: Sequence[str]) -> list[float]:
    """ROUGE-L F-measure of each answer against its reference (rouge-score, stemmed as in Self-Instruct)."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return [scorer.score(ref, ans)["rougeL"].fmeasure for ans, ref in zip(answers, references, strict=True)]


def parse_grade(text: str) -> str | None:
    """The A-D grade in a judge's reply ("Rating: B", "Rating-B", "(C)", a lone "D"); None if absent."""
    for pattern in _GRADE_PATTERNS:
        match = pattern.search(text)
        if match:
            return match.group(1).upper()
    return None


def judge_request(row_id: str, instruction: str, answer: str) -> ChatRequest:
    prompt = JUDGE_PROMPT.format(rubric=RUBRIC, instruction=instruction.strip(), answer=answer.strip() or "(empty)")
    return ChatRequest(
        row_id=row_id,
        messages=({"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": prompt}),
        template_version=JUDGE_TEMPLATE_VERSION,
        params={"temperature": 0.0, "max_tokens": 16},
    )


@dataclass
class JudgeOutcome:
    grades: pl.DataFrame  # one row per answer: the answer's ids, grade (None when unusable), reason, cache_key
    failures: list[ChatFailure]
    stats: TeacherStats


def judge_answers(teacher: Teacher, answers: pl.DataFrame) -> JudgeOutcome:
    """Grade every row of `answers` (answer_id, instruction, answer) through the teacher client.

    Failed calls come back as failures (the caller records them in teacher_failures); a reply with no
    grade in it is kept with grade None and its reason, never guessed.
    """
    requests = [judge_request(row["answer_id"], row["instruction"], row["answer"]) for row in answers.iter_rows(named=True)]
    run = teacher.run(requests)
    by_id = run.by_row_id()
    rows = []
    for row in answers.iter_rows(named=True):
        outcome = by_id[row["answer_id"]]
        if isinstance(outcome, ChatFailure):
            grade, reason, key, reply = None, f"call failed: {outcome.error_class}", outcome.cache_key, None
        else:
            grade = parse_grade(outcome.text)
            reason = None if grade else "no A-D grade in the reply"
            key, reply = outcome.cache_key, outcome.text
        rows.append({"answer_id": row["answer_id"], "grade": grade, "reason": reason, "reply": reply, "cache_key": key})
    schema = {"answer_id": pl.String, "grade": pl.String, "reason": pl.String, "reply": pl.String, "cache_key": pl.String}
    return JudgeOutcome(pl.DataFrame(rows, schema=schema), run.failures, run.stats)


def grade_distribution(grades: Sequence[str | None]) -> dict[str, float]:
    """Share of each grade A-D among the graded answers (ungraded ones are counted apart)."""
    graded = [g for g in grades if g in GRADES]
    total = len(graded)
    return {g: (graded.count(g) / total if total else 0.0) for g in GRADES}
