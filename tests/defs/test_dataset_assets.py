"""lamini_dataset materialised on tmp state: versions, tables, checks, a crash mid-export, automation."""

import hashlib
import json
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from lamini_assets.config import load_config
from lamini_assets.dataset import exports, latest_version, read_version
from lamini_assets.defs import build_definitions
from lamini_assets.schema import INSTRUCTION_SOURCES
from lamini_assets.defs.partitions import response_partition_key
from tests.support.dagster_runs import (
    PROJECT_ROOT,
    SEED_SQL_AND_TOPICS,
    materialization_metadata,
    materialize,
    materialize_source,
)

SAMPLE = PROJECT_ROOT / "data" / "sample"


def every_source_yaml(alpaca: Path) -> str:
    return f"""sources:
  - {{name: si, format: self_instruct_jsonl, path: {SAMPLE / 'self_instruct_seed_tasks.jsonl'}}}
  - {{name: al, format: alpaca_json, path: {alpaca}}}
  - {{name: p3, format: p3_templates, path: {SAMPLE / 'p3'}, max_rows_per_template: 10}}
  - {{name: flan, format: flan, path: {SAMPLE / 'flan_v2.jsonl'}, max_rows_per_template: 10}}
generation:
  calls_per_partition: {{self_instruct_without_topic: 2, self_instruct_with_topic: 1, generated_p3: 1, generated_flan: 1}}
  topics: {{path: {SAMPLE / 'wikipedia' / 'category_sample.sql.gz'}, format: sql_dump}}
"""


def alpaca_only_yaml(alpaca: Path, extra: str = "") -> str:
    return f"""sources:
  - {{name: al, format: alpaca_json, path: {alpaca}}}
generation:
  calls_per_partition: {{self_instruct_without_topic: 0, self_instruct_with_topic: 0, generated_p3: 0, generated_flan: 0}}
{extra}"""


def write_alpaca(path: Path, extra_rows: int = 0) -> Path:
    rows = json.loads((SAMPLE / "alpaca_data.json").read_text())[:20]
    rows += [{"instruction": f"List {n} uses of a paper clip at school.", "input": "", "output": "..."} for n in range(2, 2 + extra_rows)]
    path.write_text(json.dumps(rows))
    return path


def file_digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def check_results(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_two_materialisations_with_a_changed_row_leave_two_versions(tmp_path: Path, write_config, state_dir: Path) -> None:
    alpaca = write_alpaca(tmp_path / "alpaca.json")
    defs = build_definitions(write_config(every_source_yaml(alpaca)))
    instance = dg.DagsterInstance.get()
    for pool in ("self_instruct", "alpaca", "p3", "flan"):
        materialize(defs, ["seed_instructions", "seed_quarantine"], pool, instance=instance)
    materialize(defs, SEED_SQL_AND_TOPICS, instance=instance)
    for label in INSTRUCTION_SOURCES:
        materialize_source(defs, label, instance=instance)

    first = materialize(defs, ["lamini_dataset"], instance=instance)
    assert check_results(first) == {"row_ids_unique": True, "every_source_present": True}
    meta = materialization_metadata(first, "lamini_dataset")
    v1 = meta["dataset/version"]
    assert meta["dataset/new_version"] is True and len(v1) == 16
    assert first.get_asset_materialization_events()[0].materialization.tags["dagster/data_version"] == v1
    assert {k.removeprefix("rows/") for k in meta if k.startswith("rows/")} == set(INSTRUCTION_SOURCES)
    store = load_config(state_dir.parent / "pipeline.yaml").artifact_store()
    folder1 = Path(meta["dataset/folder"])
    assert folder1 == Path(store.uri(f"lamini_dataset/{v1}")) and Path(meta["dataset/card"]).is_file()
    assert f"version: {v1}" in Path(meta["dataset/card"]).read_text()
    assert latest_version(store) == v1

    # Teacher figures summed over every partition of instructions and responses.
    requests = 0
    for asset in ("instructions", "responses"):
        for event in instance.fetch_materializations(dg.AssetKey(asset), limit=100).records:
            requests += event.asset_materialization.metadata["teacher/requests"].value if "teacher/requests" in event.asset_materialization.metadata else 0
    assert meta["teacher_latest/requests"] == meta["teacher_all_runs/requests"] == requests > 0
    assert meta["dataset/response_prompt_tokens"] > 0

    before = file_digests(folder1)
    again = materialization_metadata(materialize(defs, ["lamini_dataset"], instance=instance), "lamini_dataset")
    assert again["dataset/version"] == v1 and again["dataset/new_version"] is False

    # One more Alpaca row: a new version beside the first, whose files stay byte for byte.
    write_alpaca(alpaca, extra_rows=1)
    materialize(defs, ["seed_instructions", "seed_quarantine"], "alpaca", instance=instance)
    materialize(defs, SEED_SQL_AND_TOPICS, instance=instance)
    materialize_source(defs, "alpaca", instance=instance)
    changed = materialization_metadata(materialize(defs, ["lamini_dataset"], instance=instance), "lamini_dataset")
    v2 = changed["dataset/version"]
    assert v2 != v1 and changed["dataset/new_version"] is True
    assert file_digests(folder1) == before
    assert sorted(p.name for p in folder1.parent.iterdir()) == sorted([v1, v2, "latest"])
    assert latest_version(store) == v2
    assert read_version(store, v2).height == read_version(store, v1).height + 1

    with duckdb.connect(str(state_dir / "lamini.duckdb"), read_only=True) as conn:
        versions = conn.execute("select version, rows_per_source, config_hash, code_version, uri from dataset_versions order by created_at").fetchall()
        assert [row[0] for row in versions] == [v1, v2]
        assert json.loads(versions[1][1])["alpaca"] == json.loads(versions[0][1])["alpaca"] + 1
        assert versions[0][2] == meta["config_hash"] and versions[0][4] == str(folder1)
        assert versions[0][3] == defs.resolve_assets_def("lamini_dataset").code_versions_by_key[dg.AssetKey("lamini_dataset")]
        # Which rows were in version V: one query, no text copied per version.
        only_in_v2 = conn.execute(
            "select count(*) from dataset_rows where version = ? and row_id not in (select row_id from dataset_rows where version = ?)",
            [v2, v1],
        ).fetchone()[0]
        assert only_in_v2 == 1
        provenance = conn.execute(
            "select count(*) from lamini_dataset where instruction_source like 'generated%' and "
            "(generation_cache_key is null or len(example_ids) = 0 or generation_template_version is null)"
        ).fetchone()[0]
        assert provenance == 0

    # The pipeline config's hash is in every materialisation's metadata.
    for key in defs.resolve_asset_graph().get_all_asset_keys():
        for record in instance.fetch_materializations(key, limit=100).records:
            assert record.asset_materialization.metadata["config_hash"].value == meta["config_hash"], key


def test_a_crash_mid_export_leaves_no_version(tmp_path: Path, write_config, state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    alpaca = write_alpaca(tmp_path / "alpaca.json")
    absent = [s for s in INSTRUCTION_SOURCES if s != "alpaca"]
    defs = build_definitions(write_config(alpaca_only_yaml(alpaca, f"dataset: {{absent_sources: {absent}}}\n")))
    materialize(defs, ["seed_instructions", "seed_quarantine"], "alpaca")
    materialize(defs, SEED_SQL_AND_TOPICS)
    materialize_source(defs, "alpaca")
    v1 = materialization_metadata(materialize(defs, ["lamini_dataset"]), "lamini_dataset")["dataset/version"]

    write_alpaca(alpaca, extra_rows=2)
    materialize(defs, ["seed_instructions", "seed_quarantine"], "alpaca")
    materialize(defs, SEED_SQL_AND_TOPICS)
    materialize_source(defs, "alpaca")

    def crash(*args: object) -> None:
        raise OSError("disk full while writing hf_dataset")

    with monkeypatch.context() as patch:  # (monkeypatch.undo would undo the state folder too)
        patch.setattr(exports.HfFolderWriter, "write", crash)
        failed = materialize(defs, ["lamini_dataset"], raise_on_error=False)
    assert not failed.success
    root = state_dir / "artifacts" / "lamini_dataset"
    assert sorted(p.name for p in root.iterdir()) == sorted([v1, "latest"])  # no new folder, no staging left
    assert (root / "latest").read_text() == v1
    with duckdb.connect(str(state_dir / "lamini.duckdb"), read_only=True) as conn:
        assert conn.execute("select list(version) from dataset_versions").fetchone()[0] == [v1]

    v2 = materialization_metadata(materialize(defs, ["lamini_dataset"]), "lamini_dataset")["dataset/version"]
    assert v2 != v1 and (root / "latest").read_text() == v2


def test_blocking_checks_fail_on_a_missing_source_and_a_repeated_row_id(tmp_path: Path, write_config, state_dir: Path) -> None:
    alpaca = write_alpaca(tmp_path / "alpaca.json")
    defs = build_definitions(write_config(alpaca_only_yaml(alpaca)))
    materialize(defs, ["seed_instructions", "seed_quarantine"], "alpaca")
    materialize(defs, SEED_SQL_AND_TOPICS)
    materialize_source(defs, "alpaca")

    # The config feeds only the alpaca pool: the six other sources may be absent, alpaca may not.
    fed = materialize(defs, ["lamini_dataset"])
    assert check_results(fed) == {"row_ids_unique": True, "every_source_present": True}
    relabel = "update {table} set instruction_source = '{label}'"
    with duckdb.connect(str(state_dir / "lamini.duckdb")) as conn:  # alpaca's rows now seem to be FLAN's
        for table in ("instructions", "responses"):
            conn.execute(relabel.format(table=table, label="original_flan"))
    missing = materialize(defs, ["lamini_dataset"], raise_on_error=False)
    assert check_results(missing) == {"row_ids_unique": True, "every_source_present": False}
    assert not missing.success  # blocking: the run fails, downstream would not run
    (evaluation,) = [e for e in missing.get_asset_check_evaluations() if e.check_name == "every_source_present"]
    assert evaluation.metadata["missing"].value == "alpaca"

    defs = build_definitions(write_config(alpaca_only_yaml(alpaca, "dataset: {absent_sources: [alpaca]}\n")))
    allowed = materialize(defs, ["lamini_dataset"])
    assert check_results(allowed) == {"row_ids_unique": True, "every_source_present": True}
    with duckdb.connect(str(state_dir / "lamini.duckdb")) as conn:
        for table in ("instructions", "responses"):
            conn.execute(relabel.format(table=table, label="alpaca"))

    # The same response twice in `responses` gives two rows with one row_id.
    with duckdb.connect(str(state_dir / "lamini.duckdb")) as conn:
        conn.execute("insert into responses select * from responses limit 1")
    repeated = materialize(defs, ["lamini_dataset"], raise_on_error=False)
    assert check_results(repeated) == {"row_ids_unique": False, "every_source_present": True}
    assert not repeated.success


def requested(result: dg.EvaluateAutomationConditionsResult) -> set[str]:
    """Asset keys the evaluation would start a run for."""
    return {r.key.to_user_string() for r in result.results if isinstance(r.key, dg.AssetKey) and r.true_subset.size}


def test_declarative_automation_follows_upstream_but_never_starts_the_teacher(tmp_path: Path, write_config, state_dir: Path) -> None:
    alpaca = write_alpaca(tmp_path / "alpaca.json")
    absent = [s for s in INSTRUCTION_SOURCES if s != "alpaca"]
    body = alpaca_only_yaml(alpaca, f"dataset: {{absent_sources: {absent}}}\n")
    defs = build_definitions(write_config(body))
    sensor = defs.resolve_sensor_def("lamini_automation")  # what `make ui`'s daemon runs, on from the start
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    instance = dg.DagsterInstance.ephemeral()
    materialize(defs, ["seed_instructions", "seed_quarantine"], "alpaca", instance=instance)
    materialize(defs, SEED_SQL_AND_TOPICS, instance=instance)
    materialize_source(defs, "alpaca", instance=instance)
    materialize(defs, ["lamini_dataset"], instance=instance)
    settled = dg.evaluate_automation_conditions(defs=defs, instance=instance)

    # New responses: the dataset follows by itself.
    materialize(defs, ["responses"], response_partition_key("alpaca"), instance=instance)
    after_responses = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=settled.cursor)
    assert requested(after_responses) == {"lamini_dataset"}

    # New seeds: the SQL models follow; the teacher-calling assets do not start (they cost money)...
    materialize(defs, ["lamini_dataset"], instance=instance)
    settled = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=after_responses.cursor)
    # ...unless the config allows it.
    allowed = build_definitions(write_config(body + "automation: {teacher_assets: true}\n"))
    settled_allowed = dg.evaluate_automation_conditions(defs=allowed, instance=instance, cursor=after_responses.cursor)
    materialize(defs, ["seed_instructions", "seed_quarantine"], "alpaca", instance=instance)
    after_seeds = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=settled.cursor)
    assert requested(after_seeds) == {"seed_copy_ranks", "seed_instructions_dedup", "seed_duplicates", "seed_stats"}
    with_teacher = dg.evaluate_automation_conditions(defs=allowed, instance=instance, cursor=settled_allowed.cursor)
    assert requested(with_teacher) == requested(after_seeds)  # same so far: the SQL models first
    materialize(defs, SEED_SQL_AND_TOPICS, instance=instance)  # what the daemon's run does
    next_tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=after_seeds.cursor)
    assert not requested(next_tick) & {"instructions", "instruction_rejects", "responses"}
    next_tick_allowed = dg.evaluate_automation_conditions(defs=allowed, instance=instance, cursor=with_teacher.cursor)
    assert "instructions" in requested(next_tick_allowed)
    assert next_tick_allowed.get_num_requested(dg.AssetKey("instructions")) == len(INSTRUCTION_SOURCES)
    # Response shards (another partitions definition, so another run) follow once their source's
    # instructions are written: alpaca's one shard.
    materialize(allowed, ["instructions", "instruction_rejects"], "alpaca", instance=instance)
    after_instructions = dg.evaluate_automation_conditions(defs=allowed, instance=instance, cursor=next_tick_allowed.cursor)
    assert after_instructions.get_num_requested(dg.AssetKey("responses")) == 1
