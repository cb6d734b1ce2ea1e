"""explicit_filter: removes explicit tracks for everyone or for flagged users only."""

from __future__ import annotations

import numpy as np
import pytest

from hybridrec_core.errors import PluginError
from hybridrec_core.interfaces import RerankContext
from hybridrec_core.testing import RerankerTests, toy_feature_set
from hybridrec_plugins.rerankers.explicit_filter import ExplicitFilter

K = 10  # list length (the pool fixture holds 50 candidates)


def head(pool, k: int = K) -> np.ndarray:
    """The un-reranked top-k lists (what the model alone would recommend)."""
    return pool.items[:, :k]


def explicit_count(fs, items: np.ndarray) -> np.ndarray:
    return (fs.item_features.explicit[np.clip(items, 0, None)] & (items >= 0)).sum(axis=1)


class TestExplicitFilterConformance(RerankerTests):
    plugin_class = ExplicitFilter
    example_params = {"scope": "all_users"}

    def acceptable(self, candidates, context):
        return candidates.valid & ~context.features.item_features.explicit[np.clip(candidates.items, 0, None)]


class TestFlaggedConformance(RerankerTests):
    plugin_class = ExplicitFilter
    example_params = {"scope": "flagged_users"}

    def context(self, features):
        flags = np.arange(features.n_users) % 2 == 0
        return RerankContext(features, user_flags={"no_explicit": flags})

    def acceptable(self, candidates, context):
        flagged = context.user_flags["no_explicit"][candidates.users][:, None]
        explicit = context.features.item_features.explicit[np.clip(candidates.items, 0, None)]
        return candidates.valid & ~(explicit & flagged)


def test_global_filter_removes_every_explicit_track(toy, pool) -> None:
    before = explicit_count(toy, head(pool))
    out = ExplicitFilter({"scope": "all_users"}).rerank(pool, K, RerankContext(toy))
    assert before.sum() > 0, "the un-filtered lists hold explicit tracks"
    assert explicit_count(toy, out.items).sum() == 0
    assert (out.items >= 0).all(), "the pool of 50 holds enough clean tracks for every list"
    clean = before == 0
    np.testing.assert_array_equal(out.items[clean], head(pool)[clean])


def test_only_flagged_users_are_filtered(toy, pool) -> None:
    flags = np.zeros(toy.n_users, dtype=bool)
    flags[pool.users[::3]] = True
    ctx = RerankContext(toy, user_flags={"no_explicit": flags})
    out = ExplicitFilter().rerank(pool, K, ctx)
    flagged = flags[pool.users]
    assert explicit_count(toy, out.items[flagged]).sum() == 0
    np.testing.assert_array_equal(out.items[~flagged], head(pool)[~flagged])
    assert explicit_count(toy, head(pool)[flagged]).sum() > 0


def test_no_flags_means_nobody_is_filtered(toy, pool) -> None:
    out = ExplicitFilter().rerank(pool, K, RerankContext(toy))
    np.testing.assert_array_equal(out.items, head(pool))


def test_custom_flag_name_and_bad_shape(toy, pool) -> None:
    ctx = RerankContext(toy, user_flags={"kids": np.ones(toy.n_users, bool)})
    out = ExplicitFilter({"flag": "kids"}).rerank(pool, K, ctx)
    assert explicit_count(toy, out.items).sum() == 0
    with pytest.raises(PluginError, match="explicit_filter.*shape"):
        ExplicitFilter({"flag": "kids"}).rerank(pool, K, RerankContext(toy, user_flags={"kids": np.ones(3, bool)}))


def test_short_list_when_pool_is_mostly_explicit() -> None:
    fs = toy_feature_set()
    explicit = np.flatnonzero(fs.item_features.explicit)
    clean = np.flatnonzero(~fs.item_features.explicit)[1:3]  # two clean tracks only
    from hybridrec_core.interfaces import Candidates

    items = np.concatenate([explicit[:8], clean])[None, :]
    pool = Candidates(np.array([1]), items, -np.arange(items.shape[1], dtype=np.float32)[None, :])
    out = ExplicitFilter({"scope": "all_users"}).rerank(pool, 5, RerankContext(fs))
    np.testing.assert_array_equal(out.items[0], [clean[0], clean[1], -1, -1, -1])
