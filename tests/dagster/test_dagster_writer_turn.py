"""The DuckDB writer turn is an OS lock shared by processes: a step waits while another process
holds it and logs how long it waited."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from dagster import build_asset_context

from dagster_project.writer_turn import lock_path, writer_turn

HOLD = """
import sys, time
from filelock import FileLock
with FileLock(sys.argv[1]):
    open(sys.argv[2], "w").close()
    time.sleep(float(sys.argv[3]))
"""


def test_lock_file_sits_beside_the_database(tmp_path: Path) -> None:
    assert lock_path(tmp_path / "x" / "hybridrec.duckdb") == tmp_path / "x" / "hybridrec.duckdb.writer.lock"


def test_a_step_waits_for_another_process_to_finish_writing(tmp_path: Path) -> None:
    db = tmp_path / "hybridrec.duckdb"
    marker = tmp_path / "held"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lock_path(db)), str(marker), "1.5"])
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert time.monotonic() < deadline and holder.poll() is None, "lock holder did not start"
            time.sleep(0.02)
        start = time.monotonic()
        with writer_turn(build_asset_context(), db):
            waited = time.monotonic() - start
    finally:
        holder.wait(timeout=60)
    assert waited > 0.5


def test_the_turn_is_released_when_the_body_fails(tmp_path: Path) -> None:
    db = tmp_path / "hybridrec.duckdb"
    try:
        with writer_turn(build_asset_context(), db):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    with writer_turn(build_asset_context(), db):  # would block forever if the lock leaked
        pass
