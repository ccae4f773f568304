from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from datasketch import MinHash

from lamini_assets.dedup import (
    MinHashSigner,
    NoveltyConfig,
    NoveltyIndex,
    load_novelty_index,
    make_novelty_index,
)
from lamini_assets.schema import normalise_text

from tests.support.paths import SHARED_DATA


@pytest.fixture(scope="module")
def seed_instructions() -> list[str]:
    with (SHARED_DATA / "self_instruct_seed_tasks.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line)["instruction"] for line in handle if line.strip()]


@pytest.fixture(scope="module")
def real_stream(seed_instructions: list[str]) -> list[str]:
    """Seeds, then the first sentence of two prompts of every P3 template: real exact and near duplicates."""
    texts = list(seed_instructions)
    for path in sorted((SHARED_DATA / "p3_t0_sample").glob("*.jsonl")):
        with path.open(encoding="utf-8") as handle:
            for line, _ in zip(handle, range(2)):
                first_line = next(x for x in json.loads(line)["prompt"].splitlines() if x.strip())
                texts.append(re.split(r"(?<=[.?!])\s", first_line.strip(), maxsplit=1)[0])
    return texts


def decisions(index: NoveltyIndex, texts: list[str]) -> list[tuple[bool, str | None]]:
    return index.check_and_add_batch([f"row{i}" for i in range(len(texts))], texts)


def dropped(results: list[tuple[bool, str | None]]) -> set[int]:
    return {i for i, (is_novel, _) in enumerate(results) if not is_novel}


# Non-ASCII texts take the regex path, ASCII ones (also after NFKC: full-width letters) the byte scan.
UNICODE_TEXTS = ["Écris un poème sur l'été à Paris.", "Ｆｕｌｌ－ｗｉｄｔｈ  ｌｅｔｔｅｒｓ here", "naïve café_au lait 42",
                 "日本語の文を書いてください", "Straße…  ＳＴＲＡＳＳＥ", "émoji 😀 only"]


@pytest.mark.parametrize("shingle_size", [1, 2, 3])
def test_vectorised_signatures_equal_datasketch(seed_instructions: list[str], shingle_size: int) -> None:
    signer = MinHashSigner(num_perm=64, seed=3, shingle_size=shingle_size)
    texts = [*seed_instructions[:20], "", "one", "two words", "  ...!  ", *UNICODE_TEXTS]
    # Interleaved, so rows of both paths are put back in order.
    texts = [text for pair in zip(texts, reversed(texts)) for text in pair]

    signatures = signer.signatures(texts)

    for text, signature in zip(texts, signatures):
        expected = MinHash(num_perm=64, seed=3, scheme="affine32", hashfunc=signer.shingle_hash)
        expected.update_batch(signer.shingles(text))
        assert np.array_equal(expected.hashvalues, signature)


@pytest.mark.parametrize("method", ["minhash", "rouge_l"])
def test_exact_and_one_word_near_duplicates_are_caught(method: str, seed_instructions: list[str]) -> None:
    index = make_novelty_index(NoveltyConfig(method=method))
    index.add_pool([f"seed{i}" for i in range(len(seed_instructions))], seed_instructions)
    long_seeds = [(i, text) for i, text in enumerate(seed_instructions) if len(text.split()) >= 8]
    changed = []
    for i, text in long_seeds:
        words = text.split()
        words[len(words) // 2] = "zebra"
        changed.append((i, " ".join(words)))

    exact = [index.check_and_add(f"copy{i}", text.upper()) for i, text in long_seeds]
    near = [index.check_and_add(f"near{i}", text) for i, text in changed]

    assert exact == [(False, f"seed{i}") for i, _ in long_seeds]
    caught = [(is_novel, neighbour) for is_novel, neighbour in near if not is_novel]
    assert len(caught) >= 0.95 * len(near)
    assert all(neighbour == f"seed{i}" for (is_novel, neighbour), (i, _) in zip(near, changed) if not is_novel)
    assert len(index) == len(seed_instructions) + len(near) - len(caught)


@pytest.mark.parametrize("method", ["minhash", "rouge_l"])
def test_unrelated_instructions_are_kept(method: str, seed_instructions: list[str]) -> None:
    results = decisions(make_novelty_index(NoveltyConfig(method=method)), seed_instructions)

    # Self-Instruct's seeds are diverse by design: (almost) all of them are novel.
    assert len(dropped(results)) <= 3


def test_novel_rows_join_the_index_within_and_across_batches() -> None:
    index = make_novelty_index(NoveltyConfig())
    first = "Write a short story about a lighthouse keeper who befriends a seal."
    near = "Write a short story about a lighthouse keeper who befriends a whale."
    other = "List four ways to reduce food waste in a school cafeteria."

    same_batch = index.check_and_add_batch(["a", "b", "c"], [first, near, other])
    later = index.check_and_add("d", other.replace("four", "five"))

    assert same_batch == [(True, None), (False, "a"), (True, None)]
    assert later == (False, "c")
    assert len(index) == 2


def test_batch_and_one_at_a_time_agree(real_stream: list[str]) -> None:
    batched = decisions(make_novelty_index(NoveltyConfig()), real_stream)
    one_by_one_index = make_novelty_index(NoveltyConfig())
    one_by_one = [one_by_one_index.check_and_add(f"row{i}", text) for i, text in enumerate(real_stream)]

    assert batched == one_by_one


def test_minhash_finds_what_rouge_l_drops(real_stream: list[str]) -> None:
    rouge = dropped(decisions(make_novelty_index(NoveltyConfig(method="rouge_l")), real_stream))
    minhash = dropped(decisions(make_novelty_index(NoveltyConfig()), real_stream))
    seen: set[str] = set()
    exact: set[int] = set()
    for i, text in enumerate(real_stream):
        exact.update({i} if normalise_text(text) in seen else set())
        seen.add(normalise_text(text))

    assert len(rouge - exact) >= 20  # the set has real near-duplicates, not just copies
    assert len(rouge & minhash) / len(rouge) >= 0.9
    assert len(rouge & minhash) / len(minhash) >= 0.9


@pytest.mark.parametrize("method", ["minhash", "rouge_l"])
def test_saved_index_reloads_and_checks_its_config(tmp_path: Path, method: str, seed_instructions: list[str]) -> None:
    config = NoveltyConfig(method=method)
    index = make_novelty_index(config)
    index.add_pool([f"seed{i}" for i in range(len(seed_instructions))], seed_instructions)
    index.save(tmp_path / "index")

    reloaded = load_novelty_index(tmp_path / "index", config)

    assert len(reloaded) == len(seed_instructions)
    assert reloaded.check_and_add("copy", seed_instructions[7]) == (False, "seed7")
    assert reloaded.check_and_add("new", "Suggest three names for a bakery run by twin sisters.") == (True, None)
    with pytest.raises(ValueError, match="rebuild"):
        load_novelty_index(tmp_path / "index", config.model_copy(update={"num_perm": 64}))


def p3_prompt_texts(limit: int) -> list[str]:
    """Real P3 prompts, every template in turn: thousands of instructions nobody here wrote."""
    texts: list[str] = []
    for path in sorted((SHARED_DATA / "p3_t0_sample").glob("*.jsonl")):
        with path.open(encoding="utf-8") as handle:
            texts.extend(json.loads(line)["prompt"] for line, _ in zip(handle, range(20)))
    return texts[:limit]


def test_reloaded_index_of_real_size_keeps_growing(tmp_path: Path, seed_instructions: list[str]) -> None:
    # Past the 1,024 rows preallocated, a saved index must still grow after reloading (it failed
    # with "cannot resize this array: it does not own its data"); its saved rows are memory-mapped.
    pool = seed_instructions + p3_prompt_texts(2_400)
    config = NoveltyConfig()
    index = make_novelty_index(config)
    index.add_pool([f"pool{i}" for i in range(len(pool))], pool)
    assert len(index) > 1_024
    index.save(tmp_path / "index")

    reloaded = load_novelty_index(tmp_path / "index", config)
    assert isinstance(reloaded._signatures.parts()[0], np.memmap)  # read lazily, not loaded
    assert reloaded.check_and_add("new", "Suggest three names for a bakery run by twin sisters.") == (True, None)
    many = [f"Write a limerick about the number {n} and a {animal}." for n in range(3_000) for animal in ("cat",)]
    reloaded.check_and_add_batch([f"more{i}" for i in range(len(many))], many)
    reloaded.save(tmp_path / "index")
    again = load_novelty_index(tmp_path / "index", config)
    again.add_pool(["late"], ["Translate the sentence into French, keeping its tone."])
    # Row 1,600 has no near twin in the pool (P3 prompts often do: then the tie picks either).
    assert again.check_and_add("copy", pool[1_600]) == (False, "pool1600")
    assert len(again) == len(reloaded) + 1


def test_mismatched_ids_and_texts_are_refused() -> None:
    with pytest.raises(ValueError, match="2 ids but 1 texts"):
        make_novelty_index(NoveltyConfig()).add_pool(["a", "b"], ["text"])


def test_layout_and_permutations_are_datasketchs() -> None:
    # Computed without importing datasketch at run time (its scipy import cost 1.2 s per step process).
    from datasketch import MinHashLSH

    from lamini_assets.dedup.novelty import affine32_permutations, lsh_layout

    compared = 0
    for threshold in (0.1, 0.2, 0.3, 0.4, 0.5, 0.55, 0.6, 0.7, 0.8, 0.9):
        for num_perm in (16, 32, 64, 100, 128, 256):
            try:
                expected = MinHashLSH(threshold=threshold, num_perm=num_perm)
            except ValueError:  # datasketch refuses a layout of one band
                continue
            assert lsh_layout(threshold, num_perm) == (expected.b, expected.r)
            compared += 1
    assert compared > 40
    for num_perm, seed in ((128, 1), (64, 3), (256, 7)):
        a, b = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
        assert all(np.array_equal(mine, theirs) for mine, theirs in zip(affine32_permutations(num_perm, seed), (a, b)))
