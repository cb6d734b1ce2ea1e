"""Recommendation generation: exact top-k, exclusions, cold start, two-stage, chain, storage."""

from __future__ import annotations

from dataclasses import replace

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import torch

from hybridrec_core import api
from hybridrec_core.config import RecommendConfig
from hybridrec_core.errors import DataError, HybridrecError, PluginError
from hybridrec_core.interfaces import Candidates, FitContext, ReRanker, RerankContext
from hybridrec_core.recommend import FRAME_COLUMNS, recommend, write_recommendations
from hybridrec_core.storage import Store
from hybridrec_core.testing import toy_feature_set
from hybridrec_plugins.models.hybrid import HybridMusicRecommender
from hybridrec_plugins.models.popularity import Popularity
from hybridrec_plugins.rerankers import ExplicitFilter, GenreBalance, MMRDiversity

COLD_USER = 7  # in the vocabulary, but its training history is removed below


@pytest.fixture(scope="module")
def fs():
    """Toy data where one known user has no training history (a history-less user)."""
    base = toy_feature_set()
    train = base.train.subset(base.train.user != COLD_USER)
    mask = base.train_user_mask.copy()
    mask[COLD_USER] = False
    return replace(base, splits={**base.splits, "train": train}, train_user_mask=mask)


@pytest.fixture(scope="module")
def hybrid(fs):
    # warm_start 'none': on this tiny world the ALS backbone (regularization 50, tuned on Last.fm)
    # ranks close to popularity, and these tests need lists that differ from popularity's.
    model = HybridMusicRecommender({"epochs": 4, "embedding_dim": 16, "hidden_layers": [32, 16], "warm_start": "none"})
    model.fit(fs, FitContext(seed=0, device="cpu"))
    return model


@pytest.fixture(scope="module")
def popularity(fs):
    model = Popularity()
    model.fit(fs, FitContext(seed=0))
    return model


def brute_force(model, fs, users, k, exclude_seen=True):
    """Score every item, mask, sort with ties -> lower item index (one user at a time)."""
    seen = fs.train.csr(fs.n_users, fs.n_items)
    items, scores = [], []
    for u in users:
        s = model.score_items(np.array([u]))[0].double().numpy()
        s[0] = -np.inf
        if exclude_seen:
            s[seen[u].indices] = -np.inf
        order = np.lexsort((np.arange(s.size), -s))[:k]
        items.append(order)
        scores.append(s[order])
    return np.array(items), np.array(scores)


@pytest.mark.parametrize("model_name", ["hybrid", "popularity"])
def test_exhaustive_matches_brute_force(request, fs, model_name) -> None:
    model = request.getfixturevalue(model_name)
    users = np.array([1, 2, 3, 50, 199])
    res = recommend(model, fs, RecommendConfig(k=8, batch_users=2), [], users=fs.users.ids[users])
    items, scores = brute_force(model, fs, users, 8)
    np.testing.assert_array_equal(res.users, users)
    np.testing.assert_array_equal(res.items, items)
    np.testing.assert_allclose(res.scores, scores, rtol=1e-5, atol=1e-6)
    assert not res.cold_start.any() and res.mode == "exhaustive"


def test_seen_tracks_excluded_or_not(fs, hybrid) -> None:
    seen = fs.train.csr(fs.n_users, fs.n_items)
    res = recommend(hybrid, fs, RecommendConfig(k=10), [])
    hits = np.asarray(seen[res.users].multiply(_dense_to_csr(res.items, fs.n_items)).sum())
    assert hits == 0
    assert (res.items >= 1).all(), "the unknown item 0 is never recommended"
    kept = recommend(hybrid, fs, RecommendConfig(k=10, exclude_seen=False), [])
    assert seen[kept.users].multiply(_dense_to_csr(kept.items, fs.n_items)).sum() > 0


def _dense_to_csr(items: np.ndarray, n_items: int):
    import scipy.sparse as sp

    rows = np.repeat(np.arange(items.shape[0]), items.shape[1])
    return sp.csr_matrix((np.ones(items.size), (rows, items.ravel())), shape=(items.shape[0], n_items))


def test_cold_start_users_get_the_index_zero_list(fs, hybrid, popularity) -> None:
    ids = ["u1", "never-seen", fs.users.ids[COLD_USER]]
    res = recommend(hybrid, fs, RecommendConfig(k=6), [], users=ids)
    np.testing.assert_array_equal(res.cold_start, [False, True, True])
    np.testing.assert_array_equal(res.users, [1, 0, COLD_USER])
    cold_items, cold_scores = brute_force(hybrid, fs, [0], 6, exclude_seen=False)
    np.testing.assert_array_equal(res.items[1], cold_items[0])
    np.testing.assert_array_equal(res.items[2], cold_items[0])
    assert not np.array_equal(res.items[0], res.items[1])
    # For the popularity baseline the cold-start list is the most played tracks.
    pop = recommend(popularity, fs, RecommendConfig(k=6), [], users=["never-seen"])
    counts = fs.item_popularity()
    np.testing.assert_array_equal(pop.items[0], np.lexsort((np.arange(counts.size), -counts))[:6])
    frame = res.to_frame(fs)
    assert (frame.loc[frame["user_id"] == "never-seen", "rank"] == np.arange(1, 7)).all()


def test_batching_and_repeat_runs_are_identical(fs, hybrid) -> None:
    a = recommend(hybrid, fs, RecommendConfig(k=10, batch_users=7), [MMRDiversity({"lambda": 0.5})])
    b = recommend(hybrid, fs, RecommendConfig(k=10, batch_users=1024), [MMRDiversity({"lambda": 0.5})])
    again = recommend(hybrid, fs, RecommendConfig(k=10, batch_users=7), [MMRDiversity({"lambda": 0.5})])
    np.testing.assert_array_equal(a.items, again.items)
    np.testing.assert_array_equal(a.scores, again.scores)  # same config + data => same numbers
    np.testing.assert_array_equal(a.items, b.items)
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5, atol=1e-6)  # matmul shapes differ by batch
    np.testing.assert_array_equal(a.changed_by, b.changed_by)


def test_two_stage_with_full_retrieval_equals_exhaustive(fs, hybrid) -> None:
    ex = recommend(hybrid, fs, RecommendConfig(k=10), [])
    full = recommend(hybrid, fs, RecommendConfig(k=10, two_stage=True, retrieval_candidates=fs.n_items), [])
    assert full.mode == "two_stage"
    np.testing.assert_array_equal(full.items, ex.items)
    np.testing.assert_allclose(full.scores, ex.scores, rtol=1e-5, atol=1e-6)


def test_two_stage_only_returns_retrieved_items(fs, hybrid) -> None:
    c = 25
    res = recommend(hybrid, fs, RecommendConfig(k=10, pool_size=20, two_stage=True, retrieval_candidates=c), [])
    warm = ~res.cold_start
    retrieval = hybrid.retrieval_scores(res.users[warm]).float()
    seen = fs.train.csr(fs.n_users, fs.n_items)[res.users[warm]].toarray() > 0
    retrieval[torch.from_numpy(seen)] = -np.inf
    retrieval[:, 0] = -np.inf
    top = torch.topk(retrieval, c, dim=1).indices.numpy()
    inside = (res.items[warm][:, :, None] == top[:, None, :]).any(axis=2)
    assert inside.all()


def test_two_stage_falls_back_without_retrieval(fs, popularity) -> None:
    res = recommend(popularity, fs, RecommendConfig(k=5, two_stage=True), [])
    ex = recommend(popularity, fs, RecommendConfig(k=5), [])
    assert res.mode == "exhaustive"
    np.testing.assert_array_equal(res.items, ex.items)


def test_chain_applies_in_order_and_records_changes(fs, hybrid) -> None:
    chain = [ExplicitFilter({"scope": "all_users"}), GenreBalance({"max_share": 0.3})]
    cfg = RecommendConfig(k=10, pool_size=60)
    plain = recommend(hybrid, fs, cfg, [])
    res = recommend(hybrid, fs, cfg, chain)
    explicit = fs.item_features.explicit
    assert not explicit[res.items].any() and (res.items >= 0).all()
    # the 0.3 cap (3 per genre) holds wherever the filtered pool can meet it
    n_genres = fs.n_genres
    genre = fs.item_features.genre_indices  # toy: one genre per track
    def counts(items, weight=None):
        out = np.zeros((items.shape[0], n_genres), int)
        w = np.ones(items.size, int) if weight is None else weight.ravel().astype(int)
        np.add.at(out, (np.repeat(np.arange(items.shape[0]), items.shape[1]), genre[items].ravel()), w)
        return out

    pool = recommend(hybrid, fs, RecommendConfig(k=60, pool_size=60), [])
    feasible = np.minimum(counts(pool.items, ~explicit[pool.items])[:, 1:], 3).sum(axis=1) >= 10
    assert feasible.mean() > 0.9
    assert (counts(res.items)[feasible].max(axis=1) <= 3).all()
    had_explicit = explicit[plain.items].any(axis=1)
    np.testing.assert_array_equal(res.changed_by[:, 0], had_explicit)
    unchanged = ~res.changed_by.any(axis=1)
    np.testing.assert_array_equal(res.items[unchanged], plain.items[unchanged])
    by = res.reranked_by()
    assert set(by) <= {"", "explicit_filter", "genre_balance", "explicit_filter,genre_balance"}
    # every item comes from the model's top-60 pool
    assert (res.items[:, :, None] == pool.items[:, None, :]).any(axis=2).all()


def test_flags_from_context_reach_the_chain(fs, hybrid) -> None:
    flags = np.zeros(fs.n_users, dtype=bool)
    flags[[1, 2]] = True
    ctx = RerankContext(fs, user_flags={"no_explicit": flags})
    cfg = RecommendConfig(k=10, pool_size=40)
    res = recommend(hybrid, fs, cfg, [ExplicitFilter()], users=["u1", "u2", "u3"], context=ctx)
    assert not fs.item_features.explicit[res.items[:2]].any()
    # targeted, not global: the flagged users' unfiltered lists had explicit tracks, u3 keeps its list
    plain = recommend(hybrid, fs, RecommendConfig(k=10), [], users=["u1", "u2", "u3"])
    assert fs.item_features.explicit[plain.items[:2]].any()
    np.testing.assert_array_equal(res.items[2], plain.items[2])


class _Escapes(ReRanker):
    """A broken re-ranker that invents an item: the chain must refuse it."""

    name = "escapes"
    description = "test double"

    def rerank(self, candidates: Candidates, k: int, context: RerankContext) -> Candidates:
        items = candidates.items[:, :k].copy()
        items[:, 0] = 0
        return Candidates(candidates.users, items, candidates.scores[:, :k])


def test_chain_rejects_items_outside_the_pool(fs, hybrid) -> None:
    with pytest.raises(PluginError, match="escapes.*not in that user's candidate pool"):
        recommend(hybrid, fs, RecommendConfig(k=5, pool_size=10), [_Escapes()], users=["u1"])


def test_user_arguments(fs, popularity) -> None:
    by_index = recommend(popularity, fs, RecommendConfig(k=3), [], users=np.array([4, 5]))
    by_id = recommend(popularity, fs, RecommendConfig(k=3), [], users=["u4", "u5"])
    np.testing.assert_array_equal(by_index.items, by_id.items)
    assert list(by_id.user_ids) == ["u4", "u5"]
    with pytest.raises(DataError, match="user index 999"):
        recommend(popularity, fs, RecommendConfig(k=3), [], users=np.array([1, 999]))
    empty = recommend(popularity, fs, RecommendConfig(k=3), [GenreBalance()], users=[])
    assert empty.items.shape == (0, 3) and len(empty.to_frame(fs)) == 0


def test_to_frame_is_readable(fs, hybrid) -> None:
    res = recommend(hybrid, fs, RecommendConfig(k=4, pool_size=20), [MMRDiversity({"lambda": 0.3})], users=["u3"])
    frame = res.to_frame(fs)
    assert list(frame.columns) == list(FRAME_COLUMNS)
    assert frame["rank"].tolist() == [1, 2, 3, 4]
    item = res.items[0, 0]
    row = frame.iloc[0]
    assert row["track_id"] == fs.items.ids[item] and row["title"] == fs.item_titles[item]
    assert row["artist"] == fs.artist_names[fs.item_features.artist[item]]
    assert row["genres"] == fs.genres.ids[fs.item_features.genre_indices[item]]
    assert row["score"] == pytest.approx(float(res.scores[0, 0]))


def test_write_recommendations_replaces_atomically(tmp_path, fs, hybrid) -> None:
    store = Store(tmp_path / "recs.duckdb")
    frame = recommend(hybrid, fs, RecommendConfig(k=5, pool_size=20), [GenreBalance({"max_share": 0.2})]).to_frame(fs)
    assert write_recommendations(store, frame, "hybrid@v1", mode="replace") == len(frame) == 5 * (fs.n_users - 1)
    got = store.query_df("SELECT * FROM recommendations ORDER BY user_id, rank")
    assert list(got.columns) == ["user_id", "rank", "track_id", "score", "model_version", "generated_at", "reranked_by"]
    assert (got["model_version"] == "hybrid@v1").all() and got["generated_at"].nunique() == 1
    assert got["reranked_by"].isin(["", "genre_balance"]).all() and (got["reranked_by"] == "genre_balance").any()
    # a bad frame fails before anything changes; a good one replaces the whole table
    with pytest.raises(DataError, match="track_id"):
        write_recommendations(store, frame.drop(columns=["track_id"]), "hybrid@v2", mode="replace")
    assert store.row_count("recommendations") == len(frame)
    write_recommendations(store, frame.head(3), "hybrid@v2", mode="replace")
    with duckdb.connect(str(store.path), read_only=True) as con:
        assert con.execute("SELECT count(*), min(model_version) FROM recommendations").fetchone() == (3, "hybrid@v2")
    assert write_recommendations(store, frame.head(0), "hybrid@v3", mode="replace") == 0  # typed even when empty
    types = dict(store.query_df("DESCRIBE recommendations")[["column_name", "column_type"]].to_numpy())
    assert types["user_id"] == "VARCHAR" and types["rank"] == "INTEGER" and types["score"] == "DOUBLE"


def test_api_recommend_uses_config_rerankers(fs, hybrid) -> None:
    cfg = api.default_config(rerankers=[{"name": "explicit_filter", "params": {"scope": "all_users"}}])
    frame = api.recommend(cfg, fs, hybrid, users=["u1", "u2"], k=5)
    assert len(frame) == 10 and set(frame["user_id"]) == {"u1", "u2"}
    tracks = fs.items.index_of(frame["track_id"].to_numpy())
    assert not fs.item_features.explicit[tracks].any()


def _table(store: Store):
    return store.query_df("SELECT * FROM recommendations ORDER BY user_id, rank")


def test_merge_replaces_only_the_given_users(tmp_path, fs, hybrid, popularity) -> None:
    store = Store(tmp_path / "recs.duckdb")
    cfg = RecommendConfig(k=5, pool_size=20)
    full = recommend(hybrid, fs, cfg, []).to_frame(fs)
    write_recommendations(store, full, "hybrid@v1", mode="replace")
    before = _table(store)
    # new lists for two users from another model; u3 was asked for too but got no rows this time
    subset = recommend(popularity, fs, cfg, [], users=["u1", "u2"]).to_frame(fs)
    assert write_recommendations(store, subset, "popularity@v2", mode="merge", users=["u1", "u2", "u3"]) == 10
    after = _table(store)
    touched = ["u1", "u2", "u3"]
    kept_before = before[~before["user_id"].isin(touched)].reset_index(drop=True)
    kept_after = after[~after["user_id"].isin(touched)].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept_before, kept_after)  # everyone else's lists, stamps included
    assert len(kept_after) == 5 * (fs.n_users - 1 - 3)
    new = after[after["user_id"].isin(touched)]
    assert set(new["user_id"]) == {"u1", "u2"}, "u3's old list is gone, not left stale"
    assert (new["model_version"] == "popularity@v2").all()
    for user in ("u1", "u2"):
        assert new.loc[new["user_id"] == user, "track_id"].tolist() == subset.loc[subset["user_id"] == user, "track_id"].tolist()
        old = before.loc[before["user_id"] == user, "track_id"].tolist()
        assert old != subset.loc[subset["user_id"] == user, "track_id"].tolist(), "the test must change the lists"
    # a full run replaces everything again, including lists merged in between
    write_recommendations(store, full.head(5), "hybrid@v3", mode="replace")
    assert _table(store)["user_id"].unique().tolist() == [full["user_id"].iloc[0]]


def test_merge_into_a_missing_table_creates_it_with_the_same_schema(tmp_path, fs, popularity) -> None:
    merged, replaced = Store(tmp_path / "a.duckdb"), Store(tmp_path / "b.duckdb")
    frame = recommend(popularity, fs, RecommendConfig(k=3), [], users=["u4"]).to_frame(fs)
    write_recommendations(merged, frame, "pop@v1", mode="merge")
    write_recommendations(replaced, frame, "pop@v1", mode="replace")
    describe = "SELECT column_name, column_type FROM (DESCRIBE recommendations)"
    pd.testing.assert_frame_equal(merged.query_df(describe), replaced.query_df(describe))
    assert merged.row_count("recommendations") == 3


def test_merge_rejects_bad_frames_before_changing_anything(tmp_path, fs, popularity) -> None:
    store = Store(tmp_path / "recs.duckdb")
    frame = recommend(popularity, fs, RecommendConfig(k=3), [], users=["u1", "u2"]).to_frame(fs)
    write_recommendations(store, frame, "pop@v1", mode="replace")
    before = _table(store)
    dup = frame.copy()
    dup.loc[1, "rank"] = 1  # u1 has rank 1 twice
    with pytest.raises(DataError, match=r"duplicate \(user_id, rank\).*'u1' rank 1"):
        write_recommendations(store, dup, "pop@v2", mode="merge")
    with pytest.raises(DataError, match="mode must be 'replace' or 'merge'"):
        write_recommendations(store, frame, "pop@v2", mode="upsert")  # type: ignore[arg-type]
    # a table from an older layout is not silently merged into: the error says to rewrite it
    with store.connect() as con:
        con.execute("ALTER TABLE recommendations DROP COLUMN reranked_by")
    old_layout = _table(store)
    with pytest.raises(HybridrecError, match="rewrite the whole table"):
        write_recommendations(store, frame, "pop@v2", mode="merge")
    pd.testing.assert_frame_equal(_table(store), old_layout)
    assert len(before) == len(old_layout)


def test_failure_while_writing_rolls_the_merge_back(tmp_path, fs, hybrid) -> None:
    """The new rows arrive as a stream that breaks after its first batch, i.e. after the DELETE of
    the users' old rows has run inside the transaction: the table must be exactly as before."""
    store = Store(tmp_path / "recs.duckdb")
    full = recommend(hybrid, fs, RecommendConfig(k=4, pool_size=20), []).to_frame(fs)
    write_recommendations(store, full, "hybrid@v1", mode="replace")
    before = _table(store)
    with store.connect(read_only=True) as con:
        good = con.sql("SELECT * FROM recommendations WHERE user_id IN ('u1', 'u2')").to_arrow_table()
    read: list[int] = []

    def batches():
        for batch in good.to_batches(max_chunksize=4):
            read.append(batch.num_rows)
            yield batch
            raise OSError("the upstream file went away mid-write")

    stream = pa.RecordBatchReader.from_batches(good.schema, batches())
    with pytest.raises(duckdb.Error, match="went away mid-write"):
        store.replace_rows("recommendations", stream, "user_id", ["u1", "u2"])
    assert read == [4], "the insert had started (so the delete had run) before the failure"
    pd.testing.assert_frame_equal(_table(store), before)
    # the same call with an intact stream does commit
    store.replace_rows("recommendations", good, "user_id", ["u1", "u2"])
    pd.testing.assert_frame_equal(_table(store), before)
    with pytest.raises(HybridrecError, match="invalid table or column name"):
        store.replace_rows("recommendations; DROP TABLE x", good, "user_id", ["u1"])


def test_recommend_takes_user_flags_or_a_context_not_both(fs, hybrid) -> None:
    only_u1 = np.zeros(fs.n_users, dtype=bool)
    only_u1[1] = True
    flags = {"no_explicit": only_u1}
    cfg = RecommendConfig(k=10, pool_size=40)
    res = recommend(hybrid, fs, cfg, [ExplicitFilter()], users=["u1", "u2"], user_flags=flags)
    assert not fs.item_features.explicit[res.items[0]].any()
    plain = recommend(hybrid, fs, RecommendConfig(k=10), [], users=["u1", "u2"])
    np.testing.assert_array_equal(res.items[1], plain.items[1])  # u2 is not flagged: its list is unchanged
    with pytest.raises(ValueError, match="inside the context"):
        recommend(hybrid, fs, cfg, [ExplicitFilter()], users=["u1"], context=RerankContext(fs), user_flags=flags)
