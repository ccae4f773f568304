"""The real dagster-webserver serves the asset graph: groups, partitions and checks over GraphQL."""

from pathlib import Path

from tests.support.webserver import asset_nodes, dagster_server

ASSET_QUERY = """
{
  assetNodes {
    assetKey { path }
    groupName
    description
    isPartitioned
    partitionKeys
    partitionDefinition { dimensionTypes { name type dynamicPartitionsDefinitionName } }
    kinds
    assetChecksOrError { ... on AssetChecks { checks { name } } }
  }
}
"""


def test_webserver_serves_graph_groups_partitions_and_checks(state_dir: Path) -> None:
    with dagster_server("dagster-webserver") as port:
        nodes = asset_nodes(port, ASSET_QUERY)
    by_key = {"/".join(node["assetKey"]["path"]): node for node in nodes}

    seeds = by_key["seed_instructions"]
    assert seeds["groupName"] == "seeds" and seeds["isPartitioned"]
    assert sorted(seeds["partitionKeys"]) == ["alpaca", "flan", "p3", "self_instruct"]
    assert "duckdb" in seeds["kinds"] and seeds["description"]
    assert {check["name"] for check in seeds["assetChecksOrError"]["checks"]} >= {
        "partition_has_rows",
    }
    assert by_key["seed_stats"]["groupName"] == "seeds" and not by_key["seed_stats"]["isPartitioned"]

    responses = by_key["responses"]
    assert responses["groupName"] == "teacher"
    # instruction_source x response shard; no shard exists before an `instructions` step registers one.
    assert responses["partitionDefinition"]["dimensionTypes"] == [
        {"name": "instruction_source", "type": "STATIC", "dynamicPartitionsDefinitionName": None},
        {"name": "shard", "type": "DYNAMIC", "dynamicPartitionsDefinitionName": "response_shards"},
    ]
    assert responses["partitionKeys"] == []
    assert sorted(by_key["instructions"]["partitionKeys"]) == [
        "alpaca", "generated_flan", "generated_p3", "original_flan", "original_p3",
        "self_instruct_with_topic", "self_instruct_without_topic",
    ]
    assert by_key["instructions"]["groupName"] == "generation"
    assert {node["groupName"] for node in nodes} >= {"seeds", "generation", "teacher"}
