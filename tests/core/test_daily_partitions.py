"""Day-partitioned ingest and encode (hybridrec_core.daily): only the requested days' rows change,
re-running a day gives the same rows, unseen ids are appended after the fitted vocabulary, and the
targets and time features come from the encoders build_features fitted (never refitted)."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hybridrec_core import api
from hybridrec_core.daily import day_bounds, day_counts, encode_days, epoch_seconds, ingest_days
from hybridrec_core.errors import DataError
from hybridrec_core.features import encoder_from_state
from hybridrec_core.interfaces import PluginKind
from hybridrec_core.plugins import get_plugin_manager
from hybridrec_core.storage import Store

D1, D2 = date(2023, 6, 1), date(2023, 6, 2)  # 2023-06-01 was a Thursday (weekday 3)
T1, T2 = epoch_seconds(D1), epoch_seconds(D2)
FITTED = {"source": {"name": "demo", "params": {
    "n_users": 40, "n_tracks": 30, "n_artists": 6, "n_genres": 4, "n_interactions": 600, "seed": 3}}}

# user, track, plays, timestamp: what each row must become is in the comment.
ROWS = [
    ("1", "3", "2", T1 + 3600),            # D1, merged with the next row
    ("1", "3", "1", T1 + 7200),            # D1 duplicate: plays 3, latest timestamp 02:00
    ("1", "3", "4", T2 + 100),             # same pair on D2: its own row
    ("new_user_b", "3", "5", T1 + 50),     # unseen user on D1
    ("new_user_a", "new_track", "1", T2 + 10),  # unseen user and track on D2
    ("2", "4", "-1", T1 + 60),             # D1 quarantine: negative plays
    ("2", "999", "1", T2 + 60),            # D2 quarantine: track not in catalogue
    ("3", "4", "1", ""),                   # no timestamp: no partition
    ("3", "5", "1", T1 - 1),               # the day before D1: outside the range
]


def _write_csv(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "tracks.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["track_id", "title", "artist_id", "artist_name", "genres"])
        for t in ("3", "4", "5", "new_track"):
            w.writerow([t, f"Song {t}", "a1", "Artist 1", "rock"])
    with open(folder / "interactions.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["user_id", "track_id", "plays", "timestamp"])
        w.writerows(ROWS)


@pytest.fixture
def fitted(tmp_path: Path):
    """A store whose features were built on a small demo world, plus a CSV source of new days."""
    cfg = api.default_config(**FITTED, storage={"database": str(tmp_path / "h.duckdb"),
                                                "artifacts_dir": str(tmp_path / "art")})
    store = api.open_store(cfg)
    api.ingest(cfg, store)
    api.build_features(cfg, store)
    _write_csv(tmp_path / "new")
    source = get_plugin_manager().create(PluginKind.SOURCE, "csv", {"path": str(tmp_path / "new")})
    return cfg, store, source


def _rows(store: Store, table: str) -> pd.DataFrame:
    return store.query_df(f"SELECT * FROM {table} ORDER BY ALL").reset_index(drop=True)


def test_ingest_writes_only_the_range_with_accounting_quarantine_and_per_day_merge(fitted) -> None:
    _, store, source = fitted
    report = ingest_days(source, store, D1, D2.replace(day=3))
    assert report.balanced and report.rows_read == 7 and report.undated == 1
    assert (report.accepted, report.quarantined, report.merged) == (4, 2, 1)
    assert report.reasons == {"negative plays": 1, "track not in catalogue": 1}
    assert report.per_day == {"2023-06-01": 2, "2023-06-02": 2}
    merged = store.query_df("SELECT plays, \"timestamp\", source_rows FROM daily_interactions "
                            "WHERE day = ? AND user_id = '1' AND track_id = '3'", [D1]).iloc[0]
    assert (merged["plays"], merged["timestamp"], merged["source_rows"]) == (3.0, T1 + 7200, 2)
    q = store.query_df("SELECT CAST(day AS VARCHAR) AS day, row_number, reason, raw FROM daily_quarantine ORDER BY day")
    assert q["day"].tolist() == ["2023-06-01", "2023-06-02"] and q["row_number"].tolist() == [6, 7]
    assert [json.loads(r)["track_id"] for r in q["raw"]] == ["4", "999"]  # the source row as it came


def test_rerunning_a_day_is_idempotent_and_leaves_other_days_alone(fitted) -> None:
    _, store, source = fitted
    ingest_days(source, store, D1, D2.replace(day=3))
    before = {t: _rows(store, t) for t in ("daily_interactions", "daily_quarantine")}
    d2_before = before["daily_interactions"][before["daily_interactions"]["day"] == pd.Timestamp(D2)]
    with store.connect() as con:  # simulate a later correction of D2 that must survive a re-run of D1
        con.execute("UPDATE daily_interactions SET plays = 99 WHERE day = ?", [D2])
    again = ingest_days(source, store, D1)  # one partition: D1 only
    assert again.per_day == {"2023-06-01": 2} and again.rows_read == 4
    after = _rows(store, "daily_interactions")
    assert (after[after["day"] == pd.Timestamp(D2)]["plays"] == 99).all()  # D2 untouched by the D1 run
    assert len(after[after["day"] == pd.Timestamp(D2)]) == len(d2_before)
    pd.testing.assert_frame_equal(after[after["day"] == pd.Timestamp(D1)].reset_index(drop=True),
                                  before["daily_interactions"][before["daily_interactions"]["day"] == pd.Timestamp(D1)]
                                  .reset_index(drop=True))
    pd.testing.assert_frame_equal(_rows(store, "daily_quarantine"), before["daily_quarantine"])


def test_encode_uses_fitted_encoders_and_appends_unseen_ids(fitted) -> None:
    cfg, store, source = fitted
    ingest_days(source, store, D1, D2.replace(day=3))
    features = api.load_features(cfg, store)
    n_users, n_items = features.n_users, features.n_items
    report = encode_days(store, D1, D2.replace(day=3))
    assert report.rows == 4 and (report.new_users, report.new_items) == (2, 1) and report.stale_days == 0
    enc = store.query_df("SELECT * FROM daily_features ORDER BY day, user_id")
    by = {(str(r.day.date()), r.user_id): r for r in enc.itertuples()}
    # Unseen ids: numbered after the fitted vocabulary by (first day, id).
    assert by[("2023-06-01", "new_user_b")].user_idx == n_users
    assert by[("2023-06-02", "new_user_a")].user_idx == n_users + 1
    assert by[("2023-06-02", "new_user_a")].item_idx == n_items and by[("2023-06-02", "new_user_a")].new_item
    known = by[("2023-06-01", "1")]
    assert known.user_idx == features.users.index_of(["1"])[0] and not known.new_user
    assert known.item_idx == features.items.index_of(["3"])[0]
    strength = encoder_from_state(features.encoder_state["strength"])
    assert known.target == pytest.approx(float(strength.transform(np.array([3.0]), users=np.array([known.user_idx]))[0]))
    assert (known.hour, known.weekday) == (2, 3)
    assert known.recency_days == pytest.approx(max(0.0, (features.encoder_state["temporal"]["meta"]["reference"]
                                                         - (T1 + 7200)) / 86_400), rel=1e-5)
    # The fitted tables are not touched: no refit, vocabularies unchanged.
    assert api.load_features(cfg, store).n_users == n_users

    snapshot = _rows(store, "daily_features")
    rerun = encode_days(store, D1)
    assert (rerun.rows, rerun.new_users, rerun.new_items) == (2, 0, 0)
    pd.testing.assert_frame_equal(_rows(store, "daily_features"), snapshot)
    assert store.row_count("daily_vocab_users") == 2 and store.row_count("daily_vocab_items") == 1


def test_refitted_encoders_mark_older_days_stale(fitted) -> None:
    cfg, store, source = fitted
    ingest_days(source, store, D1, D2.replace(day=3))
    first = encode_days(store, D1, D2.replace(day=3))
    refit = cfg.model_copy(update={"split": cfg.split.model_copy(update={"seed": 99, "valid_fraction": 0.2})})
    api.build_features(refit, store)
    second = encode_days(store, D2)
    assert second.encoder_version != first.encoder_version
    assert second.stale_days == 1  # D1 still holds rows encoded with the old encoders
    assert day_counts(store, "daily_features") == {"2023-06-01": 2, "2023-06-02": 2}


def test_encoding_without_fitted_features_and_bad_ranges_are_clear_errors(tmp_path: Path) -> None:
    store = Store(tmp_path / "empty.duckdb")
    with store.connect() as con:
        con.execute("CREATE TABLE unrelated (x INTEGER)")
    with pytest.raises(DataError, match="feature_tables"):
        encode_days(store, D1)
    with pytest.raises(DataError, match="exclusive"):
        day_bounds(D2, D1)
    with pytest.raises(DataError, match="YYYY-MM-DD"):
        day_bounds("June 1st")
    assert day_counts(store) == {}
