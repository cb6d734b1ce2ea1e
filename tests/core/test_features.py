"""Feature engine: FeatureSet contract, exact reload, no test leakage, atomic builds."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hybridrec_core.config import PipelineConfig
from hybridrec_core.errors import DataError
from hybridrec_core.dataset import InteractionSet
from hybridrec_core.features import TRAIN_FINGERPRINT_KEY, build_features, encoder_from_state, load_features
from hybridrec_core.ingest import ingest
from hybridrec_core.storage import Store
from hybridrec_plugins.sources.demo import DemoSource

SMALL = {"n_users": 150, "n_tracks": 200, "n_artists": 40, "n_genres": 6, "n_interactions": 4000}


def assert_same(a: Any, b: Any, path: str = "fs") -> None:
    if dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            assert_same(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            assert_same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, (path, a.dtype, b.dtype, a.shape, b.shape)
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), path
    else:
        assert a == b, path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    store = Store(tmp_path_factory.mktemp("feat") / "db.duckdb")
    ingest(DemoSource(SMALL), store)
    cfg = PipelineConfig()
    return store, cfg, build_features(store, cfg)


def test_contract(built) -> None:
    _, _, fs = built
    assert fs.users.ids[0] == fs.items.ids[0] == fs.artists.ids[0] == fs.genres.ids[0] == "<unk>"
    assert fs.n_users == 151 and fs.n_items == 201  # every known user / track, plus unknown
    assert not fs.train_user_mask[0] and not fs.train_item_mask[0]
    cold_u = np.unique(fs.splits["cold_user"].user)
    assert cold_u.size and not fs.train_user_mask[cold_u].any()
    cold_i = np.unique(fs.splits["cold_item"].item)
    assert cold_i.size and not fs.train_item_mask[cold_i].any()
    assert np.array_equal(fs.train_item_mask, np.bincount(fs.train.item, minlength=fs.n_items) > 0)
    for name, s in fs.splits.items():
        assert s.target.dtype == np.float32 and (s.target >= 0).all() and (s.target <= 1).all(), name
        assert s.user.min(initial=1) >= 1 and s.item.min(initial=1) >= 1
        assert s.timestamp is not None
    f = fs.item_features
    assert f.numeric.shape == (201, 9) and f.numeric_missing.shape == (201, 9)
    assert np.isfinite(f.numeric).all() and f.numeric_missing[1:].sum() > 0  # demo leaves some features missing
    assert np.abs(f.numeric[1:][fs.train_item_mask[1:]].mean(axis=0)).max() < 0.2  # standardized on train items
    assert f.genre_indptr.shape == (202,) and (f.genre_indices > 0).all()
    assert (f.artist[1:] > 0).all() and f.artist[0] == 0
    assert set(fs.encoder_state) == {"ids.users", "ids.items", "ids.artists", "numeric", "genres", "text", "temporal", "strength"}


def test_load_features_rebuilds_the_same_featureset(built) -> None:
    store, _, fs = built
    assert_same(fs, load_features(store))


def test_build_is_deterministic(built, tmp_path: Path) -> None:
    _, cfg, fs = built
    other = Store(tmp_path / "db.duckdb")
    ingest(DemoSource(SMALL), other)
    assert_same(fs, build_features(other, cfg))


def test_encoder_state_rebuilds_working_encoders(built) -> None:
    _, _, fs = built
    strength = encoder_from_state(fs.encoder_state["strength"])
    np.testing.assert_array_equal(strength.transform(fs.test.plays, users=fs.test.user), fs.test.target)
    items = encoder_from_state(fs.encoder_state["ids.items"])
    assert items.transform(fs.items.ids[1:4]).tolist() == [1, 2, 3]


def test_tables_exist_with_clear_names(built) -> None:
    store, _, fs = built
    tables = set(store.tables())
    assert {"vocab_users", "vocab_items", "vocab_artists", "vocab_genres", "features_items", "features_users",
            "split_train", "split_valid", "split_test", "split_cold_user", "split_cold_item",
            "features_encoders", "features_encoder_arrays", "features_meta"} <= tables
    assert store.row_count("split_train") == len(fs.train)
    row = store.query_df("SELECT * FROM split_train LIMIT 1").iloc[0]
    assert 0 <= row["hour"] < 24 and 0 <= row["weekday"] < 7 and row["recency_days"] >= 0


def test_no_test_statistic_leaks_into_encoders(tmp_path: Path) -> None:
    """Change every held-out interaction's plays and time: fitted encoder states stay identical."""
    store = Store(tmp_path / "db.duckdb")
    ingest(DemoSource(SMALL), store)
    cfg = PipelineConfig()
    before = build_features(store, cfg)
    with store.connect() as con:
        con.execute("""UPDATE raw_interactions SET plays = plays * 1000 + 7, "timestamp" = "timestamp" + 86400 * 900
            WHERE (user_id, track_id) IN (
                SELECT (vu.user_id, vi.track_id) FROM split_test s
                JOIN vocab_users vu ON vu.idx = s.user_idx JOIN vocab_items vi ON vi.idx = s.item_idx
                UNION ALL SELECT (vu.user_id, vi.track_id) FROM split_cold_item s
                JOIN vocab_users vu ON vu.idx = s.user_idx JOIN vocab_items vi ON vi.idx = s.item_idx)""")
        # and the audio features of cold (held-out) tracks
        con.execute("""UPDATE raw_tracks SET danceability = 1.0 - coalesce(danceability, 0.5), genres = 'leak'
            WHERE track_id IN (SELECT vi.track_id FROM vocab_items vi WHERE NOT vi.in_train AND vi.idx > 0)""")
    after = build_features(store, cfg)
    assert not np.array_equal(before.test.plays, after.test.plays)  # the change took effect
    assert_same(before.encoder_state, after.encoder_state)
    assert_same(before.train, after.train)


def test_failed_build_leaves_previous_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path / "db.duckdb")
    ingest(DemoSource(SMALL), store)
    first = build_features(store, PipelineConfig())
    original = Store.replace_tables_in

    def fail_midway(con, tables, sql=None):
        # every real table is written inside the transaction first, then a broken one fails it
        original(con, {**tables, "zz_broken": object()}, sql)

    monkeypatch.setattr(Store, "replace_tables_in", staticmethod(fail_midway))
    with pytest.raises(Exception):
        build_features(store, PipelineConfig(seed=7))  # a different split, had it succeeded
    monkeypatch.undo()
    assert "zz_broken" not in store.tables()
    assert_same(first, load_features(store))


def test_splits_and_encoders_follow_config(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.duckdb")
    ingest(DemoSource(SMALL), store)
    cfg = PipelineConfig.model_validate({
        "split": {"method": "leave_last_n", "cold_user_fraction": 0.0, "cold_item_fraction": 0.0},
        "encoders": {"strength": {"name": "log_strength", "params": {"scaling": "per_user"}},
                     "genres": {"name": "multi_hot_genres", "params": {"min_count": 1000}}},
    })
    fs = build_features(store, cfg)
    assert len(fs.splits["cold_user"]) == 0 and len(fs.test) > 0
    assert fs.n_genres == 1 and fs.item_features.genre_indices.size == 0
    assert fs.encoder_state["strength"]["params"]["scaling"] == "per_user"


def test_wrong_role_and_missing_tables_are_clear_errors(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.duckdb")
    with pytest.raises(DataError, match="run ingest first"):
        build_features(store, PipelineConfig())
    with pytest.raises(DataError, match="build_features"):
        load_features(store)
    ingest(DemoSource(SMALL), store)
    cfg = PipelineConfig.model_validate({"encoders": {"numeric": {"name": "log_strength"}}})
    with pytest.raises(Exception, match="encoders.numeric.*role"):
        build_features(store, cfg)


def sorted_rows(s: InteractionSet) -> np.ndarray:
    """The split's rows as one (n, 5) float64 matrix in a canonical order, for multiset comparison."""
    m = np.column_stack([s.user, s.item, s.plays, s.target, s.timestamp]).astype(np.float64)
    return m[np.lexsort(m.T[::-1])]


def test_shards_split_training_rows_by_user_and_keep_the_whole_splits_facts(built) -> None:
    store, _, fs = built
    whole = load_features(store)
    assert whole.train_shard is None and whole.train_rows == len(whole.train)
    for world in (1, 2, 3):
        shards = [load_features(store, shard=(r, world)) for r in range(world)]
        for rank, part in enumerate(shards):
            assert (part.train_shard.rank, part.train_shard.world_size) == (rank, world)
            assert (part.train.user % world == rank).all()  # only this rank's users' rows were read
            assert part.train_rows == len(whole.train) and part.fingerprint() == whole.fingerprint() == fs.fingerprint()
            np.testing.assert_array_equal(part.item_popularity(), whole.item_popularity())
            for name in ("valid", "test", "cold_user", "cold_item"):  # everything else stays whole
                assert_same(part.splits[name], whole.splits[name], name)
            assert_same(part.item_features, whole.item_features)
            assert_same(part.encoder_state, whole.encoder_state)
            np.testing.assert_array_equal(part.train_user_mask, whole.train_user_mask)
            np.testing.assert_array_equal(part.train_item_mask, whole.train_item_mask)
        # disjoint (sizes add up) and covering (same rows as a multiset): the whole split, split
        assert sum(len(p.train) for p in shards) == len(whole.train)
        np.testing.assert_array_equal(sorted_rows(InteractionSet(
            *(np.concatenate([getattr(p.train, f) for p in shards]) for f in ("user", "item", "plays", "target", "timestamp"))
        )), sorted_rows(whole.train))
        if world > 1:
            assert all(0 < len(p.train) < len(whole.train) for p in shards)


def test_shards_of_a_database_without_a_stored_fingerprint(built, tmp_path: Path) -> None:
    """Databases built before the fingerprint was stored: a shard hashes split_train in SQL order."""
    store, _, fs = built
    old = Store(tmp_path / "old.duckdb")
    shutil.copy(store.path, old.path)
    with old.connect() as con:
        con.execute("DELETE FROM features_meta WHERE key = ?", [TRAIN_FINGERPRINT_KEY])
    part = load_features(old, shard=(1, 2))
    assert TRAIN_FINGERPRINT_KEY not in part.metadata
    assert part.fingerprint() == load_features(old).fingerprint() == fs.fingerprint()


@pytest.mark.parametrize("shard", [(2, 2), (-1, 2), (0, 0), (True, 2), (0.5, 2), (1,), "0/2"])
def test_bad_shards_are_clear_errors(built, shard: Any) -> None:
    store, _, _ = built
    with pytest.raises(DataError, match="shard"):
        load_features(store, shard=shard)
