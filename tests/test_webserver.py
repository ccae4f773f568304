"""The real dagster-webserver serves the asset graph: groups, partitions and checks over GraphQL."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]

ASSET_QUERY = """
{
  assetNodes {
    assetKey { path }
    groupName
    description
    isPartitioned
    partitionKeys
    kinds
    assetChecksOrError { ... on AssetChecks { checks { name } } }
  }
}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def wait_until_serving(port: int, server: subprocess.Popen, deadline_seconds: float = 120) -> None:
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        assert server.poll() is None, "dagster-webserver exited early"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError("dagster-webserver did not start")


def test_webserver_serves_graph_groups_partitions_and_checks(state_dir: Path) -> None:
    port = free_port()
    webserver = Path(sys.executable).with_name("dagster-webserver")
    server = subprocess.Popen(
        [str(webserver), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=PROJECT_ROOT,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_serving(port, server)
        nodes = []
        for _ in range(60):  # the code location loads after the server answers
            nodes = graphql(port, ASSET_QUERY)["data"]["assetNodes"]
            if nodes:
                break
            time.sleep(1)
        by_key = {"/".join(node["assetKey"]["path"]): node for node in nodes}

        seeds = by_key["seed_instructions"]
        assert seeds["groupName"] == "seeds" and seeds["isPartitioned"]
        assert sorted(seeds["partitionKeys"]) == ["alpaca", "flan", "p3", "self_instruct"]
        assert "duckdb" in seeds["kinds"] and seeds["description"]
        assert {check["name"] for check in seeds["assetChecksOrError"]["checks"]} >= {
            "seed_partition_has_rows",
            "seed_instructions_not_empty",
        }
        assert by_key["seed_stats"]["groupName"] == "seeds" and not by_key["seed_stats"]["isPartitioned"]
        groups = {node["groupName"] for node in nodes}
        assert {"seeds"} <= groups
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
