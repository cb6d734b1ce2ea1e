"""Schedules and the sensor: evaluated with Dagster's test contexts; their run requests target the
right jobs (and are executed in test_dagster_pipeline.py against real storage)."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

import pytest
from dagster import DefaultScheduleStatus, DefaultSensorStatus, build_schedule_context, build_sensor_context

from dagster_project.jobs import FULL_REFRESH, RECOMMENDATIONS_REFRESH, build_recommendations_job
from dagster_project.schedules import build_schedules
from dagster_project.sensors import new_interaction_files

TICK = datetime(2026, 1, 2, 2, 0, tzinfo=timezone.utc)


def test_schedules_are_off_by_default_and_target_their_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HYBRIDREC_SCHEDULES", raising=False)
    schedules = {s.name: s for s in build_schedules(build_recommendations_job("hybrid"))}
    assert {s.default_status for s in schedules.values()} == {DefaultScheduleStatus.STOPPED}
    assert schedules["daily_full_refresh"].job_name == FULL_REFRESH
    assert schedules["daily_recommendations_refresh"].job_name == RECOMMENDATIONS_REFRESH
    for schedule in schedules.values():
        data = schedule.evaluate_tick(build_schedule_context(scheduled_execution_time=TICK))
        assert len(data.run_requests) == 1
    monkeypatch.setenv("HYBRIDREC_SCHEDULES", "on")
    assert {s.default_status for s in build_schedules(build_recommendations_job("hybrid"))} == {DefaultScheduleStatus.RUNNING}


def _tick(cursor: str | None = None):
    return new_interaction_files.evaluate_tick(build_sensor_context(cursor=cursor))


def test_sensor_skips_without_a_watch_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HYBRIDREC_WATCH_DIR", raising=False)
    result = _tick()
    assert not result.run_requests and "HYBRIDREC_WATCH_DIR" in (result.skip_message or "")
    monkeypatch.setenv("HYBRIDREC_WATCH_DIR", str(tmp_path / "missing"))
    assert "is not a folder" in (_tick().skip_message or "")


def test_sensor_requests_one_refresh_per_new_or_changed_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HYBRIDREC_WATCH_DIR", str(tmp_path))
    assert "no new" in (_tick().skip_message or "")  # empty folder

    (tmp_path / "plays_2026-01-01.csv").write_text("user_id,track_id,plays\nu1,t1,3\n")
    (tmp_path / "notes.md").write_text("not interactions")
    first = _tick()
    assert len(first.run_requests) == 1
    request = first.run_requests[0]
    assert request.tags["hybridrec/files"] == "plays_2026-01-01.csv"
    assert set(json.loads(first.cursor)) == {"plays_2026-01-01.csv"}
    assert first.run_requests[0].job_name in (None, FULL_REFRESH)

    again = _tick(first.cursor)  # nothing changed since the cursor
    assert not again.run_requests

    (tmp_path / "plays_2026-01-02.csv").write_text("user_id,track_id,plays\nu2,t1,1\n")
    changed = tmp_path / "plays_2026-01-01.csv"
    os.utime(changed, (changed.stat().st_atime, changed.stat().st_mtime + 10))
    second = _tick(first.cursor)
    assert len(second.run_requests) == 1
    assert second.run_requests[0].tags["hybridrec/files"] == "plays_2026-01-01.csv,plays_2026-01-02.csv"
    assert second.run_requests[0].run_key != request.run_key


def test_sensor_is_on_by_default_only_when_a_folder_is_configured() -> None:
    expected = DefaultSensorStatus.RUNNING if os.environ.get("HYBRIDREC_WATCH_DIR") else DefaultSensorStatus.STOPPED
    assert new_interaction_files.default_status == expected
