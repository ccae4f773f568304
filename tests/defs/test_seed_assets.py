"""Materialise the seed assets with dg.materialize on temporary state."""

import json
import re
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from lamini_assets.defs import build_definitions
from tests.support.dagster_runs import SHARED_DATA, materialization_metadata, materialize


def test_real_seed_pools_load_dedup_and_stats(write_config, state_dir: Path) -> None:
    config = write_config(
        f"""sources:
  - {{name: self_instruct, format: self_instruct_jsonl, path: {SHARED_DATA / 'self_instruct_seed_tasks.jsonl'}}}
  - {{name: p3, format: p3_templates, path: {SHARED_DATA / 'p3_t0_sample'}, max_rows_per_template: 5}}
""",
    )
    defs = build_definitions(config)
    for pool in ("self_instruct", "p3", "alpaca", "flan"):
        result = materialize(defs, ["seed_instructions", "seed_quarantine"], pool, raise_on_error=False)
        checks = {evaluation.check_name: evaluation.passed for evaluation in result.get_asset_check_evaluations()}
        # alpaca and flan have no source in this config: the has-rows check must say so.
        assert checks["partition_has_rows"] is (pool in ("self_instruct", "p3"))
    metadata = {
        event.partition: event.materialization.metadata
        for event in result.get_asset_materialization_events()
        if event.asset_key.to_user_string() == "seed_instructions"
    }
    assert metadata["flan"]["dagster/row_count"].value == 0

    result = materialize(defs, ["seed_copy_ranks", "seed_instructions_dedup", "seed_duplicates", "seed_stats"])
    assert all(evaluation.passed for evaluation in result.get_asset_check_evaluations())

    with duckdb.connect(str(state_dir / "lamini.duckdb"), read_only=True) as conn:
        stats = {row[0]: row[1:] for row in conn.execute("select seed_source, rows, share_with_input_before_dedup from seed_stats").fetchall()}
        templates = conn.execute("select count(distinct template) from seed_instructions where seed_source = 'p3'").fetchone()[0]
    assert stats["self_instruct"] == (175, pytest.approx(125 / 175, abs=1e-4))
    assert stats["p3"][0] == templates * 5 and templates == 142


def test_bad_rows_quarantined_and_counted(tmp_path: Path, write_config, state_dir: Path) -> None:
    alpaca = tmp_path / "alpaca.json"
    alpaca.write_text('[{"instruction": "Name a colour.", "input": "", "output": "Red"}, {"input": "", "output": "x"}]')
    config = write_config(f"sources:\n  - {{name: a, format: alpaca_json, path: {alpaca}, on_bad_rows: quarantine}}\n")
    defs = build_definitions(config)
    result = materialize(defs, ["seed_instructions", "seed_quarantine"], "alpaca")
    metadata = materialization_metadata(result, "seed_instructions")
    assert metadata["dagster/row_count"] == 1 and metadata["quarantined"] == 1
    with duckdb.connect(str(state_dir / "lamini.duckdb"), read_only=True) as conn:
        file, field = conn.execute("select file, field from seed_quarantine").fetchone()
    assert file.endswith("alpaca.json") and field == "instruction"


def test_bad_rows_error_names_file_line_and_field(tmp_path: Path, write_config, state_dir: Path) -> None:
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text('{"id": "t1", "instruction": "Say hi.", "instances": [{"input": "", "output": "hi"}]}\n{not json\n')
    defs = build_definitions(write_config(f"sources:\n  - {{name: s, format: self_instruct_jsonl, path: {seeds}}}\n"))
    result = materialize(defs, ["seed_instructions", "seed_quarantine"], "self_instruct", raise_on_error=False)
    assert not result.success
    failure = next(event for event in result.all_events if event.is_step_failure)
    assert "seeds.jsonl:2" in failure.step_failure_data.error.to_string()


def step_failure(result: dg.ExecuteInProcessResult) -> tuple[str, str]:
    """(description, error class name) of the run's first failed step."""
    failure = next(event for event in result.all_events if event.is_step_failure)
    data = failure.step_failure_data
    return data.user_failure_data.description if data.user_failure_data else "", data.error.cls_name


def test_empty_templates_and_outputs_are_counted_in_metadata_and_stats(tmp_path: Path, write_config, state_dir: Path) -> None:
    folder = tmp_path / "p3"
    shutil.copytree(SHARED_DATA / "p3_t0_sample", folder)
    (folder / "empty_template.jsonl").write_bytes(b"")
    first = sorted(folder.glob("*.jsonl"))[0]
    rows = [json.loads(line) for line in first.read_text(encoding="utf-8").splitlines() if line.strip()]
    for row in rows[:4]:
        row["completion"] = "<|endoftext|>"
    first.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    config = write_config(f"sources:\n  - {{name: p3, format: p3_templates, path: {folder}, on_bad_rows: quarantine}}\n")
    defs = build_definitions(config)
    result = materialize(defs, ["seed_instructions", "seed_quarantine"], "p3")
    metadata = materialization_metadata(result, "seed_instructions")
    assert metadata["p3.empty_files"] == 1 and "p3: p3/empty_template.jsonl" in metadata["empty_files"]
    assert metadata["p3.empty_outputs"] == metadata["empty_outputs"] == 4
    assert metadata["dagster/row_count"] == 28_246
    materialize(defs, ["seed_copy_ranks", "seed_instructions_dedup", "seed_duplicates", "seed_stats"])
    with duckdb.connect(str(state_dir / "lamini.duckdb"), read_only=True) as conn:
        stats = dict(conn.execute("select seed_source, empty_outputs_before_dedup from seed_stats").fetchall())
    assert stats == {"p3": 4, "all": 4}


def test_bad_source_beside_a_good_one_fails_the_pool(tmp_path: Path, write_config, state_dir: Path) -> None:
    utf16 = tmp_path / "more_seeds.jsonl"
    utf16.write_bytes((SHARED_DATA / "self_instruct_seed_tasks.jsonl").read_text(encoding="utf-8").encode("utf-16"))
    config = write_config(
        f"""sources:
  - {{name: good, format: self_instruct_jsonl, path: {SHARED_DATA / 'self_instruct_seed_tasks.jsonl'}}}
  - {{name: bad, format: self_instruct_jsonl, path: {utf16}, on_bad_rows: quarantine}}
"""
    )
    result = materialize(build_definitions(config), ["seed_instructions", "seed_quarantine"], "self_instruct",
                         raise_on_error=False)
    assert not result.success
    description, error_class = step_failure(result)
    assert error_class == "Failure"
    assert re.match(rf"{re.escape(str(utf16))}: source 'bad': (\d+) of \1 rows quarantined", description)
    assert "wrong encoding: starts with a UTF-16 LE byte-order mark" in description


def test_config_error_inside_an_asset_is_one_line_failure(write_config, state_dir: Path) -> None:
    config = write_config(f"sources:\n  - {{name: s, format: self_instruct_jsonl, path: {SHARED_DATA / 'self_instruct_seed_tasks.jsonl'}}}\n")
    defs = build_definitions(config)
    # The file changes after the definitions loaded (dagster dev keeps running while the user edits it).
    config.write_text(config.read_text(encoding="utf-8").replace("path:", "max_rows: many, path:"), encoding="utf-8")
    result = materialize(defs, ["seed_instructions", "seed_quarantine"], "self_instruct", raise_on_error=False)
    description, error_class = step_failure(result)
    assert error_class == "Failure"
    assert description == f"{config}: sources.0.max_rows: Input should be a valid integer, unable to parse string as an integer"


def test_hf_dataset_cache_lives_in_the_state_dir_and_clean_state_removes_it(
    write_config, state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datasets
    import subprocess

    user_cache = state_dir.parent / "user_hf_cache"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", user_cache)
    p3_file = sorted((SHARED_DATA / "p3_t0_sample").glob("*.jsonl"), key=lambda p: p.stat().st_size)[-1]
    config = write_config(
        f"""sources:
  - name: p3_as_hf
    format: hf_dataset
    pool: p3
    path: {p3_file}
    columns: {{instruction: prompt, output: completion}}
""",
    )
    result = materialize(build_definitions(config), ["seed_instructions", "seed_quarantine"], "p3")
    assert materialization_metadata(result, "seed_instructions")["dagster/row_count"] > 100
    assert list((state_dir / "hf_datasets_cache").rglob("*.arrow"))
    assert not user_cache.exists() or not any(p.is_file() for p in user_cache.rglob("*"))

    project_root = Path(__file__).resolve().parents[2]
    subprocess.run(["make", "clean-state"], cwd=project_root, check=True, capture_output=True,
                   env={**__import__("os").environ, "LAMINI_STATE_DIR": str(state_dir)})
    assert not (state_dir / "hf_datasets_cache").exists()
