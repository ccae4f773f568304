"""lineage_report materialised over the contract tables: the index it builds and what the UI shows."""

from __future__ import annotations

import dagster as dg
import duckdb
import polars as pl

from lamini_assets.config import DEFAULT_CONFIG_PATH, load_config
from lamini_assets.defs.lineage import lineage_report
from lamini_assets.defs.resources import build_resources
from lamini_assets.lineage import ensure_index


def test_lineage_report_builds_the_index_and_reports_every_student(state_dir, lineage_builder):
    fixture = lineage_builder(state_dir)
    config = load_config(DEFAULT_CONFIG_PATH)
    assert config.duckdb_path == fixture.db
    result = dg.materialize([lineage_report], resources=build_resources(config, str(DEFAULT_CONFIG_PATH)))
    assert result.success
    [materialization] = result.asset_materializations_for_node("lineage_report")
    metadata = {k: v.value for k, v in materialization.metadata.items()}

    latest = fixture.checkpoints.sort("created_at").group_by("student").last()
    assert metadata["students"] == latest.height == 2
    assert metadata["checkpoints"] == fixture.checkpoints.height
    for row in latest.iter_rows(named=True):
        student = row["student"]
        assert metadata[f"{student}/checkpoint_id"] == row["checkpoint_id"]
        assert metadata[f"{student}/dataset_version"] == row["dataset_version"]
        train = fixture.manifest.filter((pl.col("checkpoint_id") == row["checkpoint_id"]) & (pl.col("split") == "train"))
        assert metadata[f"{student}/train_rows"] == train.height
        for source, n in train.group_by("instruction_source").len().iter_rows():
            assert f"| {source} | {n:,} |" in metadata["report"]
        assert f"# LaMini dataset {row['dataset_version']}" in metadata["report"]  # its card
    assert metadata["dagster/row_count"] == fixture.manifest["row_id"].n_unique()
    assert (state_dir / "artifacts" / "lineage" / "lineage_report.md").read_text() == metadata["report"]
    assert materialization.tags["dagster/data_version"]

    with duckdb.connect(str(fixture.db), read_only=True) as conn:
        status = ensure_index(conn)
    assert status.schema == "main" and status.rebuilt_because is None


def test_lineage_report_before_any_student_is_trained_says_so(state_dir):
    config = load_config(DEFAULT_CONFIG_PATH)
    result = dg.materialize([lineage_report], resources=build_resources(config, str(DEFAULT_CONFIG_PATH)))
    [materialization] = result.asset_materializations_for_node("lineage_report")
    assert materialization.metadata["students"].value == 0
    assert "no student has been trained yet" in materialization.metadata["report"].value
