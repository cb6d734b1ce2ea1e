"""The whole graph materialized in-process on a tiny demo world against a temporary DuckDB file,
then the tables queried; metadata the UI shows; schedule and sensor run requests executed."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest
from dagster import DagsterInstance, build_schedule_context, build_sensor_context

from dagster_project.home import ensure_dagster_home
from dagster_project.jobs import FULL_REFRESH
from dagster_project.sensors import new_interaction_files
from hybridrec_core import api
from hybridrec_core.storage import Store

from dagster_testkit import (
    check_results, make_definitions, materialization_metadata, materialize_all, materialized_keys, small_config,
)

ALL_ASSETS = {
    "raw_tracks", "raw_users", "raw_interactions", "quarantine", "user_flags", "feature_tables", "splits",
    "model_hybrid", "model_popularity", "evaluation_report", "recommendations",
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    """One full materialization shared by the tests of this module."""
    tmp = tmp_path_factory.mktemp("dagster_world")
    old_home = os.environ.pop("DAGSTER_HOME", None)
    ensure_dagster_home(tmp / "dagster_home")
    config = small_config()
    definitions = make_definitions(tmp, config)
    with DagsterInstance.get() as instance:
        result = materialize_all(definitions, instance=instance)
        yield {"tmp": tmp, "config": config, "defs": definitions, "result": result, "instance": instance,
               "store": Store(tmp / "hybridrec.duckdb")}
    if old_home is None:
        os.environ.pop("DAGSTER_HOME", None)
    else:
        os.environ["DAGSTER_HOME"] = old_home


def test_every_asset_materializes_and_every_check_passes(world) -> None:
    result = world["result"]
    assert result.success
    assert materialized_keys(result) == ALL_ASSETS
    checks = check_results(result)
    assert len(checks) == 6 and all(checks.values()), checks


def test_tables_are_written_and_consistent(world) -> None:
    store: Store = world["store"]
    tables = set(store.tables())
    assert {"raw_tracks", "raw_users", "raw_interactions", "quarantine", "recommendations"} <= tables
    assert any(t.startswith("split_train") for t in tables) and any(t.startswith("features_") for t in tables)
    cfg = world["config"].model_copy(update={"storage": world["config"].storage.model_copy(
        update={"database": str(store.path)})})
    features = api.load_features(cfg, store)
    k = cfg.recommend.k
    recs = store.query_df(
        "SELECT count(*) AS n, count(DISTINCT user_id) AS users, min(rank) AS lo, max(rank) AS hi, "
        "count(*) FILTER (WHERE score IS NULL OR track_id IS NULL) AS nulls FROM recommendations"
    ).iloc[0]
    assert recs["users"] == features.n_users - 1  # every known user (index 0 is the unknown slot)
    assert (recs["lo"], recs["hi"]) == (1, k) and recs["n"] == recs["users"] * k and recs["nulls"] == 0
    unknown = store.query_df(
        "SELECT count(*) AS n FROM recommendations r LEFT JOIN raw_tracks t USING (track_id) WHERE t.track_id IS NULL"
    ).iloc[0]["n"]
    assert unknown == 0  # every recommended track is in the catalogue
    versions = store.query_df("SELECT DISTINCT model_version FROM recommendations")["model_version"].tolist()
    assert len(versions) == 1 and versions[0].startswith("hybrid:")


def test_metadata_shows_counts_schemas_previews_and_training_facts(world) -> None:
    result, store = world["result"], world["store"]
    raw = materialization_metadata(result, "raw_interactions")
    assert raw["dagster/row_count"].value == store.row_count("raw_interactions")
    assert {c.name for c in raw["raw_interactions/schema"].value.columns} >= {"user_id", "track_id", "plays"}
    assert "user_id" in raw["preview"].value
    splits = materialization_metadata(result, "splits")
    assert splits["split_train/row_count"].value == store.row_count("split_train")

    model = materialization_metadata(result, "model_hybrid")
    assert model["parameters"].value["embedding_dim"] == 16
    assert 1 <= model["epochs"].value <= 4
    assert model["training_seconds"].value > 0 and model["device"].value == "cpu"
    assert "best_validation_metric" in model and model["version"].value
    assert Path(model["artifact"].value).is_dir()

    report = materialization_metadata(result, "evaluation_report")
    report_dir = Path(report["report_dir"].value)
    assert (report_dir / "metrics.json").exists() and (report_dir / "report.md").exists()
    table = report["key_metrics"].value
    assert "hybrid" in table and "popularity" in table and "ndcg@10" in table
    plots = [k for k in report if k.startswith("plot/")]
    assert plots and report[plots[0]].value.startswith("![") and "base64," in report[plots[0]].value

    recs = materialization_metadata(result, "recommendations")
    assert recs["dagster/row_count"].value == store.row_count("recommendations")
    assert recs["model_version"].value.startswith("hybrid:")


def test_recommendations_schedule_run_request_refreshes_only_recommendations(world) -> None:
    definitions, instance, store = world["defs"], world["instance"], world["store"]
    schedule = next(s for s in definitions.schedules if s.name == "daily_recommendations_refresh")
    tick = datetime(2026, 1, 2, 6, 0, tzinfo=timezone.utc)
    [request] = schedule.evaluate_tick(build_schedule_context(instance=instance, scheduled_execution_time=tick)).run_requests
    before = store.query_df("SELECT max(generated_at) AS t FROM recommendations").iloc[0]["t"]
    job = definitions.resolve_job_def(request.job_name or schedule.job_name)
    result = job.execute_in_process(run_config=request.run_config, tags=request.tags, instance=instance)
    assert result.success and materialized_keys(result) == {"recommendations"}
    assert check_results(result) == {("model_hybrid", "beats_popularity_on_validation"): True}  # the gate ran
    after = store.query_df("SELECT max(generated_at) AS t FROM recommendations").iloc[0]["t"]
    assert after > before


def test_sensor_and_full_refresh_schedule_run_requests_execute(world, monkeypatch: pytest.MonkeyPatch) -> None:
    definitions, instance = world["defs"], world["instance"]
    watch = world["tmp"] / "incoming"
    watch.mkdir()
    (watch / "plays.csv").write_text("user_id,track_id,plays\n")
    monkeypatch.setenv("HYBRIDREC_WATCH_DIR", str(watch))
    sensor_data = new_interaction_files.evaluate_tick(build_sensor_context(instance=instance))
    [sensor_request] = sensor_data.run_requests
    schedule = next(s for s in definitions.schedules if s.name == "daily_full_refresh")
    tick = datetime(2026, 1, 2, 2, 0, tzinfo=timezone.utc)
    [schedule_request] = schedule.evaluate_tick(
        build_schedule_context(instance=instance, scheduled_execution_time=tick)).run_requests
    assert schedule.job_name == FULL_REFRESH
    # Both ask for the same job; run it once with the sensor's tags (a full refresh takes a while).
    assert (sensor_request.job_name or FULL_REFRESH) == (schedule_request.job_name or FULL_REFRESH) == FULL_REFRESH
    job = definitions.resolve_job_def(FULL_REFRESH)
    result = job.execute_in_process(run_config=sensor_request.run_config, tags=sensor_request.tags,
                                    instance=instance, raise_on_error=False)
    assert result.success
    assert materialized_keys(result) == ALL_ASSETS
    assert instance.get_run_by_id(result.run_id).tags["hybridrec/files"] == "plays.csv"
