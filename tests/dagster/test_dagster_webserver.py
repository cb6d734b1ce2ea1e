"""The real thing: ``dagster dev`` on 127.0.0.1 (webserver + daemon), a materialization of the
whole graph launched through the GraphQL API, polled to success, server stopped with SIGINT."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance, DagsterRunStatus

from dagster_project.devserver import dagster_dev, launch_job, wait_for_run
from dagster_project.home import TEMPLATE
from dagster_project.jobs import FULL_REFRESH
from hybridrec_core.storage import Store

from dagster_testkit import small_mapping

pytestmark = pytest.mark.slow


def test_webserver_materializes_the_graph_launched_over_graphql(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(TEMPLATE.read_text())
    config_file = tmp_path / "pipeline.yaml"
    config_file.write_text(yaml.safe_dump(small_mapping()))
    db = tmp_path / "hybridrec.duckdb"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "HYBRIDREC_CONFIG": str(config_file),
        "HYBRIDREC_DUCKDB": str(db),
        "HYBRIDREC_ARTIFACTS": str(tmp_path / "artifacts"),
    }
    env.pop("HYBRIDREC_WATCH_DIR", None)
    log_path = tmp_path / "dagster_dev.log"
    with log_path.open("wb") as log, dagster_dev(env, log=log) as url:
        run_id = launch_job(url, FULL_REFRESH)
        status = wait_for_run(url, run_id, timeout_s=400)
    assert status == "SUCCESS", log_path.read_text()[-4000:]
    store = Store(db)
    assert store.row_count("recommendations") > 0
    assert store.row_count("raw_interactions") > 0
    with DagsterInstance.from_config(str(home)) as instance:  # kept in DAGSTER_HOME
        assert instance.get_run_by_id(run_id).status == DagsterRunStatus.SUCCESS
