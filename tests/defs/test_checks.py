"""Every check can fail: each test drives the pipeline on real seed data into the state the check
guards against and sees it fail; and content-hash data versions make staleness exact."""

import json
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest
from dagster._core.definitions.data_version import StaleStatus
from dagster._utils.test.data_versions import get_stale_status_resolver

from lamini_assets.defs import build_definitions
from lamini_assets.demo import QUIET_RUN_CONFIG
from lamini_assets.warehouse import read_table, replace_partition
from lamini_assets.defs.partitions import response_partition_key
from tests.support.dagster_runs import (
    INSTRUCTION_ASSETS,
    PROJECT_ROOT,
    SEED_SQL_AND_TOPICS,
    SHARED_DATA,
    TOPICS_SAMPLE,
    materialize,
    materialize_source,
)
from tests.support.loopback_openai import Fault, LoopbackServer, LoopbackSettings, start_loopback_server

ALPACA_SAMPLE = PROJECT_ROOT / "data" / "sample" / "alpaca_data.json"


def pipeline_yaml(p3_per_template: int, extra: str = "") -> str:
    return f"""sources:
  - {{name: si, format: self_instruct_jsonl, path: {SHARED_DATA / 'self_instruct_seed_tasks.jsonl'}}}
  - {{name: p3, format: p3_templates, path: {SHARED_DATA / 'p3_t0_sample'}, max_rows_per_template: {p3_per_template}}}
  - {{name: al, format: alpaca_json, path: {ALPACA_SAMPLE}}}
generation:
  calls_per_partition: {{self_instruct_without_topic: 2, self_instruct_with_topic: 0, generated_p3: 0, generated_flan: 0}}
  topics: {{path: {TOPICS_SAMPLE}}}
{extra}"""


def build_seeds(defs: dg.Definitions, instance: dg.DagsterInstance, pools: tuple[str, ...] = ("self_instruct", "p3", "alpaca")) -> None:
    for pool in pools:
        materialize(defs, ["seed_instructions", "seed_quarantine"], pool, instance=instance)
    materialize(defs, SEED_SQL_AND_TOPICS, instance=instance)


def run_checks(defs: dg.Definitions, instance: dg.DagsterInstance, asset: str, partition: str | None = None) -> dict[str, dg.AssetCheckEvaluation]:
    """Run an asset's checks alone (as from the UI's "Execute checks"), without rematerialising it."""
    job = dg.define_asset_job("run_checks", selection=dg.AssetSelection.checks_for_assets(asset))
    with_job = dg.Definitions(assets=defs.assets, asset_checks=defs.asset_checks, jobs=[job], resources=defs.resources)
    result = with_job.resolve_job_def("run_checks").execute_in_process(
        # The partition as a run tag: a checks-only selection has no asset for Dagster to validate the key against.
        run_config=QUIET_RUN_CONFIG, instance=instance, raise_on_error=False,
        tags={"dagster/partition": partition} if partition else None,
    )
    return {evaluation.check_name: evaluation for evaluation in result.get_asset_check_evaluations()}


def test_seed_dedup_out_of_date_with_the_pools_fails(write_config, state_dir: Path) -> None:
    config = write_config(pipeline_yaml(3))
    instance = dg.DagsterInstance.get()
    defs = build_definitions(config)
    build_seeds(defs, instance)
    assert run_checks(defs, instance, "seed_instructions_dedup")["seed_dedup_keeps_one_of_each"].passed

    # More P3 rows reach seed_instructions, but dedup was not rebuilt.
    config.write_text(pipeline_yaml(4), encoding="utf-8")
    defs = build_definitions(config)
    materialize(defs, ["seed_instructions", "seed_quarantine"], "p3", instance=instance)
    evaluation = run_checks(defs, instance, "seed_instructions_dedup")["seed_dedup_keeps_one_of_each"]
    assert not evaluation.passed and evaluation.metadata["missing_ids"].value > 100

    materialize(defs, SEED_SQL_AND_TOPICS, instance=instance)
    assert run_checks(defs, instance, "seed_instructions_dedup")["seed_dedup_keeps_one_of_each"].passed


def test_changed_instructions_make_responses_incomplete_and_stale_for_that_source_only(
    write_config, state_dir: Path
) -> None:
    config = write_config(pipeline_yaml(3))
    instance = dg.DagsterInstance.get()
    defs = build_definitions(config)
    build_seeds(defs, instance)
    for label in ("alpaca", "original_p3"):
        materialize_source(defs, label, instance=instance)
    resolver = get_stale_status_resolver(instance, [*defs.assets])
    responses = dg.AssetKey("responses")
    alpaca, original_p3 = response_partition_key("alpaca"), response_partition_key("original_p3")  # one shard each
    assert {resolver.get_status(responses, key) for key in (alpaca, original_p3)} == {StaleStatus.FRESH}

    # The P3 pool grows; both original sources are rematerialised, but only original_p3's rows change.
    config.write_text(pipeline_yaml(4), encoding="utf-8")
    defs = build_definitions(config)
    build_seeds(defs, instance, ("p3",))
    for label in ("alpaca", "original_p3"):
        materialize(defs, ["instructions", "instruction_rejects"], label, instance=instance)

    resolver = get_stale_status_resolver(instance, [*defs.assets])
    # The source's shards follow its instructions (Dagster's inferred MultiToSingleDimensionPartitionMapping).
    assert resolver.get_status(responses, original_p3) == StaleStatus.STALE
    assert resolver.get_status(responses, alpaca) == StaleStatus.FRESH

    answered = run_checks(defs, instance, "responses", original_p3)["every_instruction_answered"]
    assert not answered.passed and answered.metadata["unanswered"].value > 100
    assert run_checks(defs, instance, "responses", alpaca)["every_instruction_answered"].passed

    materialize(defs, ["responses"], original_p3, instance=instance)
    assert get_stale_status_resolver(instance, [*defs.assets]).get_status(responses, original_p3) == StaleStatus.FRESH


def test_empty_partition_fails_its_run_and_its_empty_shard(write_config, state_dir: Path) -> None:
    # Filters that drop every generated candidate leave the partition empty.
    config = write_config(pipeline_yaml(1, "  filters: {min_words: 500, max_words: 600}\n"))
    instance = dg.DagsterInstance.get()
    defs = build_definitions(config)
    build_seeds(defs, instance, ("self_instruct", "p3"))
    result = materialize(defs, INSTRUCTION_ASSETS, "self_instruct_without_topic", instance=instance, raise_on_error=False)
    (has_rows,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "partition_has_rows"]
    assert not has_rows.passed and has_rows.severity == dg.AssetCheckSeverity.ERROR and not result.success
    # A backfill launches no shard of a failed source; a shard run by hand fails its own (blocking) check.
    shard = materialize(defs, ["responses"], response_partition_key("self_instruct_without_topic"), instance=instance,
                        raise_on_error=False)
    (has_rows,) = [e for e in shard.get_asset_check_evaluations() if e.check_name == "partition_has_rows"]
    assert not has_rows.passed and has_rows.severity == dg.AssetCheckSeverity.ERROR and not shard.success


def test_repeated_ids_fail_the_uniqueness_checks(write_config, state_dir: Path) -> None:
    config = write_config(pipeline_yaml(1))
    instance = dg.DagsterInstance.get()
    defs = build_definitions(config)
    build_seeds(defs, instance, ("alpaca",))
    materialize_source(defs, "alpaca", instance=instance)
    assert run_checks(defs, instance, "instructions", "alpaca")["instruction_ids_unique"].passed
    # A writer bug that appends instead of replacing: every row twice.
    with duckdb.connect(str(state_dir / "lamini.duckdb")) as conn:
        heights = {}
        for table in ("instructions", "responses"):
            rows = read_table(conn, table, "instruction_source", ["alpaca"])
            heights[table] = rows.height
            replace_partition(conn, table, pl.concat([rows, rows]), {"instruction_source": "alpaca"})
    for table, partition in (("instructions", "alpaca"), ("responses", response_partition_key("alpaca"))):
        evaluation = run_checks(defs, instance, table, partition)["instruction_ids_unique"]
        assert not evaluation.passed and evaluation.metadata["repeated_ids"].value == heights[table] > 50


@pytest.fixture
def faulty_teacher() -> Iterator[LoopbackServer]:
    server = start_loopback_server(LoopbackSettings(faults=[
        Fault(marker="three tips", kind="status", status=500),
        Fault(marker="primary colours", kind="truncate"),
        Fault(marker="water cycle", kind="truncate"),
        Fault(marker="capital of Canada", kind="truncate"),
    ]))
    try:
        yield server
    finally:
        server.stop()


def test_failed_share_warns_and_truncated_share_above_its_limit_fails(
    write_config, state_dir: Path, faulty_teacher: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPBACK_KEY", "unused")
    config = write_config(pipeline_yaml(1, f"""teacher:
  backend: openai
  model: loopback-model
  base_url: {faulty_teacher.base_url}
  api_key_env: LOOPBACK_KEY
  max_attempts: 1
responses: {{max_failed_share: 0.05, max_truncated_share: 0.04}}
"""))
    instance = dg.DagsterInstance.get()
    defs = build_definitions(config)
    build_seeds(defs, instance, ("alpaca",))
    *_, result = materialize_source(defs, "alpaca", instance=instance, raise_on_error=False)
    checks = {e.check_name: e for e in result.get_asset_check_evaluations() if e.asset_key.to_user_string() == "responses"}
    with duckdb.connect(str(state_dir / "lamini.duckdb"), read_only=True) as conn:
        failed, truncated, rows = conn.execute(
            "select count(*) filter (where finish_reason = 'error'), count(*) filter (where truncated), count(*) from responses"
        ).fetchone()
    assert rows > 50 and failed == 1 and truncated == 3
    failed_check, truncated_check = checks["failed_share_under_limit"], checks["truncated_share_under_limit"]
    assert not failed_check.passed and failed_check.severity == dg.AssetCheckSeverity.WARN
    assert not truncated_check.passed and truncated_check.severity == dg.AssetCheckSeverity.ERROR
    assert not result.success  # the ERROR one blocks
    assert json.loads(json.dumps(truncated_check.metadata["limit"].value)) == 0.04
