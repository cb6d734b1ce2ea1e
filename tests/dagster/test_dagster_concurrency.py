"""Two runs started at the same moment in two processes against one DuckDB file: both succeed,
their DuckDB-writing steps never write at the same time, and the tables are whole and consistent
afterwards.

A writer step's turn runs from its "took the DuckDB writer turn" log line to its "released the
DuckDB writer turn" line, which it logs while still holding the lock. (Its STEP_SUCCESS comes
later, after Dagster handles the outputs, and the other run may have taken the turn by then:
with that as the end the test could report an overlap that never happened.) The
``hybridrec_duckdb`` pool (one slot) alone does not guarantee this: Dagster's SQLite slot claim is
not atomic across processes, and this test failed in CI once when both runs got the slot.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance

from dagster_project.assets import DUCKDB_POOL
from dagster_project.home import ensure_dagster_home
from dagster_project.writer_turn import TURN_RELEASED, TURN_TAKEN
from hybridrec_core.storage import Store

HERE = Path(__file__).resolve().parent
WRITER_STEPS = {"raw_tables", "feature_tables_and_splits", "recommendations"}


def _writer_intervals(instance: DagsterInstance, run_id: str) -> list[tuple[float, float, str]]:
    """(turn taken, turn released, step) for every writer step of the run; every step that
    succeeded must have logged both."""
    starts: dict[str, float] = {}
    spans, succeeded = [], set()
    for record in instance.all_logs(run_id):
        if record.step_key not in WRITER_STEPS:
            continue
        event = record.dagster_event
        if event is None and TURN_TAKEN in record.user_message:
            starts[record.step_key] = record.timestamp
        elif event is None and TURN_RELEASED in record.user_message:
            spans.append((starts.pop(record.step_key), record.timestamp, record.step_key))
        elif event is not None and event.event_type == DagsterEventType.STEP_SUCCESS:
            succeeded.add(record.step_key)
    assert not starts, f"turns taken and never released: {sorted(starts)}"
    assert {step for *_, step in spans} == succeeded
    return spans


def test_overlapping_runs_take_turns_on_the_duckdb_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # restored after the test
    ensure_dagster_home(home)  # set up once, as `python -m dagster_project` / `ui` do before any run
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))}
    env.pop("DAGSTER_HOME", None)
    cmd = [sys.executable, str(HERE / "concurrent_run.py"), str(tmp_path), str(home)]
    procs = [subprocess.Popen([*cmd, tag], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for tag in ("a", "b")]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err[-3000:]
    runs = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert all(r["success"] for r in runs), runs

    with DagsterInstance.get() as instance:
        assert instance.event_log_storage.get_concurrency_info(DUCKDB_POOL).slot_count == 1
        a, b = (_writer_intervals(instance, r["run_id"]) for r in runs)
    assert len(a) == len(b) == len(WRITER_STEPS)
    for start_a, end_a, step_a in a:
        for start_b, end_b, step_b in b:
            assert end_a <= start_b or end_b <= start_a, f"{step_a} and {step_b} wrote at the same time"

    store = Store(tmp_path / "hybridrec.duckdb")
    interactions = store.row_count("raw_interactions")
    splits = sum(store.row_count(t) for t in store.tables() if t.startswith("split_"))
    assert interactions > 0 and splits == interactions  # every interaction in exactly one split
    users = store.query_df("SELECT count(*) AS n FROM features_users").iloc[0]["n"]
    recs = store.query_df("SELECT count(DISTINCT user_id) AS u, count(*) AS n FROM recommendations").iloc[0]
    assert recs["u"] == users - 1 and recs["n"] == recs["u"] * 5
