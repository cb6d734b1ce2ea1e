"""Ingest: validation in SQL, quarantine with reasons and raw rows, duplicate merging, atomicity."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from fixtures.datasets import write_canonical_csv
from fixtures.sources import FrameSource
from hybridrec_core.errors import DataError
from hybridrec_core.ingest import ingest, ingest_data
from hybridrec_core.interfaces import SourceData
from hybridrec_core.storage import Store
from hybridrec_plugins.sources.tabular import CsvSource


@pytest.fixture
def dirty(tmp_path: Path) -> tuple[Store, dict, object]:
    facts = write_canonical_csv(tmp_path / "csv", dirty=True)
    store = Store(tmp_path / "db.duckdb")
    report = ingest(CsvSource({"path": str(tmp_path / "csv")}), store)
    return store, facts, report


def test_rows_read_equals_accepted_plus_quarantined_plus_merged(dirty) -> None:
    store, facts, report = dirty
    for name, rep in report.tables.items():
        assert rep.rows_read == rep.accepted + rep.quarantined + rep.merged, name
    inter, tracks = report.tables["interactions"], report.tables["tracks"]
    assert inter.rows_read == facts["interactions_rows"]
    assert inter.quarantined == facts["interactions_quarantined"] and inter.merged == facts["interactions_merged"]
    assert tracks.quarantined == facts["tracks_quarantined"] and tracks.merged == facts["tracks_merged"]
    assert store.row_count("raw_interactions") == inter.accepted
    assert store.row_count("raw_tracks") == tracks.accepted
    assert store.row_count("quarantine") == report.quarantined
    d = report.to_dict()
    assert json.loads(json.dumps(d))["tables"]["interactions"]["merged"] == facts["interactions_merged"]


def test_every_reason_is_recorded_with_the_raw_row(dirty) -> None:
    store, _, _ = dirty
    q = store.query_df("SELECT * FROM quarantine")
    reasons = set(q["reason"])
    assert {"missing user_id", "negative plays", "non-numeric plays", "non-finite plays", "missing plays",
            "track not in catalogue", "malformed timestamp", "missing track_id", "non-numeric tempo",
            "explicit not a boolean", "danceability outside [-0.01, 1.01]"} <= reasons
    row = q[q["reason"] == "non-numeric plays"].iloc[0]
    assert json.loads(row["raw"]) == {"user_id": "u1", "track_id": "t2", "plays": "lots", "timestamp": "1600000000"}
    assert row["table_name"] == "interactions" and row["source"] == "csv"
    assert row["row_number"] == 96 + 3  # 1-based data row: 96 clean rows, then the 3rd dirty one
    # an interaction whose track was itself quarantined is not silently kept
    assert (q["raw"].str.contains('"t900"') & (q["reason"] == "track not in catalogue")).any()


def test_duplicates_sum_plays_and_keep_latest_timestamp(dirty) -> None:
    store, facts, _ = dirty
    user, track, plays, ts = facts["merged_pair"]
    row = store.query_df("SELECT * FROM raw_interactions WHERE user_id = ? AND track_id = ?", [user, track]).iloc[0]
    assert row["plays"] == plays and row["timestamp"] == ts and row["source_rows"] == 2


def test_missing_audio_features_are_kept_for_imputation(dirty) -> None:
    store, _, _ = dirty
    t9 = store.query_df("SELECT danceability, explicit FROM raw_tracks WHERE track_id = 't9'").iloc[0]
    assert pd.isna(t9["danceability"])


def test_users_file_and_users_seen_only_in_interactions(dirty) -> None:
    store, _, report = dirty
    users = store.query_df("SELECT * FROM raw_users ORDER BY user_id")
    assert "country" in users.columns and users["user_id"].is_unique
    assert report.tables["users"].accepted == 13


def test_missing_required_column_names_origin_expected_and_found(tmp_path: Path) -> None:
    data = SourceData(tracks=None, interactions=pd.DataFrame({"user_id": ["a"], "item": ["b"], "plays": [1]}),
                      origin={"interactions": "/data/listens.csv"})
    with pytest.raises(DataError) as info:
        ingest(FrameSource(data), Store(tmp_path / "db.duckdb"))
    msg = str(info.value)
    assert "/data/listens.csv" in msg and "track_id" in msg and "found" in msg and "'item'" in msg
    assert not (tmp_path / "db.duckdb").exists() or Store(tmp_path / "db.duckdb").tables() == []


def test_without_catalogue_tracks_are_derived(tmp_path: Path) -> None:
    inter = pa.table({"user_id": [1, 1, 2], "track_id": [10, 11, 10], "plays": [1.0, 2.0, 3.0]})
    store = Store(tmp_path / "db.duckdb")
    report = ingest(FrameSource(SourceData(tracks=None, interactions=inter)), store)
    assert report.tracks_derived_from_interactions and not report.has_timestamps
    assert sorted(store.query_df("SELECT track_id FROM raw_tracks")["track_id"]) == ["10", "11"]


def test_float_ids_and_string_timestamps(tmp_path: Path) -> None:
    inter = pd.DataFrame({"user_id": [1.0, 2.0], "track_id": ["a", "b"], "plays": ["3", "4"],
                          "timestamp": ["2021-01-01 10:00:00", "1609495200000"]})
    tracks = pd.DataFrame({"track_id": ["a", "b"]})
    store = Store(tmp_path / "db.duckdb")
    ingest(FrameSource(SourceData(tracks=tracks, interactions=inter)), store)
    rows = store.query_df("SELECT * FROM raw_interactions ORDER BY user_id")
    assert rows["user_id"].tolist() == ["1", "2"]
    assert rows["timestamp"].tolist() == [1609495200, 1609495200]  # ISO text, and epoch milliseconds


def test_failed_ingest_keeps_previous_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_canonical_csv(tmp_path / "csv")
    store = Store(tmp_path / "db.duckdb")
    ingest(CsvSource({"path": str(tmp_path / "csv")}), store)
    before = store.query_df("SELECT * FROM raw_interactions ORDER BY user_id, track_id")

    original = Store.replace_tables_in

    def boom(con, tables, sql=None):
        original(con, tables, {**(sql or {}), "zz_fail": "SELECT * FROM no_such_table"})

    monkeypatch.setattr(Store, "replace_tables_in", staticmethod(boom))
    inter = pa.table({"user_id": ["x"], "track_id": ["t1"], "plays": [1.0]})
    with pytest.raises(Exception):
        with store.connect() as con:
            ingest_data(con, SourceData(tracks=None, interactions=inter), "frames")
    after = store.query_df("SELECT * FROM raw_interactions ORDER BY user_id, track_id")
    pd.testing.assert_frame_equal(before, after)


def test_duckdb_memory_limit_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_canonical_csv(tmp_path / "csv")
    monkeypatch.setenv("HYBRIDREC_DUCKDB_MEMORY_LIMIT", "lots")
    with pytest.raises(DataError, match="HYBRIDREC_DUCKDB_MEMORY_LIMIT"):
        ingest(CsvSource({"path": str(tmp_path / "csv")}), Store(tmp_path / "db.duckdb"))
    monkeypatch.setenv("HYBRIDREC_DUCKDB_MEMORY_LIMIT", "256MB")
    assert ingest(CsvSource({"path": str(tmp_path / "csv")}), Store(tmp_path / "db.duckdb")).tables["interactions"].accepted == 96
