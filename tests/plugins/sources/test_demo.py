"""The demo world: conformance, determinism, clean by default, dirty on request, learnable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from hybridrec_core.errors import PluginConfigError
from hybridrec_core.ingest import ingest
from hybridrec_core.storage import Store
from hybridrec_core.testing import SourceTests
from hybridrec_plugins.sources.demo import DemoSource

SMALL = {"n_users": 120, "n_tracks": 150, "n_artists": 30, "n_genres": 5, "n_interactions": 3000}


class TestDemoSource(SourceTests):
    plugin_class = DemoSource
    example_params = SMALL

    def source_params(self, tmp_path: Path) -> dict[str, Any]:
        return dict(SMALL)


def test_default_is_clean_and_sized_for_a_one_minute_pipeline(tmp_path: Path) -> None:
    report = ingest(DemoSource(), Store(tmp_path / "d.duckdb"))
    inter = report.tables["interactions"]
    assert inter.quarantined == 0 and inter.merged == 0
    assert 40_000 <= inter.accepted <= 80_000
    assert report.tables["tracks"].accepted == 2000


def test_seed_changes_the_world() -> None:
    a = DemoSource({**SMALL, "seed": 1}).load().interactions.to_pandas()
    b = DemoSource({**SMALL, "seed": 2}).load().interactions.to_pandas()
    assert not a.equals(b)


def test_dirty_fraction_produces_every_rejection_kind(tmp_path: Path) -> None:
    report = ingest(DemoSource({**SMALL, "dirty_fraction": 0.02}), Store(tmp_path / "d.duckdb"))
    reasons = report.tables["interactions"].reasons
    assert {"missing user_id", "negative plays", "missing plays", "non-finite plays", "track not in catalogue"} <= set(reasons)
    assert report.tables["interactions"].merged > 0
    assert any("danceability outside" in r for r in report.tables["tracks"].reasons)
    for rep in report.tables.values():
        assert rep.balanced


def _favourite_share(inter: pd.DataFrame) -> pd.Series:
    """Per row: is the track's genre the user's most played genre?"""
    share = inter.groupby(["user_id", "genre"]).size()
    top = share.groupby(level=0).idxmax().map(lambda t: t[1])
    return pd.Series(inter["genre"].to_numpy() == top.loc[inter["user_id"]].to_numpy(), index=inter.index)


def test_choices_and_plays_follow_genre_taste() -> None:
    """Against the same data with genres shuffled: users concentrate on a favourite genre and play
    it more, i.e. there is taste signal a model can learn."""
    data = DemoSource({**SMALL, "n_tracks": 600, "n_interactions": 8000}).load()
    inter = data.interactions.to_pandas()
    genre = data.tracks.to_pandas().set_index("track_id")["genres"].str.split("|").str[0]
    inter["genre"] = genre.loc[inter["track_id"]].to_numpy()
    fav = _favourite_share(inter)
    shuffled = inter.assign(genre=np.random.default_rng(0).permutation(inter["genre"].to_numpy()))
    assert fav.mean() > _favourite_share(shuffled).mean() + 0.1
    assert inter.loc[fav, "plays"].mean() > 1.1 * inter.loc[~fav, "plays"].mean()


def test_has_cold_users_and_long_tail_tracks() -> None:
    inter = DemoSource({**SMALL, "n_tracks": 1000}).load().interactions.to_pandas()
    per_user = inter.groupby("user_id").size()
    assert (per_user < 5).mean() > 0.05
    per_track = inter.groupby("track_id").size()
    assert per_track.max() > 5 * per_track.median()


def test_interactions_per_user_overrides_total() -> None:
    src = DemoSource({**SMALL, "interactions_per_user": 10})
    assert src.total_interactions == 1200


def test_config_rejects_more_artists_than_tracks() -> None:
    with pytest.raises(PluginConfigError, match="n_artists"):
        DemoSource({"n_tracks": 10, "n_artists": 20})


def test_timestamps_lie_in_the_history_window() -> None:
    inter = DemoSource(SMALL).load().interactions.to_pandas()
    ts = inter["timestamp"].to_numpy()
    assert ts.max() < 1_704_067_200 and ts.min() >= 1_704_067_200 - 730 * 86_400
    hours = (ts // 3600) % 24
    assert np.bincount(hours, minlength=24)[18:23].sum() > np.bincount(hours, minlength=24)[1:6].sum()


def test_user_flags_come_from_their_own_stream(tmp_path: Path) -> None:
    """Flagging users changes nothing else in the world, is seeded, and reaches the user_flags table."""
    with_flags = DemoSource({**SMALL, "no_explicit_share": 0.25}).load()
    without = DemoSource({**SMALL, "no_explicit_share": 0.0}).load()
    assert without.user_flags is None
    for name in ("tracks", "interactions", "users"):
        assert getattr(with_flags, name).equals(getattr(without, name)), f"{name} changed with the flags"
    flags = with_flags.user_flags.to_pandas()
    assert flags["user_id"].tolist() == list(range(SMALL["n_users"]))
    assert 15 <= int(flags["no_explicit"].sum()) <= 45  # 25% of 120, seeded
    again = DemoSource({**SMALL, "no_explicit_share": 0.25}).load().user_flags.to_pandas()
    assert flags.equals(again)
    other_seed = DemoSource({**SMALL, "no_explicit_share": 0.25, "seed": 7}).load().user_flags.to_pandas()
    assert not flags["no_explicit"].equals(other_seed["no_explicit"])
    report = ingest(DemoSource({**SMALL, "no_explicit_share": 0.25}), Store(tmp_path / "d.duckdb"))
    assert report.user_flags.flagged == {"no_explicit": int(flags["no_explicit"].sum())}
    assert report.user_flags.unknown_users == 0 and report.tables["user_flags"].quarantined == 0
