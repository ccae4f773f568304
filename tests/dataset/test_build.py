"""Building the dataset: exclusions, provenance, row ids, content versions and cross-source near-duplicates."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from lamini_assets.dataset import DATASET_SCHEMA, DatasetConfig, build_lamini_dataset, content_version
from lamini_assets.dataset.config import DEFAULT_SOURCE_PRIORITY
from lamini_assets.dedup import MinHashSigner, NoveltyConfig, load_pool_index, saved_pool_index
from lamini_assets.generation.filters import novelty_texts
from lamini_assets.schema import INSTRUCTION_SOURCES, make_instruction_id
from lamini_assets.warehouse import content_hash, table_version
from tests.dataset.conftest import frames


def word_jaccard(a: str, b: str) -> float:
    left, right = set(re.findall(r"\w+", a.lower())), set(re.findall(r"\w+", b.lower()))
    return len(left & right) / len(left | right)


def test_exclusions_provenance_and_row_ids() -> None:
    instructions, responses = frames([
        ("alpaca", "Name three primary colours.", ""),
        ("alpaca", "Summarise the text.", "Cats sleep a lot."),
        ("generated_p3", "Which river is the longest in Europe?", ""),
        ("alpaca", "Failed one.", ""),
        ("alpaca", "Truncated one.", ""),
        ("alpaca", "Empty one.", ""),
    ])
    responses = responses.with_columns(
        pl.when(pl.col("instruction") == "Failed one.").then(None).otherwise(pl.col("response")).alias("response"),
        (pl.col("instruction") == "Truncated one.").alias("truncated"),
    ).with_columns(pl.when(pl.col("instruction") == "Empty one.").then(pl.lit(" ")).otherwise(pl.col("response")).alias("response"))
    orphan = responses.head(1).with_columns(pl.lit("feedfacefeedface").alias("instruction_id"))  # instruction gone since
    dataset = build_lamini_dataset(pl.concat([responses, orphan]), instructions, DatasetConfig(near_duplicates=None))

    assert dataset.counts == {"responses": 7, "excluded_failed": 1, "excluded_truncated": 1, "excluded_empty": 1,
                              "excluded_no_instruction": 1, "near_duplicates": 0, "kept": 3}
    assert dataset.rows.schema == pl.Schema(DATASET_SCHEMA)
    with_input = dataset.rows.filter(pl.col("task_input") != "").row(0, named=True)
    assert with_input["instruction"] == "Summarise the text.\n\nCats sleep a lot."
    generated = dataset.rows.filter(pl.col("instruction_source") == "generated_p3").row(0, named=True)
    assert generated["origin"].startswith("generation:") and generated["example_ids"] == ["a", "b", "c"]
    assert generated["generation_cache_key"] == "g2" and generated["generation_template_version"] == "lamini-generation@1"
    assert generated["response_template_version"] == "lamini-response@1" and generated["cache_key"] == "k2"
    assert dataset.rows["row_id"].is_unique().all() and set(dataset.rows["row_id"].str.len_chars()) == {16}

    # row_id depends on (source, instruction_id, cache_key) only; the version on content only.
    again = build_lamini_dataset(responses.reverse(), instructions.reverse(), DatasetConfig(near_duplicates=None))
    assert again.rows.equals(dataset.rows) and again.version == dataset.version
    assert content_version(dataset.rows.reverse()) == dataset.version
    assert content_version(dataset.rows.with_columns(pl.lit("other").alias("response"))) != dataset.version
    rekeyed = build_lamini_dataset(responses.with_columns(pl.lit("other").alias("cache_key")).head(1), instructions,
                                   DatasetConfig(near_duplicates=None))
    assert rekeyed.rows["row_id"][0] not in set(dataset.rows["row_id"])


def test_cross_source_near_duplicates_at_real_size(p3_prompts: list[str], hotpotqa_prompts: list[str]) -> None:
    """3,150 real P3 prompts over three sources, with planted copies across and within sources."""
    assert len(p3_prompts) >= 2_000 and len(hotpotqa_prompts) >= 700
    originals = p3_prompts[:2_000]
    fresh = hotpotqa_prompts[:700]
    rows = [("original_p3", text, "") for text in originals]
    rows += [("original_p3", text + " Answer briefly.", "") for text in originals[:50]]  # within one source: kept
    rows += [("generated_p3", text + " Think step by step.", "") for text in originals[100:400]]  # near originals
    rows += [("generated_p3", text, "") for text in fresh]
    rows += [("generated_flan", "Question: " + text, "") for text in fresh[:100]]  # near generated_p3 rows
    instructions, responses = frames(rows)
    dataset = build_lamini_dataset(responses, instructions)

    removed = dataset.near_duplicates
    planted_p3 = {text + " Think step by step." for text in originals[100:400]}
    planted_flan = {"Question: " + text for text in fresh[:100]}
    removed_text = set(removed["instruction"])
    # Default priority: originals first, then generated_flan before generated_p3.
    assert DEFAULT_SOURCE_PRIORITY.index("generated_flan") < DEFAULT_SOURCE_PRIORITY.index("generated_p3")
    assert planted_p3 <= removed_text
    assert {text for text in fresh[:100]} <= removed_text  # the generated_p3 copies go, generated_flan's stay
    # generated_flan's copies stay unless a (higher-priority) original is nearly the same too.
    flan_removed = removed.filter(pl.col("instruction_source") == "generated_flan")
    assert set(flan_removed["neighbour_source"]) <= {"original_p3"}
    assert len(planted_flan - removed_text) >= 50
    assert set(removed["instruction_source"]) <= {"generated_p3", "generated_flan"}
    assert dataset.rows.filter(pl.col("instruction_source") == "original_p3").height == 2_050  # within-source kept
    priority = {source: rank for rank, source in enumerate(DEFAULT_SOURCE_PRIORITY)}
    text_of = dict(zip(dataset.rows["row_id"], dataset.rows["instruction"], strict=True))
    for row in removed.iter_rows(named=True):
        assert priority[row["neighbour_source"]] < priority[row["instruction_source"]]
        assert word_jaccard(row["instruction"], text_of[row["neighbour_row_id"]]) >= 0.4  # a real near-duplicate
    assert dataset.counts["near_duplicates"] == removed.height
    assert dataset.rows.height + removed.height == len(rows)

    # Whatever order the partitions arrive in, the same rows stay: same version.
    shuffled = build_lamini_dataset(responses.sample(fraction=1.0, shuffle=True, seed=3),
                                    instructions.sample(fraction=1.0, shuffle=True, seed=4))
    assert shuffled.version == dataset.version and shuffled.near_duplicates.equals(removed)

    # Another priority keeps the other copy.
    flipped = [s for s in DEFAULT_SOURCE_PRIORITY if s != "generated_flan"] + ["generated_flan"]
    other = build_lamini_dataset(responses, instructions, DatasetConfig(source_priority=flipped))
    assert planted_flan <= set(other.near_duplicates["instruction"])
    assert sorted(DEFAULT_SOURCE_PRIORITY) == sorted(INSTRUCTION_SOURCES)


def test_near_duplicates_reuse_the_saved_pool_signatures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, p3_prompts: list[str], hotpotqa_prompts: list[str]
) -> None:
    """The pool index the generation step saved already signed the pass-through texts: the dataset's
    filter copies those signatures (matched by the exact text) and signs only the rest, with the same
    result. 2,750 real P3 rows; the pool holds the 2,000 original_p3 texts and 300 others."""
    originals, fresh = p3_prompts[:2_000], hotpotqa_prompts[:700]
    rows = [("original_p3", text, "") for text in originals]
    rows += [("generated_p3", text + " Think step by step.", "") for text in originals[100:400]]
    rows += [("generated_p3", text, "") for text in fresh[:450]]
    instructions, responses = frames(rows)
    pool = pl.DataFrame({"instruction": originals + p3_prompts[2_000:2_300], "input": ""})
    load_pool_index(tmp_path, NoveltyConfig(), pool["instruction"].map_elements(make_instruction_id, return_dtype=pl.String),
                    novelty_texts(pool))
    saved = saved_pool_index(tmp_path, NoveltyConfig())
    assert saved is not None and len(saved) == 2_300

    signed: list[int] = []
    sign = MinHashSigner.signatures
    monkeypatch.setattr(MinHashSigner, "signatures", lambda self, texts: signed.append(len(texts)) or sign(self, texts))
    fresh_build = build_lamini_dataset(responses, instructions)
    assert sum(signed) == len(rows)
    signed.clear()
    reused = build_lamini_dataset(responses, instructions, pool_index=saved)
    assert sum(signed) == len(rows) - 2_000  # only the texts the pool lacks
    assert reused.counts["near_duplicate_signatures_reused"] == 2_000
    assert fresh_build.near_duplicates.height >= 300
    assert reused.near_duplicates.equals(fresh_build.near_duplicates) and reused.version == fresh_build.version

    # Another signer (a different num_perm) cannot lend its signatures: everything is signed again.
    signed.clear()
    other = build_lamini_dataset(responses, instructions, DatasetConfig(near_duplicates=NoveltyConfig(num_perm=64)),
                                 pool_index=saved)
    assert sum(signed) == len(rows) and other.rows.height > 0


def test_content_version_is_a_hash_of_the_content(p3_prompts: list[str]) -> None:
    """On 2,000 real P3 rows: one hash (warehouse.content_hash) for the built table and any frame of the
    same rows; row order does not matter, a repeated row, a changed character, a null for "" or a
    reordered list does."""
    instructions, responses = frames([("original_p3", text, "") for text in p3_prompts[:2_000]])
    dataset = build_lamini_dataset(responses, instructions, DatasetConfig(near_duplicates=None))
    rows = dataset.rows
    assert rows.height == 2_000
    assert content_hash(dataset.conn, dataset.table) == dataset.version == content_version(rows)
    assert content_version(rows.sample(fraction=1.0, shuffle=True, seed=7)) == dataset.version
    assert content_version(pl.concat([rows, rows.tail(1)])) != dataset.version  # a repeated row counts
    changed = rows.with_columns(pl.when(pl.col("row_id") == rows["row_id"][500]).then(pl.col("response") + ".")
                                .otherwise(pl.col("response")).alias("response"))
    assert content_version(changed) != dataset.version
    assert content_version(rows.with_columns(pl.lit(None, dtype=pl.String()).alias("task_input"))) != dataset.version
    listed = rows.with_columns(pl.lit(["a", "b"]).alias("topics"))
    assert content_version(listed) != content_version(rows.with_columns(pl.lit(["b", "a"]).alias("topics")))
    assert table_version(rows) == dataset.version  # data versions of tables use the same hash


def test_whitespace_only_responses_are_empty() -> None:
    """Any Unicode whitespace counts (as polars' strip_chars and Python's str.strip judge it)."""
    instructions, responses = frames([("alpaca", f"Task {n}.", "") for n in range(4)])
    blanks = ["\u00a0\n", "\u2003\t", "\u3000", ""]
    responses = responses.with_columns(pl.Series("response", [blanks[0], blanks[1], "kept\u00a0", blanks[2]]))
    dataset = build_lamini_dataset(responses, instructions, DatasetConfig(near_duplicates=None))
    assert dataset.counts["excluded_empty"] == 3 and dataset.rows["response"].to_list() == ["kept\u00a0"]
    assert all(not blank.strip() for blank in blanks)
