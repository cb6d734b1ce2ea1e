"""Day partitions in Dagster: two partitions materialized in-process on a small demo world (the
second touches only its day, a re-run changes nothing), a range backfilled in one run (Python API
and the `dagster asset materialize --partition-range` CLI), the off-by-default schedule asking
for yesterday's partition, and the Parquet export job."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest
import yaml
from dagster import (
    AssetKey, AssetSelection, DagsterInstance, DefaultScheduleStatus, build_schedule_context,
)
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from dagster_project.jobs import DAILY_PARTITIONS, EXPORT_PARQUET, FULL_REFRESH
from hybridrec_core import api
from hybridrec_core.daily import day_counts
from hybridrec_core.interfaces import PluginKind
from hybridrec_core.plugins import get_plugin_manager
from hybridrec_core.storage import Store

from dagster_testkit import make_definitions, materialize_all, small_config, small_mapping

ROOT = Path(__file__).resolve().parents[2]
TABLES = ("daily_interactions", "daily_features")


def expected_per_day(config) -> pd.DataFrame:
    """Rows per UTC day straight from the source (distinct user-track pairs per day: the merge rule)."""
    data = get_plugin_manager().create(PluginKind.SOURCE, config.source.name, config.source.params).load()
    frame = data.interactions.to_pandas() if hasattr(data.interactions, "to_pandas") else data.interactions
    frame["day"] = pd.to_datetime(frame["timestamp"], unit="s", utc=True).dt.strftime("%Y-%m-%d")
    pairs = frame.groupby(["day", "user_id", "track_id"]).size().reset_index()
    return pairs.groupby("day").size().rename("rows").reset_index()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    """The small demo world's raw and feature tables (the daily encoder needs fitted encoders)."""
    tmp = tmp_path_factory.mktemp("partitions")
    config = small_config(models=[{"name": "popularity"}])
    definitions = make_definitions(tmp, config)
    with DagsterInstance.ephemeral() as instance:
        fitted = materialize_all(definitions, instance=instance, selection=AssetSelection.groups("ingestion", "features"))
        assert fitted.success
        expected = expected_per_day(config)
        busiest = expected[expected["day"] < "2023-12-01"].sort_values(["rows", "day"], ascending=False)["day"].tolist()
        yield {"defs": definitions, "instance": instance, "store": Store(tmp / "hybridrec.duckdb"), "tmp": tmp,
               "config": config, "expected": dict(zip(expected["day"], expected["rows"])), "days": busiest[:3]}


def _snapshot(store: Store, days: list[str] | None = None, exclude: list[str] | None = None) -> dict[str, pd.DataFrame]:
    where = ("WHERE CAST(day AS VARCHAR) IN (SELECT unnest(?))" if days is not None
             else "WHERE CAST(day AS VARCHAR) NOT IN (SELECT unnest(?))")
    return {t: store.query_df(f"SELECT * FROM {t} {where} ORDER BY ALL", [days if days is not None else exclude])
            for t in TABLES}


def _assert_same(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    for table in TABLES:
        pd.testing.assert_frame_equal(a[table].reset_index(drop=True), b[table].reset_index(drop=True))


def test_full_refresh_keeps_day_partitions_and_export_out(world) -> None:
    job = world["defs"].resolve_job_def(FULL_REFRESH)
    keys = {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
    assert "raw_interactions" in keys and not keys & {"daily_interactions", "daily_features", "parquet_export"}
    daily = world["defs"].resolve_job_def(DAILY_PARTITIONS)
    assert {k.to_user_string() for k in daily.asset_layer.selected_asset_keys} == set(TABLES)
    keys = daily.partitions_def.get_partition_keys()
    assert (keys[0], keys[-1], len(keys)) == ("2022-01-01", "2023-12-31", 730)  # the demo world's two years


def test_two_partitions_each_touch_only_their_day_and_reruns_are_idempotent(world) -> None:
    store, instance, expected = world["store"], world["instance"], world["expected"]
    d1, d2, other = world["days"]
    job = world["defs"].resolve_job_def(DAILY_PARTITIONS)
    # a day outside the two under test, so "the other days stay untouched" has rows to compare
    assert job.execute_in_process(partition_key=other, instance=instance).success
    others_before = _snapshot(store, exclude=[d1, d2])
    assert all(len(frame) > 0 for frame in others_before.values())

    assert job.execute_in_process(partition_key=d1, instance=instance).success
    counts = day_counts(store)
    assert counts[d1] == expected[d1] > 0 and d2 not in counts and counts[other] == expected[other]
    assert day_counts(store, "daily_features")[d1] == expected[d1]
    first_day = _snapshot(store, [d1])

    second = job.execute_in_process(partition_key=d2, instance=instance)
    assert second.success
    assert day_counts(store)[d2] == day_counts(store, "daily_features")[d2] == expected[d2] > 0
    _assert_same(_snapshot(store, [d1]), first_day)  # the second run left the first day alone
    meta = {e.asset_key.to_user_string(): e.materialization.metadata for e in second.get_asset_materialization_events()}
    assert meta["daily_interactions"]["dagster/row_count"].value == expected[d2]
    assert meta["daily_features"]["new_users"].value == 0  # the demo users are all in the fitted vocabulary

    both = _snapshot(store, [d1, d2])
    assert job.execute_in_process(partition_key=d2, instance=instance).success
    _assert_same(_snapshot(store, [d1, d2]), both)  # re-running a partition changes nothing
    _assert_same(_snapshot(store, exclude=[d1, d2]), others_before)
    done = instance.get_materialized_partitions(AssetKey("daily_features"))
    assert {d1, d2} <= done


def test_a_range_backfills_in_one_run_with_per_day_rows(world) -> None:
    store, instance, expected = world["store"], world["instance"], world["expected"]
    days = ["2022-06-01", "2022-06-02", "2022-06-03", "2022-06-04"]
    job = world["defs"].resolve_job_def(DAILY_PARTITIONS)
    assert job.execute_in_process(partition_key=world["days"][2], instance=instance).success  # a day outside the range
    outside = _snapshot(store, exclude=days)
    assert all(len(frame) > 0 for frame in outside.values())
    result = job.execute_in_process(instance=instance, tags={
        ASSET_PARTITION_RANGE_START_TAG: days[0], ASSET_PARTITION_RANGE_END_TAG: days[-1]})
    assert result.success
    counts, encoded = day_counts(store), day_counts(store, "daily_features")
    for day in days:
        assert counts.get(day, 0) == encoded.get(day, 0) == expected.get(day, 0)
    assert sum(counts.get(d, 0) for d in days) > 0
    _assert_same(_snapshot(store, exclude=days), outside)
    assert set(days) <= instance.get_materialized_partitions(AssetKey("daily_interactions"))


def test_partition_schedule_is_off_by_default_and_asks_for_yesterday(world, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HYBRIDREC_SCHEDULES", raising=False)
    definitions = make_definitions(world["tmp"] / "sched", world["config"])
    schedule = next(s for s in definitions.schedules if s.name == "daily_partitions_refresh")
    assert schedule.default_status == DefaultScheduleStatus.STOPPED
    with DagsterInstance.ephemeral() as instance:
        context = build_schedule_context(instance=instance, repository_def=definitions.get_repository_def(),
                                         scheduled_execution_time=datetime(2023, 6, 2, 1, 0, tzinfo=timezone.utc))
        data = schedule.evaluate_tick(context)
    [request] = data.run_requests
    assert request.partition_key == "2023-06-01" and request.job_name == DAILY_PARTITIONS


def test_export_job_writes_parquet_that_reads_back(world) -> None:
    result = world["defs"].resolve_job_def(EXPORT_PARQUET).execute_in_process(
        instance=world["instance"], run_config={"ops": {"parquet_export": {"config": {"buckets": 4}}}})
    assert result.success
    [event] = result.get_asset_materialization_events()
    out = Path(event.materialization.metadata["path"].value)
    manifest = json.loads((out / "manifest.json").read_text())
    store = world["store"]
    assert manifest["tables"]["split_train"]["rows"] == store.row_count("split_train")
    with store.connect(read_only=True) as con:
        back = con.execute(f"SELECT count(*), count(DISTINCT user_bucket) FROM read_parquet("
                           f"'{out}/split_train/**/*.parquet', hive_partitioning = true)").fetchall()[0]
    assert back == (store.row_count("split_train"), 4)


def test_cli_partition_range_backfill(tmp_path: Path) -> None:
    """What an operator types: `dagster asset materialize --partition-range START...END`."""
    mapping = small_mapping(models=[{"name": "popularity"}])
    (tmp_path / "pipeline.yaml").write_text(yaml.safe_dump(mapping))
    database = tmp_path / "hybridrec.duckdb"
    config = api.config_from_mapping({**mapping, "storage": {"database": str(database),
                                                             "artifacts_dir": str(tmp_path / "art")}})
    store = api.open_store(config)
    api.ingest(config, store)
    api.build_features(config, store)
    env = {**os.environ, "HYBRIDREC_CONFIG": str(tmp_path / "pipeline.yaml"), "HYBRIDREC_DUCKDB": str(database),
           "HYBRIDREC_ARTIFACTS": str(tmp_path / "art"), "DAGSTER_HOME": str(tmp_path / "home")}
    (tmp_path / "home").mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "dagster_project.definitions",
         "--select", "daily_interactions,daily_features", "--partition-range", "2023-03-01...2023-03-03"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    expected = expected_per_day(config)
    want = {d: n for d, n in zip(expected["day"], expected["rows"]) if "2023-03-01" <= d <= "2023-03-03"}
    assert want and day_counts(store) == want == day_counts(store, "daily_features")
