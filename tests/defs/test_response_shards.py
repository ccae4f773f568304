"""Response shards on real P3 rows over the HTTP teacher path (a loopback server that fails some calls):
a source larger than responses.shard_rows gets several shards, each holding exactly the rows whose
id hashes to it; rerunning one failed shard recalls only that shard's failed calls; every row arrives
once."""

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from lamini_assets.defs import build_definitions
from lamini_assets.defs.partitions import RESPONSE_SHARDS, response_partition_key
from lamini_assets.generation.shards import shard_count, shard_key, shard_keys, shard_of
from lamini_assets.warehouse import table_version
from tests.support.dagster_runs import (
    INSTRUCTION_ASSETS,
    RESPONSE_ASSETS,
    SEED_SQL_AND_TOPICS,
    TOPICS_SAMPLE,
    materialization_metadata,
    materialize,
    materialize_responses,
)
from tests.support.loopback_openai import Fault, LoopbackServer, LoopbackSettings, start_loopback_server
from tests.support.paths import SHARED_DATA

SHARD_ROWS = 400
LABEL = "original_p3"


@pytest.fixture
def flaky_loopback() -> Iterator[LoopbackServer]:
    # The first request of ~3% of prompts gets a 500; the teacher tries once, so those calls fail and
    # a rerun (their second request) is answered.
    server = start_loopback_server(LoopbackSettings(faults=[Fault(marker="", kind="status", status=500, times=1,
                                                                  probability=0.03)], seed=7))
    try:
        yield server
    finally:
        server.stop()


def shard_versions(instance: dg.DagsterInstance) -> dict[str, list[str]]:
    """Run ids of every `responses` materialisation, by partition key."""
    found: dict[str, list[str]] = {}
    for record in instance.fetch_materializations(dg.AssetKey("responses"), limit=1000).records:
        found.setdefault(record.partition_key, []).append(record.run_id)
    return found


@pytest.mark.slow
def test_a_large_source_is_answered_in_shards_and_a_failed_shard_reruns_alone(
    tmp_path: Path, write_config, state_dir: Path, flaky_loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPBACK_KEY", "sk-loopback")
    config = write_config(f"""sources:
  - {{name: p3_t0, format: p3_templates, path: {SHARED_DATA / 'p3_t0_sample'}, max_rows_per_template: 20}}
generation:
  calls_per_partition: {{self_instruct_without_topic: 0, self_instruct_with_topic: 0, generated_p3: 0, generated_flan: 0}}
  topics: {{path: {TOPICS_SAMPLE}}}
responses: {{shard_rows: {SHARD_ROWS}}}
teacher:
  backend: openai
  model: loopback-model
  base_url: {flaky_loopback.base_url}
  api_key_env: LOOPBACK_KEY
  max_attempts: 1
""")
    defs = build_definitions(config)
    instance = dg.DagsterInstance.get()
    materialize(defs, ["seed_instructions", "seed_quarantine"], "p3", instance=instance)
    materialize(defs, SEED_SQL_AND_TOPICS, instance=instance)
    instructions = materialization_metadata(materialize(defs, INSTRUCTION_ASSETS, LABEL, instance=instance), "instructions")
    rows = instructions["dagster/row_count"]
    count = shard_count(rows, SHARD_ROWS)
    assert rows > 2_000 and count >= 5 and instructions["response_shards"] == count
    assert instance.get_dynamic_partitions(RESPONSE_SHARDS) == shard_keys(count)

    results = materialize_responses(defs, LABEL, instance, raise_on_error=False)
    assert len(results) == count
    database = state_dir / "lamini.duckdb"
    with duckdb.connect(str(database), read_only=True) as conn:
        ids = [row[0] for row in conn.execute(
            "select instruction_id from instructions where instruction_source = ?", [LABEL]).fetchall()]
        answered = conn.execute("select * from responses where instruction_source = ?", [LABEL]).pl()
    # Every instruction answered once (answer or error row): none lost, none doubled.
    assert sorted(answered["instruction_id"].to_list()) == sorted(ids)
    by_shard = Counter(shard_of(instruction_id, count) for instruction_id in ids)
    assert len(by_shard) == count and max(by_shard.values()) < 2 * SHARD_ROWS
    for index, result in enumerate(results):
        metadata = materialization_metadata(result, "responses")
        assert metadata["shard"] == shard_key(index) and metadata["source_shards"] == count
        # The shard's rows are exactly those hashing to it, and its data version is their content hash.
        mine = answered.filter(answered["instruction_id"].map_elements(lambda i: shard_of(i, count) == index,
                                                                      return_dtype=bool))
        assert metadata["dagster/row_count"] == mine.height == by_shard[index]
        (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey("responses")]
        assert event.materialization.tags["dagster/data_version"] == table_version(mine)

    errors = answered.filter(answered["finish_reason"] == "error")
    failed_by_shard = Counter(shard_of(instruction_id, count) for instruction_id in errors["instruction_id"])
    assert len(failed_by_shard) >= 2, failed_by_shard  # several shards failed: rerun just one of them
    failed_runs = {index for index, result in enumerate(results) if not result.success}
    # A shard whose failed share is above responses.max_failed_share (1%) fails its run (blocking check).
    assert failed_runs == {index for index, n in failed_by_shard.items() if n / by_shard[index] > 0.01}

    target = max(failed_by_shard, key=lambda index: failed_by_shard[index])
    before = shard_versions(instance)
    requests_before = flaky_loopback.stats()["total_requests"]
    rerun = materialize(defs, RESPONSE_ASSETS, response_partition_key(LABEL, shard_key(target)), instance=instance)
    assert rerun.success
    metadata = materialization_metadata(rerun, "responses")
    # Only that shard's failed calls went to the teacher again; its other answers came from the cache.
    assert flaky_loopback.stats()["total_requests"] - requests_before == failed_by_shard[target]
    assert metadata["teacher/misses"] == failed_by_shard[target]
    assert metadata["teacher/cache_hits"] == by_shard[target] - failed_by_shard[target]

    after = shard_versions(instance)
    target_key = str(response_partition_key(LABEL, shard_key(target)))
    assert {key: runs for key, runs in after.items() if key != target_key} == {
        key: runs for key, runs in before.items() if key != target_key}  # no other shard ran
    with duckdb.connect(str(database), read_only=True) as conn:
        now = conn.execute("select instruction_id, finish_reason from responses where instruction_source = ?",
                           [LABEL]).pl()
        failures = conn.execute("select row_id from teacher_failures where asset = 'responses'").pl()
    assert sorted(now["instruction_id"].to_list()) == sorted(ids)  # still every row once
    still_failed = Counter(shard_of(i, count) for i in now.filter(now["finish_reason"] == "error")["instruction_id"])
    assert still_failed == Counter({k: n for k, n in failed_by_shard.items() if k != target})
    assert Counter(shard_of(i, count) for i in failures["row_id"]) == still_failed

    # The rerun's answered calls changed rows: the shard was rewritten. Run again, nothing changed: every
    # row rebuilt from the cache, no call, the same data version, and the table left untouched.
    assert metadata["table_rewritten"] is True and metadata["rows_replaced"] == by_shard[target]
    requests_before = flaky_loopback.stats()["total_requests"]
    again = materialize(defs, RESPONSE_ASSETS, response_partition_key(LABEL, shard_key(target)), instance=instance)
    again_metadata = materialization_metadata(again, "responses")
    assert flaky_loopback.stats()["total_requests"] == requests_before
    assert again_metadata["teacher/cache_hits"] == by_shard[target]
    assert again_metadata["table_rewritten"] is False and again_metadata["rows_replaced"] == 0
    versions = [[e.materialization.tags["dagster/data_version"] for e in result.get_asset_materialization_events()
                 if e.asset_key == dg.AssetKey("responses")] for result in (rerun, again)]
    assert versions[0] == versions[1]
