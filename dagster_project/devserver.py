"""Start and stop ``dagster dev`` reliably from scripts and tests.

Measured here: a ``dagster dev`` started in the background without job control ignores SIGINT and
SIGTERM sent to its pid alone, so it is started in a new session and stopped with SIGINT to the
whole process group (webserver, daemon and code server go down together).
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
from pathlib import Path
from typing import IO

import requests

REPO_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _dagster_cli() -> list[str]:
    exe = Path(sys.executable).with_name("dagster")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "dagster"]


def wait_until_ready(url: str, proc: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dagster dev exited early with code {proc.returncode}")
        try:
            if requests.get(f"{url}/server_info", timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(1.0)
    raise TimeoutError(f"dagster dev did not answer on {url} within {timeout_s:.0f}s")


def stop(proc: subprocess.Popen, timeout_s: float = 60.0) -> int:
    """SIGINT to the process group (what Ctrl-C does), SIGKILL if it does not stop in time."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    return int(proc.returncode)


@contextmanager
def dagster_dev(
    env: dict[str, str], port: int | None = None, log: IO[bytes] | None = None, ready_timeout_s: float = 180.0
) -> Iterator[str]:
    """Run ``dagster dev`` on 127.0.0.1 from the repository root; yields its base URL."""
    port = port or free_port()
    proc = subprocess.Popen(
        [*_dagster_cli(), "dev", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO_ROOT, env=env, stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, proc, ready_timeout_s)
        yield url
    finally:
        stop(proc)


LAUNCH_RUN = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
    ... on PipelineNotFoundError { message }
  }
}
"""

RUN_STATUS = """
query Status($runId: ID!) { runOrError(runId: $runId) { __typename ... on Run { status } } }
"""

def graphql(url: str, query: str, variables: dict) -> dict:
    response = requests.post(f"{url}/graphql", json={"query": query, "variables": variables}, timeout=60)
    if not response.ok:
        raise RuntimeError(f"GraphQL HTTP {response.status_code}: {response.text[:2000]}")
    body = response.json()
    if body.get("errors"):
        raise RuntimeError(f"GraphQL errors: {body['errors']}")
    return body["data"]


def launch_job(url: str, job: str, location: str = "hybridrec", run_config: dict | None = None) -> str:
    """Launch ``job`` through the webserver's GraphQL API; returns the run id."""
    params = {
        "selector": {"repositoryLocationName": location, "repositoryName": "__repository__", "jobName": job},
        "runConfigData": run_config or {},
    }
    result = graphql(url, LAUNCH_RUN, {"params": params})["launchRun"]
    if result["__typename"] != "LaunchRunSuccess":
        raise RuntimeError(f"launchRun failed: {result}")
    return result["run"]["runId"]


def wait_for_run(url: str, run_id: str, timeout_s: float = 300.0) -> str:
    """Poll until the run ends; returns its final status (SUCCESS, FAILURE, CANCELED)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = graphql(url, RUN_STATUS, {"runId": run_id})["runOrError"].get("status")
        if status in {"SUCCESS", "FAILURE", "CANCELED"}:
            return status
        time.sleep(2.0)
    raise TimeoutError(f"run {run_id} did not finish within {timeout_s:.0f}s")
