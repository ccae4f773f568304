"""A backfill of some instruction sources, launched as the UI launches it, touches no other partition."""

import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from lamini_assets.defs import build_definitions
from lamini_assets.defs.partitions import response_partition_key
from tests.support.dagster_runs import SEED_SQL_AND_TOPICS, materialize, materialize_source
from tests.support.webserver import dagster_server, graphql

LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}
"""
BACKFILL_STATUS = """
query($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status } } }
"""
# Sources' instructions and, through Dagster's partition mapping, every registered shard of their responses.
TEACHER_ASSETS = ["instructions", "instruction_rejects", "responses", "teacher_failures"]


@pytest.mark.slow
def test_backfill_of_two_sources_leaves_the_others_untouched(state_dir: Path) -> None:
    defs = build_definitions()
    instance = dg.DagsterInstance.get()  # the instance `dagster dev` serves, not an ephemeral one
    for pool in ("self_instruct", "alpaca", "p3", "flan"):
        materialize(defs, ["seed_instructions", "seed_quarantine"], pool, instance=instance)
    materialize(defs, SEED_SQL_AND_TOPICS, instance=instance)
    materialize_source(defs, "original_flan", instance=instance)  # registers response shard 0000
    untouched_before = instance.get_latest_materialization_event(dg.AssetKey("responses"))

    with dagster_server("dagster dev") as port:
        launched = graphql(port, LAUNCH_BACKFILL, {"params": {
            "assetSelection": [{"path": [name]} for name in TEACHER_ASSETS],
            "partitionNames": ["alpaca", "generated_p3"],
        }})["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        deadline = time.monotonic() + 400
        status = "REQUESTED"
        while status in {"REQUESTED", "CANCELING", "FAILING"} and time.monotonic() < deadline:
            time.sleep(2)
            status = graphql(port, BACKFILL_STATUS, {"id": launched["backfillId"]})["partitionBackfillOrError"]["status"]
    assert status in {"COMPLETED", "COMPLETED_SUCCESS"}, status

    materialized = instance.get_materialized_partitions(dg.AssetKey("responses"))
    assert materialized == {str(response_partition_key(s)) for s in ("alpaca", "generated_p3", "original_flan")}
    original_flan = instance.get_latest_materialization_event(dg.AssetKey("responses"))
    assert original_flan.run_id != untouched_before.run_id  # the backfill ran after...
    flan_events = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("responses"),
                              asset_partitions=[response_partition_key("original_flan")]), limit=10
    ).records
    assert [record.run_id for record in flan_events] == [untouched_before.run_id]  # ...but never re-ran original_flan
    with duckdb.connect(str(state_dir / "lamini.duckdb"), read_only=True) as conn:
        sources = {row[0] for row in conn.execute("select distinct instruction_source from responses").fetchall()}
    assert sources == {"alpaca", "generated_p3", "original_flan"}
