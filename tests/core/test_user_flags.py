"""User flags end to end: ingest validation, loading into RerankContext, explicit_filter on real lists,
the CLI's merged write, and every bad-input path."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from fixtures.sources import FrameSource
from hybridrec_core import api
from hybridrec_core.cli import main
from hybridrec_core.errors import ConfigError, DataError
from hybridrec_core.ingest import ingest
from hybridrec_core.interfaces import SourceData
from hybridrec_core.recommend import write_recommendations
from hybridrec_core.storage import Store
from hybridrec_core.user_flags import load_user_flags, read_user_flags_file

DEMO = {"n_users": 300, "n_tracks": 400, "n_artists": 60, "n_genres": 6, "n_interactions": 9000,
        "no_explicit_share": 0.2}
FILTER = [{"name": "explicit_filter", "params": {"scope": "flagged_users"}}]


def _config(root: Path, **overrides) -> api.PipelineConfig:
    base = {
        "source": {"name": "demo", "params": DEMO},
        "models": [{"name": "item_knn"}],
        "storage": {"database": str(root / "db.duckdb"), "artifacts_dir": str(root / "artifacts")},
    }
    return api.default_config(**{**base, **overrides})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    """A small demo world ingested (with its seeded no_explicit flags), featurized and trained."""
    root = tmp_path_factory.mktemp("flags_world")
    cfg = _config(root)
    store = api.open_store(cfg)
    report = api.ingest(cfg, store)
    features = api.build_features(cfg, store)
    trained = api.train(cfg, features)
    return root, cfg, store, report, features, trained["item_knn"]


def explicit_per_list(features, frame: pd.DataFrame) -> pd.Series:
    """Explicit tracks in each user's list (every listed user present, zeros included)."""
    items = features.items.index_of(frame["track_id"].to_numpy())
    explicit = pd.Series(features.item_features.explicit[items], index=frame.index)
    return explicit.groupby(frame["user_id"]).sum()


def test_flagged_users_get_no_explicit_tracks_and_the_others_keep_theirs(world) -> None:
    root, cfg, store, report, features, trained = world
    flags = load_user_flags(store, features)
    flagged = flags["no_explicit"]
    assert report.user_flags is not None and report.user_flags.columns == ["no_explicit"]
    assert int(flagged.sum()) == report.user_flags.flagged["no_explicit"] > 0
    assert not flagged[0], "the unknown-user row is never flagged"

    plain = api.recommend(cfg, features, trained.model)  # no chain: what the model alone lists
    with_filter = api.config_from_mapping({**cfg.model_dump(mode="json"), "rerankers": FILTER})
    filtered = api.recommend(with_filter, features, trained.model)  # flags read from the config's store
    is_flagged = pd.Series(flagged[features.users.index_of(filtered["user_id"].unique())],
                           index=filtered["user_id"].unique())
    before, after = explicit_per_list(features, plain), explicit_per_list(features, filtered)
    on, off = is_flagged[is_flagged].index, is_flagged[~is_flagged].index
    print(f"\nflagged users {len(on)}: explicit tracks before {int(before[on].sum())}, after {int(after[on].sum())}"
          f"; unflagged users {len(off)}: before {int(before[off].sum())}, after {int(after[off].sum())}")
    assert before[on].sum() > 0, "the model alone recommends explicit tracks to flagged users"
    assert after[on].sum() == 0
    assert before[off].sum() > 0 and (after[off] == before[off]).all()
    unflagged_rows = filtered[filtered["user_id"].isin(off)].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        unflagged_rows.drop(columns="reranked_by"),
        plain[plain["user_id"].isin(off)].reset_index(drop=True).drop(columns="reranked_by"),
    )
    assert (filtered.groupby("user_id").size() == cfg.recommend.k).all(), "the pool refills filtered lists"
    changed = filtered.groupby("user_id")["reranked_by"].first()
    assert set(changed[changed == "explicit_filter"].index) == set(before[on][before[on] > 0].index)


def test_flags_file_replaces_source_flags_with_validation(world, tmp_path: Path, caplog) -> None:
    features = world[4]
    users = features.users.ids[1:].tolist()
    path = tmp_path / "flags.csv"
    path.write_text(
        "user_id,no_explicit,kids,age\n"
        f"{users[0]},true,0,31\n"       # row 1: flagged
        f"{users[1]},maybe,1,8\n"       # row 2: quarantined (no_explicit)
        f"{users[2]},1,2,9\n"           # row 3: quarantined (kids)
        "ghost-1,yes,1,40\n"            # row 4: unknown user, kept and counted
        "<unk>,yes,1,40\n"              # row 5: unknown too, and never flags the shared index 0
        f"{users[0]},false,0,31\n"      # row 6: duplicate of row 1, merged (first row wins)
        ",1,1,3\n"                      # row 7: missing user_id
        f"{users[3]},Y,,12\n"           # row 8: flagged no_explicit; kids not set
        f"{users[4]},1,1,12,extra\n"    # a line with one field too many
        f"{users[5]},0,1,50\n",         # row 9: kids only
        encoding="utf-8",
    )
    file_cfg = _config(tmp_path, user_flags={"path": str(path), "columns": ["no_explicit", "kids"]})
    store = api.open_store(file_cfg)
    with caplog.at_level(logging.WARNING, logger="hybridrec_core.ingest"):
        report = api.ingest(file_cfg, store)
    rep = report.tables["user_flags"]
    assert (rep.rows_read, rep.accepted, rep.quarantined, rep.merged) == (10, 5, 4, 1) and rep.balanced
    assert rep.reasons["no_explicit not a boolean"] == 1 and rep.reasons["kids not a boolean"] == 1
    assert rep.reasons["missing user_id"] == 1
    assert sum(n for r, n in rep.reasons.items() if r.startswith("unparseable line")) == 1
    assert report.user_flags.unknown_users == 2 and report.user_flags.unknown_examples == ["<unk>", "ghost-1"]
    assert report.user_flags.flagged == {"no_explicit": 2, "kids": 1}
    assert report.origin["user_flags"] == str(path)
    assert "not in the ingested users" in caplog.text and "quarantined" in caplog.text
    q = store.query_df("SELECT * FROM quarantine WHERE table_name = 'user_flags' ORDER BY row_number")
    assert len(q) == 4 and store.row_count("quarantine") == report.quarantined
    maybe = q[q["reason"] == "no_explicit not a boolean"].iloc[0]
    assert maybe["row_number"] == 2 and json.loads(maybe["raw"]) == {
        "user_id": users[1], "no_explicit": "maybe", "kids": "1", "age": "8"}
    assert q[q["reason"].str.startswith("unparseable")]["raw"].str.contains("extra").all()
    table = store.query_df("SELECT * FROM user_flags")
    assert list(table.columns) == ["user_id", "no_explicit", "kids"], "age was not asked for"
    stored = json.loads(store.query_df("SELECT report FROM ingest_report")["report"][0])
    assert stored["user_flags"]["unknown_users"] == 2

    flags = load_user_flags(store, features)
    expected = np.zeros(features.n_users, dtype=bool)
    expected[features.users.index_of([users[0], users[3]])] = True
    np.testing.assert_array_equal(flags["no_explicit"], expected)  # the source's 20% are gone
    assert flags["kids"].sum() == 1 and flags["kids"][features.users.index_of([users[5]])[0]]
    assert not flags["no_explicit"][0] and not flags["kids"][0]


def test_cli_recommend_applies_flags_and_merges_its_write(world, capsys) -> None:
    root, cfg, store, _, features, trained = world
    cfg_path = root / "pipeline.yaml"
    cfg_path.write_text(yaml.safe_dump({**cfg.model_dump(mode="json"), "rerankers": FILTER}), encoding="utf-8")
    flags = load_user_flags(store, features)["no_explicit"]
    plain = api.recommend(cfg, features, trained.model)
    before = explicit_per_list(features, plain)
    ids = features.users.ids
    target = next(u for u in before.index if flags[features.users.index_of([u])[0]] and before[u] > 0)
    free = next(u for u in before.index if not flags[features.users.index_of([u])[0]] and before[u] > 0)
    write_recommendations(store, plain, "item_knn:full", mode="replace")
    full_table = store.query_df("SELECT * FROM recommendations ORDER BY user_id, rank")

    assert main(["recommend", "--config", str(cfg_path), "--user", target, "--user", free, "--json", "--write"]) == 0
    out = pd.DataFrame(json.loads(capsys.readouterr().out))
    got = explicit_per_list(features, out)
    assert got[target] == 0 and got[free] == before[free] > 0
    table = store.query_df("SELECT * FROM recommendations ORDER BY user_id, rank")
    others = ~table["user_id"].isin([target, free])
    pd.testing.assert_frame_equal(
        table[others].reset_index(drop=True), full_table[~full_table["user_id"].isin([target, free])].reset_index(drop=True)
    )
    assert table["user_id"].nunique() == len(ids) - 1, "every other user's list is still there"
    mine = table[table["user_id"] == target]
    assert mine["track_id"].tolist() == out.loc[out["user_id"] == target, "track_id"].tolist()
    assert mine["model_version"].str.startswith("item_knn:").all() and (mine["model_version"] != "item_knn:full").all()


def test_reingest_without_flags_leaves_none_behind(world, tmp_path: Path) -> None:
    _, _, _, _, features, _ = world
    cfg = _config(tmp_path)
    store = api.open_store(cfg)
    api.ingest(cfg, store)
    assert load_user_flags(store, features)["no_explicit"].sum() > 0
    no_flags = _config(tmp_path, source={"name": "demo", "params": {**DEMO, "no_explicit_share": 0.0}})
    report = api.ingest(no_flags, store)
    assert report.user_flags is None and "user_flags" not in report.tables
    assert store.row_count("user_flags") == 0 and load_user_flags(store, features) == {}


# -- bad input -------------------------------------------------------------------------------------
def _frames(flags=None, origin: str = "/data/flags.csv") -> FrameSource:
    inter = pd.DataFrame({"user_id": ["a", "b", "c"], "track_id": ["t1", "t1", "t2"], "plays": [1.0, 2.0, 3.0]})
    return FrameSource(SourceData(tracks=None, interactions=inter, user_flags=flags, origin={"user_flags": origin}))


@pytest.mark.parametrize(
    ("flags", "columns", "message"),
    [
        (pd.DataFrame({"uid": ["a"], "no_explicit": [True]}), None,
         r"/data/flags\.csv: user_flags table is missing required column\(s\) \['user_id'\].*found \['uid', 'no_explicit'\]"),
        (pd.DataFrame({"user_id": ["a"]}), None, r"/data/flags\.csv: user_flags table has no flag column"),
        (pd.DataFrame({"user_id": ["a"], "no explicit": ["1"]}), None,
         r"/data/flags\.csv: user_flags column 'no explicit' is not a usable flag name"),
        (pd.DataFrame({"user_id": ["a"], "kids": ["1"]}), ["no_explicit"],
         r"/data/flags\.csv: user_flags table lacks flag column\(s\) \['no_explicit'\].*found \['kids'\]"),
    ],
)
def test_unusable_flag_tables_name_the_file_and_column(tmp_path: Path, flags, columns, message) -> None:
    store = Store(tmp_path / "db.duckdb")
    with pytest.raises(DataError, match=message):
        ingest(_frames(flags), store, flag_columns=columns)
    assert store.tables() == [], "nothing was written"


def test_typed_values_nulls_and_numbers(tmp_path: Path) -> None:
    """Parquet keeps types: BOOLEAN passes as is (NULL = not set = false), 0/1 numbers pass, 2 does not."""
    path = tmp_path / "flags.parquet"
    pq.write_table(pa.table({
        "user_id": pa.array([1, 2, 3, 4], pa.int64()),
        "no_explicit": pa.array([True, None, False, True]),
        "kids": pa.array([1.0, 0.0, 2.0, None]),
    }), path)
    inter = pd.DataFrame({"user_id": ["1", "2", "3", "4"], "track_id": ["t"] * 4, "plays": [1.0] * 4})
    store = Store(tmp_path / "db.duckdb")
    report = ingest(FrameSource(SourceData(tracks=None, interactions=inter)), store, user_flags_path=path)
    assert report.tables["user_flags"].reasons == {"kids not a boolean": 1}
    rows = store.query_df("SELECT * FROM user_flags ORDER BY user_id")
    assert rows["user_id"].tolist() == ["1", "2", "4"]
    assert [None if pd.isna(v) else bool(v) for v in rows["no_explicit"]] == [True, None, True]
    assert report.user_flags.flagged == {"no_explicit": 2, "kids": 1} and report.user_flags.unknown_users == 0


def test_unreadable_flag_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"user_flags file .*nope\.csv does not exist"):
        read_user_flags_file(tmp_path / "nope.csv")
    odd = tmp_path / "flags.xlsx"
    odd.write_bytes(b"PK")
    with pytest.raises(DataError, match=r"flags\.xlsx: unknown format '\.xlsx'"):
        read_user_flags_file(odd)
    broken = tmp_path / "flags.parquet"
    broken.write_text("not parquet", encoding="utf-8")
    with pytest.raises(DataError, match=r"flags\.parquet cannot be read as parquet"):
        read_user_flags_file(broken)


def test_config_rejects_bad_flag_names() -> None:
    with pytest.raises(ConfigError, match=r"user_flags\.columns.*not plain names"):
        api.default_config(user_flags={"columns": ["no explicit"]})
    with pytest.raises(ConfigError, match=r"user_flags\.columns.*listed twice"):
        api.default_config(user_flags={"columns": ["kids", "KIDS"]})
    with pytest.raises(ConfigError, match=r"user_flags\.path"):
        api.default_config(user_flags={"path": 3})


def test_load_refuses_a_hand_written_table_with_non_boolean_flags(tmp_path: Path, world) -> None:
    features = world[4]
    store = Store(tmp_path / "db.duckdb")
    store.replace_tables({"user_flags": pd.DataFrame({"user_id": ["1"], "no_explicit": ["yes"]})})
    with pytest.raises(DataError, match=r"column 'no_explicit' is VARCHAR, expected BOOLEAN"):
        load_user_flags(store, features)
    assert load_user_flags(Store(tmp_path / "missing.duckdb"), features) == {}
