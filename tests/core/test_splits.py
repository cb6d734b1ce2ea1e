"""Splits: shares, determinism, cold users/tracks held out entirely, temporal and leave-last-n rules."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from hybridrec_core.config import SplitConfig
from hybridrec_core.errors import DataError
from hybridrec_core.splits import assign_splits, split_counts


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    rng = np.random.default_rng(0)
    n = 20_000
    df = pd.DataFrame({
        "user_id": rng.integers(0, 500, n).astype(str), "track_id": rng.integers(0, 800, n).astype(str),
        "plays": rng.integers(1, 20, n).astype(float), "timestamp": rng.integers(1_600_000_000, 1_700_000_000, n),
    }).drop_duplicates(["user_id", "track_id"])
    c = duckdb.connect()
    c.register("df", df)
    c.execute("CREATE TABLE inter AS SELECT * FROM df")
    return c


def frame(con: duckdb.DuckDBPyConnection, cfg: SplitConfig, seed: int = 1) -> pd.DataFrame:
    t = assign_splits(con, "inter", cfg, seed)
    return con.sql(f"SELECT * FROM {t} ORDER BY user_id, track_id").df()


def test_random_shares_and_determinism(con) -> None:
    cfg = SplitConfig(method="random", valid_fraction=0.1, test_fraction=0.2, cold_user_fraction=0.0, cold_item_fraction=0.0)
    a = frame(con, cfg)
    share = a["split"].value_counts(normalize=True)
    assert abs(share["test"] - 0.2) < 0.02 and abs(share["valid"] - 0.1) < 0.02
    pd.testing.assert_frame_equal(a, frame(con, cfg))
    assert not a["split"].equals(frame(con, cfg, seed=2)["split"])


def test_cold_users_and_items_are_held_out_entirely(con) -> None:
    cfg = SplitConfig(cold_user_fraction=0.1, cold_item_fraction=0.1)
    df = frame(con, cfg)
    cold_users = set(df.loc[df["split"] == "cold_user", "user_id"])
    cold_items = set(df.loc[df["split"] == "cold_item", "track_id"])
    warm = df[~df["split"].isin(["cold_user", "cold_item"])]
    assert cold_users and cold_items
    assert not cold_users & set(df.loc[df["split"] != "cold_user", "user_id"])
    assert not cold_items & set(warm["track_id"])
    assert abs(len(cold_users) / df["user_id"].nunique() - 0.1) < 0.04


def test_temporal_test_is_latest(con) -> None:
    df = frame(con, SplitConfig(method="temporal", cold_user_fraction=0, cold_item_fraction=0))
    assert df.loc[df["split"] == "train", "timestamp"].max() <= df.loc[df["split"] == "valid", "timestamp"].min()
    assert df.loc[df["split"] == "valid", "timestamp"].max() <= df.loc[df["split"] == "test", "timestamp"].min()
    assert abs((df["split"] == "test").mean() - 0.1) < 0.01


def test_temporal_without_timestamps_is_a_clear_error(con) -> None:
    con.execute("UPDATE inter SET timestamp = NULL WHERE user_id = '3'")
    with pytest.raises(DataError, match="temporal.*timestamps"):
        assign_splits(con, "inter", SplitConfig(method="temporal"), 1)


def test_leave_last_n(con) -> None:
    df = frame(con, SplitConfig(method="leave_last_n", leave_last_n=2, cold_user_fraction=0, cold_item_fraction=0))
    for _, g in df.groupby("user_id"):
        g = g.sort_values("timestamp")
        if len(g) > 4:
            assert g["split"].tolist()[-4:] == ["valid", "valid", "test", "test"]
        assert (g["split"] == "train").any()
    counts = split_counts(con, "__split")
    assert set(counts) == {"train", "valid", "test", "cold_user", "cold_item"}
