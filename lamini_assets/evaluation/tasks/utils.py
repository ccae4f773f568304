"""Field adapters for the offline task YAMLs: the sample files keep their source's original fields,
so each function maps them onto what lm-eval's own task (same prompt, same choices) expects."""

from __future__ import annotations

from lm_eval.tasks.race import preprocess_race
from lm_eval.tasks.winogrande import preprocess_winogrande


def _gold(labels: list[str], key: str) -> int:
    return labels.index(key.strip())


# ARC and OpenBookQA: nested `question: {stem, choices: [{text, label}]}`, gold = position of answerKey.
def question_stem(doc: dict) -> str:
    return doc["question"]["stem"]


def stem_choices(doc: dict) -> list[str]:
    return [choice["text"] for choice in doc["question"]["choices"]]


def stem_target(doc: dict) -> int:
    return _gold([choice["label"] for choice in doc["question"]["choices"]], doc["answerKey"])


# RACE: the release's article files (questions, options, answers lists) -> lm-eval's one doc per
# article, scored on its last question with the earlier ones answered in the context.
def race_problems(doc: dict) -> dict:
    problems = [
        {"question": question, "options": options, "answer": answer}
        for question, options, answer in zip(doc["questions"], doc["options"], doc["answers"], strict=True)
    ]
    return {"article": doc["article"], "problems": repr(problems)}


def race_text(doc: dict) -> str:
    return preprocess_race.doc_to_text(race_problems(doc))


def race_choices(doc: dict) -> list[str]:
    return preprocess_race.doc_to_choice(race_problems(doc))


def race_target(doc: dict) -> int:
    return preprocess_race.doc_to_target(race_problems(doc))


# WinoGrande: lm-eval's own partial-evaluation functions work on the original fields.
winogrande_text = preprocess_winogrande.doc_to_text
winogrande_target = preprocess_winogrande.doc_to_target
winogrande_choices = preprocess_winogrande.doc_to_choice


# RTE (SuperGLUE file): string labels; lm-eval's glue/rte has 0 = entailment ("True").
def rte_target(doc: dict) -> int:
    return {"entailment": 0, "not_entailment": 1}[doc["label"]]


# MRPC: the TSV header names ("#1 String") are not template variables.
def mrpc_text(doc: dict) -> str:
    return (f"Sentence 1: {doc['#1 String']}\nSentence 2: {doc['#2 String']}\n"
            "Question: Do both sentences mean the same thing?\nAnswer:")
