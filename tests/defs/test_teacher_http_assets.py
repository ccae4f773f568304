"""The responses asset over the real HTTP path: the openai backend against a loopback server."""

import json
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from lamini_assets.defs import build_definitions
from lamini_assets.defs.partitions import response_partition_key
from tests.support.dagster_runs import SEED_SQL_AND_TOPICS, TOPICS_SAMPLE, materialization_metadata, materialize
from tests.support.loopback_openai import Fault, LoopbackServer, LoopbackSettings, start_loopback_server

SECRET = "sk-loopback-7f3c9a1e5b2d4c6e8f0a"


@pytest.fixture
def loopback() -> Iterator[LoopbackServer]:
    server = start_loopback_server(LoopbackSettings(required_api_key=SECRET, faults=[Fault(marker="ALWAYS-FAILS", kind="status", status=500)]))
    try:
        yield server
    finally:
        server.stop()


def test_responses_through_http_record_failures_and_never_leak_the_key(
    tmp_path: Path, write_config, state_dir: Path, loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    alpaca = tmp_path / "alpaca.json"
    rows = [{"instruction": f"Give {n} reasons to learn {topic}.", "input": "", "output": "..."}
            for n, topic in [(2, "Python"), (3, "French"), (4, "chess")]]
    rows.append({"instruction": "ALWAYS-FAILS: describe a sunset.", "input": "", "output": "..."})
    alpaca.write_text(json.dumps(rows))
    monkeypatch.setenv("LOOPBACK_KEY", SECRET)
    config = write_config(f"""sources:
  - {{name: al, format: alpaca_json, path: {alpaca}}}
generation:
  topics: {{path: {TOPICS_SAMPLE}}}
teacher:
  backend: openai
  model: loopback-model
  base_url: {loopback.base_url}
  api_key_env: LOOPBACK_KEY
  max_attempts: 2
  backoff_initial_seconds: 0.01
  backoff_max_seconds: 0.05
""")
    defs = build_definitions(config)
    instance = dg.DagsterInstance.get()
    materialize(defs, ["seed_instructions", "seed_quarantine"], "alpaca", instance=instance)
    materialize(defs, SEED_SQL_AND_TOPICS, instance=instance)
    materialize(defs, ["instructions", "instruction_rejects"], "alpaca", instance=instance)
    result = materialize(defs, ["responses", "teacher_failures"], response_partition_key("alpaca"), instance=instance,
                         raise_on_error=False)

    # 1 failed call of 4 is above responses.max_failed_share (1%): the blocking check fails the run.
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "failed_share_under_limit"]
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert not result.success
    metadata = materialization_metadata(result, "responses")
    assert metadata["teacher/backend"] == "openai" and metadata["teacher/base_url"] == loopback.base_url
    assert metadata["answered"] == 3 and metadata["failed"] == 1 and metadata["teacher/failures"] == 1
    assert loopback.stats()["total_requests"] == 3 + 2  # the failing prompt was tried max_attempts times

    with duckdb.connect(str(state_dir / "lamini.duckdb"), read_only=True) as conn:
        failure = conn.execute("select asset, instruction_source, error_class, attempts from teacher_failures").fetchall()
        failed_row = conn.execute("select finish_reason, response is null from responses where instruction like 'ALWAYS%'").fetchone()
    assert len(failure) == 1 and failure[0][:2] == ("responses", "alpaca") and failure[0][3] == 2
    assert "500" in failure[0][2] or "Server" in failure[0][2], failure
    assert failed_row == ("error", True)

    # A rerun retries only the failure: the three answers come from the cache.
    rerun = materialization_metadata(
        materialize(defs, ["responses"], response_partition_key("alpaca"), instance=instance, raise_on_error=False),
        "responses",
    )
    assert rerun["teacher/cache_hits"] == 3 and rerun["teacher/misses"] == 1
    assert loopback.stats()["total_requests"] == 5 + 2

    # The key is nowhere: not in the DuckDB file, the cache, the Dagster event log or the metadata.
    for path in [state_dir / "lamini.duckdb", *state_dir.rglob("*")]:
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    assert SECRET not in json.dumps({k: str(v) for k, v in metadata.items()})
    logs = instance.all_logs(result.run_id)
    assert all(SECRET not in (event.user_message or "") for event in logs)
