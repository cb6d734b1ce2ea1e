"""DAGSTER_HOME handling and the dagster.yaml template (nux off, DuckDB writer pool of one)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance

from dagster_project.assets import DUCKDB_POOL
from dagster_project.home import TEMPLATE, ensure_dagster_home

ROOT = Path(__file__).resolve().parents[2]


def test_root_dagster_yaml_is_the_template() -> None:
    assert (ROOT / "dagster.yaml").read_text() == TEMPLATE.read_text()


def test_template_disables_the_welcome_modal_and_serializes_duckdb_writers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", "")  # restored after the test; empty = not set
    monkeypatch.chdir(tmp_path)
    home = ensure_dagster_home()
    assert home == (tmp_path / ".hybridrec" / "dagster_home").resolve()
    assert (home / "dagster.yaml").read_text() == TEMPLATE.read_text()
    with DagsterInstance.get() as instance:
        assert instance.root_directory == str(home)
        assert instance.get_settings("nux") == {"enabled": False}
        assert instance.event_log_storage.supports_global_concurrency_limits
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
        assert instance.event_log_storage.get_concurrency_info(DUCKDB_POOL).slot_count == 1


def test_existing_dagster_yaml_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump({"telemetry": {"enabled": False}}))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    assert ensure_dagster_home() == home.resolve()
    assert "nux" not in (home / "dagster.yaml").read_text()
