"""Start the real Dagster web server (or `dagster dev`) on loopback and talk GraphQL to it."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def graphql(port: int, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        body = json.load(response)
    assert "errors" not in body, body["errors"]
    return body["data"]


@contextmanager
def dagster_server(command: str, deadline_seconds: float = 180) -> Iterator[int]:
    """Run `dagster-webserver` or `dagster dev` from the project on a free port; yields the port.

    The server runs in its own session and is stopped by process group: `dagster dev` ignores a
    SIGTERM sent to it alone while its children run.
    """
    port = free_port()
    executable = Path(sys.executable).with_name(command.split()[0])
    server = subprocess.Popen(
        [str(executable), *command.split()[1:], "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=PROJECT_ROOT,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + deadline_seconds
        while True:
            assert server.poll() is None, f"{command} exited early with {server.returncode}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{command} did not start") from None
                time.sleep(0.5)
        yield port
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def asset_nodes(port: int, query: str, attempts: int = 60) -> list[dict[str, Any]]:
    """The asset nodes a query returns, waiting for the code location to finish loading."""
    for _ in range(attempts):
        nodes = graphql(port, query)["assetNodes"]
        if nodes:
            return nodes
        time.sleep(1)
    raise TimeoutError("the code location served no assets")
