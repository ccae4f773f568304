"""`diversity_report` materialised on tables written by hand: metadata, report file, WARN checks."""

import json
from pathlib import Path

import duckdb
import polars as pl
import pytest

from lamini_assets.artifacts import LocalArtifactStore
from lamini_assets.config import load_config
from lamini_assets.dataset import content_version, point_latest, version_key
from lamini_assets.defs import build_definitions
from lamini_assets.diversity import dataset_version_rows
from lamini_assets.schema import make_instruction_id
from tests.support.dagster_runs import PROJECT_ROOT, SHARED_DATA, materialization_metadata, materialize

ROWS = 40


def config_text(checks: str) -> str:
    return f"""
sources:
  - name: self_instruct_seeds
    format: self_instruct_jsonl
    path: {PROJECT_ROOT / "data" / "sample" / "self_instruct_seed_tasks.jsonl"}
diversity:
  sample_per_source: {ROWS}
  verb_noun: {{enabled: "off"}}
  checks: {checks}
"""


def write_tables(duckdb_path: Path, store: LocalArtifactStore) -> None:
    """A diverse generated source (real user requests) and a repetitive original one (one template)."""
    user = [json.loads(line) for line in (SHARED_DATA / "self_instruct_user_oriented_instructions.jsonl")
            .read_text(encoding="utf-8").splitlines()[:ROWS]]
    seeds = [json.loads(line) for line in (SHARED_DATA / "self_instruct_seed_tasks.jsonl")
             .read_text(encoding="utf-8").splitlines()[:30]]
    rows = [(task["instruction"], task["instances"][0]["output"] or "No answer.", "self_instruct_without_topic")
            for task in user]
    rows += [(f"Is review number {i} of the product positive or negative?", "It is positive.", "original_p3")
             for i in range(ROWS)]
    dataset = pl.DataFrame({
        "instruction": [r[0] for r in rows], "response": [r[1] for r in rows], "instruction_source": [r[2] for r in rows],
        "instruction_id": [make_instruction_id(r[0]) for r in rows], "task_instruction": [r[0] for r in rows],
        "task_input": [""] * len(rows), "teacher_model": ["offline"] * len(rows), "cache_key": ["k"] * len(rows),
    })
    seed_rows = pl.DataFrame({  # noqa: F841
        "instruction_id": [make_instruction_id(s["instruction"]) for s in seeds], "seed_source": ["self_instruct"] * 30,
        "instruction": [s["instruction"] for s in seeds], "input": [""] * 30,
    })
    rejects = pl.DataFrame({"instruction_source": ["self_instruct_without_topic"] * 2,  # noqa: F841
                            "drop_reason": ["too_short", "near_duplicate"]})
    version = content_version(dataset)
    store.publish_dir(version_key(version), lambda folder: dataset.write_parquet(folder / "lamini_dataset.parquet"))
    point_latest(store, version)
    with duckdb.connect(str(duckdb_path)) as conn:
        conn.execute("create table seed_instructions_dedup as select * from seed_rows")
        conn.execute("create table instruction_rejects as select * from rejects")
        conn.execute("create table instructions as select instruction_source, instruction_id from dataset")


def check_results(result) -> dict[str, tuple[bool, dict]]:
    return {e.check_name: (e.passed, {k: v.value for k, v in e.metadata.items()})
            for e in result.get_asset_check_evaluations()}


def test_report_metadata_file_and_failing_warn_checks(state_dir: Path, write_config) -> None:
    path = write_config(config_text("{min_mattr: 0.5, max_near_duplicate_rate: 0.2}"))
    config = load_config(path)
    write_tables(config.duckdb_path, config.artifact_store())
    defs = build_definitions(path)

    result = materialize(defs, ["diversity_report"])
    assert result.success
    metadata = materialization_metadata(result, "diversity_report")
    version, _ = dataset_version_rows(config.artifact_store())
    with duckdb.connect(str(config.duckdb_path), read_only=True) as conn:
        lexical = conn.execute("select * from diversity_lexical order by instruction_source").pl()
        table_one = conn.execute("select instruction_source, rows from diversity_table_one order by 1").fetchall()
    assert metadata["dataset_version"] == version
    report = Path(str(metadata["report"]))
    assert report == config.artifacts_dir / "diversity" / version / "report.html" and report.is_file()
    for name in ("projection", "lengths_words", "lengths_tokens", "rejects", "nearest_seed"):
        assert "](data:image/png;base64," in metadata[f"figure/{name}"]
        assert (report.parent / f"{name}.png").is_file()
    assert "| original_p3" in metadata["table/table_one"]
    assert metadata["embeddings_computed"] == 2 * ROWS + 30
    assert table_one == [("all", 2 * ROWS), ("original_p3", ROWS), ("self_instruct_without_topic", ROWS)]
    assert set(lexical["dataset_version"]) == {version}

    # The one-template source repeats itself: both WARN checks fail, naming it; the real requests pass.
    checks = check_results(result)
    assert checks["mattr_above_floor"][0] is False
    assert "original_p3/instruction" in checks["mattr_above_floor"][1]["below_floor"]
    assert checks["near_duplicate_rate_below_ceiling"][0] is False
    above = checks["near_duplicate_rate_below_ceiling"][1]["above_ceiling"]
    assert above["original_p3/instruction"] > 0.9
    assert "self_instruct_without_topic/instruction" not in above
    assert all(e.severity.value == "WARN" for e in result.get_asset_check_evaluations())

    # Rerun on the same data: every embedding and the projection come from the artifact store.
    rerun = materialization_metadata(materialize(defs, ["diversity_report"]), "diversity_report")
    assert (rerun["embeddings_computed"], rerun["embeddings_cached"], rerun["projection_cached"]) == (0, 2 * ROWS + 30, 1)


def test_checks_pass_when_the_floors_allow_the_data(state_dir: Path, write_config) -> None:
    path = write_config(config_text("{min_mattr: 0.05, max_near_duplicate_rate: 1.0}"))
    config = load_config(path)
    write_tables(config.duckdb_path, config.artifact_store())
    result = materialize(build_definitions(path), ["diversity_report"])
    assert result.success
    assert {name: passed for name, (passed, _) in check_results(result).items()} == {
        "mattr_above_floor": True, "near_duplicate_rate_below_ceiling": True}


@pytest.mark.parametrize("body, key", [("sample_per_source: 3", "diversity.sample_per_source"),
                                       ("projection: pca", "diversity.projection"),
                                       ("checks: {min_mattr: 2}", "diversity.checks.min_mattr")])
def test_bad_diversity_config_names_the_key(write_config, body: str, key: str) -> None:
    from lamini_assets.config import ConfigError

    path = write_config(f"sources: []\ndiversity:\n  {body}\n")
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(path)
