"""Every audit answer checked against the manifest it came from, row by row."""

from __future__ import annotations

import json
from dataclasses import asdict

import duckdb
import polars as pl
import pytest

from lamini_assets.lineage import Audit, AuditSources, UnknownName, build_lineage_index, ensure_index
from lamini_assets.lineage.index import SPLITS
from lamini_assets.teacher.cache import ResponseCache


@pytest.fixture(scope="module")
def indexed(lineage_tables):
    with duckdb.connect(str(lineage_tables.db)) as conn:
        build_lineage_index(conn)
    return lineage_tables


@pytest.fixture
def audit(indexed):
    conn = duckdb.connect(str(indexed.db), read_only=True)
    cache = ResponseCache(indexed.cache_dir)
    sources = AuditSources(
        teacher_requests=getattr(cache, "get_requests", None),
        teacher_answers=lambda keys: {k: asdict(v) for k, v in cache.get_many(keys).items()},
        dataset_card=lambda v: indexed.store.read_bytes(f"lamini_dataset/{v}/dataset_card.md").decode()
        if indexed.store.exists(f"lamini_dataset/{v}/dataset_card.md") else None,
    )
    yield Audit(conn, sources)
    conn.close()
    cache.close()


def expected_models(manifest: pl.DataFrame) -> dict[tuple[str, str], dict[str, int]]:
    """(checkpoint, split) -> rows per source, straight from the manifest."""
    found: dict[tuple[str, str], dict[str, int]] = {}
    for ckpt, split, source, n in manifest.group_by("checkpoint_id", "split", "instruction_source").len().iter_rows():
        found.setdefault((ckpt, split), {})[source] = n
    return found


def test_stored_index_is_used_when_it_covers_every_checkpoint(audit):
    assert audit.index.schema == "main" and audit.index.rebuilt_because is None
    assert audit.index.checkpoints == 3


def test_models_match_the_manifest(audit, indexed):
    expected = expected_models(indexed.manifest)
    models = audit.models()
    assert {m["checkpoint_id"] for m in models} == set(indexed.manifest["checkpoint_id"].unique())
    for m in models:
        assert m["sources"] == expected[(m["checkpoint_id"], "train")]
        for split in SPLITS:
            assert m[f"{split}_rows"] == sum(expected.get((m["checkpoint_id"], split), {}).values())
        record = indexed.checkpoints.filter(pl.col("checkpoint_id") == m["checkpoint_id"]).row(0, named=True)
        assert (m["student"], m["dataset_version"], m["run_id"]) == (record["student"], record["dataset_version"], record["run_id"])


def test_model_by_student_is_its_latest_checkpoint_with_everything_that_made_it(audit, indexed):
    m = audit.model("student_do")
    assert m["checkpoint_id"] == "ckpt_do_2" and m["dataset_version"] == "bbbbbbbbbbbbbbb2"
    rows = indexed.manifest.filter(pl.col("checkpoint_id") == "ckpt_do_2")
    for source, per_split in m["sources"].items():
        for split in SPLITS:
            assert per_split[split] == rows.filter((pl.col("instruction_source") == source) & (pl.col("split") == split)).height
    train = rows.filter(pl.col("split") == "train").join(indexed.dataset, on="row_id")
    teachers = dict(train.group_by("teacher_model").len().iter_rows())
    assert {t["value"]: t["rows"] for t in m["teacher_models"]} == teachers
    templates = dict(train.group_by("response_template_version").len().iter_rows())
    assert {t["value"]: t["rows"] for t in m["prompt_template_versions"]["response_template_version"]} == templates
    assert m["checkpoint"]["hyperparameters"] == {"learning_rate": 2e-5, "epochs": 5}
    assert m["checkpoint"]["family"] == "decoder-only"
    assert {(s["model_kind"], s["task"]) for s in m["scores"]} == {(k, t) for k in ("base", "distilled") for t in ("piqa", "sciq")}
    assert [o["checkpoint_id"] for o in m["other_checkpoints"]] == ["ckpt_do_1"]
    assert "ckpt_do_2" in m["manifest"]["sql"]
    assert audit.model("ckpt_do_1")["checkpoint_id"] == "ckpt_do_1"


def test_every_row_lists_exactly_the_models_whose_manifest_has_it(audit, indexed):
    expected: dict[str, set[tuple[str, str]]] = {}
    for row_id, ckpt, split in indexed.manifest.select("row_id", "checkpoint_id", "split").iter_rows():
        expected.setdefault(row_id, set()).add((ckpt, split))
    cursor = audit.conn.execute("select * from lineage_rows")
    columns = [d[0] for d in cursor.description]
    index_rows = [dict(zip(columns, row)) for row in cursor.fetchall()]
    assert len(index_rows) == len(expected)
    for row in index_rows:  # every row, through the same decoding the answers use
        assert {(m["checkpoint_id"], m["split"]) for m in audit._models_of(row)} == expected[row["row_id"]]


@pytest.mark.parametrize("how", ["row_id", "instruction_id", "text"])
def test_instruction_answers_by_row_id_instruction_id_and_text(audit, indexed, how):
    dataset = indexed.dataset.filter(pl.col("row_id").is_in(indexed.manifest["row_id"].implode()))
    for row in dataset.gather_every(97).iter_rows(named=True):
        query = {"row_id": row["row_id"], "instruction_id": row["instruction_id"], "text": row["instruction"]}[how]
        answer = audit.instruction(query)
        assert answer["matched_by"] == how
        found = {r["row_id"]: r for r in answer["rows"]}
        assert row["row_id"] in found
        got = found[row["row_id"]]
        expected = {(c, s) for c, s in indexed.manifest.filter(pl.col("row_id") == row["row_id"])
                    .select("checkpoint_id", "split").iter_rows()}
        assert {(m["checkpoint_id"], m["split"]) for m in got["models"]} == expected
        assert got["dataset_row"]["response"] == row["response"]
        teacher = got["teacher"]
        assert teacher["response"]["cache_key"] == row["cache_key"]
        assert teacher["response"]["request"]["messages"][1]["content"] == row["instruction"]
        if row["generation_cache_key"]:
            origin = got["origin"]
            assert origin["kind"] == "generation" and origin["topics"] == row["topics"]
            assert [e["instruction_id"] for e in origin["example_seeds"]] == row["example_ids"]
            assert all(e.get("instruction") for e in origin["example_seeds"])  # found in seed_instructions
            assert f"<example>{row['task_instruction']}</example>" in teacher["generation"]["answer"]["texts"][0]
            if hasattr(ResponseCache, "get_requests"):  # the generation prompt, from the cache's stored requests
                prompt = teacher["generation"]["request"]["messages"][0]["content"]
                assert all(e["instruction"] in prompt for e in origin["example_seeds"])
        else:
            assert got["origin"]["kind"] == "seed" and got["origin"]["origin"] == row["origin"]


def test_instruction_in_no_manifest_is_answered_with_no_models(audit, indexed):
    unused = indexed.dataset.filter(~pl.col("row_id").is_in(indexed.manifest["row_id"].implode()))
    if unused.height == 0:
        pytest.skip("every row is in some manifest")
    answer = audit.instruction(unused["row_id"][0])
    assert answer["rows"][0]["models"] == []


def test_source_counts_match_the_manifest(audit, indexed):
    for label in indexed.manifest["instruction_source"].unique():
        answer = audit.source(label)
        for m in answer["models"]:
            rows = indexed.manifest.filter((pl.col("checkpoint_id") == m["checkpoint_id"]) & (pl.col("instruction_source") == label))
            for split in SPLITS:
                assert m[split] == rows.filter(pl.col("split") == split).height
            per_source = json.loads(
                audit.conn.execute("select rows_per_source from dataset_versions where version = ?", [m["dataset_version"]]).fetchone()[0]
            )
            assert m["rows_in_dataset_version"] == per_source[label]
        assert len(answer["models"]) == 3


def test_diff_matches_set_differences_of_the_manifests(audit, indexed):
    def train(ckpt):
        return set(indexed.manifest.filter((pl.col("checkpoint_id") == ckpt) & (pl.col("split") == "train"))["row_id"])

    d = audit.diff("student_ed", "ckpt_do_2", sample=5)
    a, b = train("ckpt_ed_1"), train("ckpt_do_2")
    assert d["totals"] == {"only_a": len(a - b), "only_b": len(b - a), "both": len(a & b)}
    source_of = dict(indexed.manifest.select("row_id", "instruction_source").unique().iter_rows())
    for s in d["sources"]:
        label = s["instruction_source"]
        assert s["only_a"] == sum(1 for r in a - b if source_of[r] == label)
        assert s["only_b"] == sum(1 for r in b - a if source_of[r] == label)
    assert d["sample_only_a"] and all(r["row_id"] in a - b for r in d["sample_only_a"])
    assert all(r["row_id"] in b - a for r in d["sample_only_b"])


def test_dataset_shows_its_record_card_and_models(audit, indexed):
    d = audit.dataset("aaaaaaaaaaaaaaa1")
    assert d["card"].startswith("# LaMini dataset aaaaaaaaaaaaaaa1")
    assert d["record"]["rows_per_source"] and {m["checkpoint_id"] for m in d["models"]} == {"ckpt_ed_1", "ckpt_do_1"}
    assert audit.dataset("latest")["version"] == "bbbbbbbbbbbbbbb2"


@pytest.mark.parametrize("call", [
    lambda a: a.model("no_such_student"),
    lambda a: a.instruction("no such instruction anywhere"),
    lambda a: a.source("no_such_source"),
    lambda a: a.diff("student_ed", "nobody"),
    lambda a: a.dataset("0000000000000000"),
])
def test_unknown_names_raise(audit, call):
    with pytest.raises(UnknownName):
        call(audit)


def test_a_new_checkpoint_makes_the_stored_index_stale_and_it_is_rebuilt_in_memory(tmp_path, lineage_builder):
    fixture = lineage_builder(tmp_path / "state")
    with duckdb.connect(str(fixture.db)) as conn:
        build_lineage_index(conn)
        conn.execute("insert into student_checkpoints select * replace ('ckpt_ed_2' as checkpoint_id, "
                     "created_at + interval 1 hour as created_at) from student_checkpoints where checkpoint_id = 'ckpt_ed_1'")
        conn.execute("insert into training_manifest select * replace ('ckpt_ed_2' as checkpoint_id) "
                     "from training_manifest where checkpoint_id = 'ckpt_ed_1' and instruction_source = 'alpaca'")
    with duckdb.connect(str(fixture.db), read_only=True) as conn:
        status = ensure_index(conn)
        assert status.schema == "temp" and "newer than the lineage index" in status.rebuilt_because
        assert Audit(conn).model("student_ed")["sources"].keys() == {"alpaca"}
