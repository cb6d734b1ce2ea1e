"""Conformance tests for re-ranker plugins.

Usage::

    from hybridrec_core.testing import RerankerTests

    class TestArtistCap(RerankerTests):
        plugin_class = ArtistCap
        example_params = {"max_per_artist": 2}

Override :meth:`acceptable` when the plugin removes items by rule (e.g. an explicit filter): the
"never fewer than k" check then counts only acceptable pool items.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from hybridrec_core.dataset import FeatureSet
from hybridrec_core.interfaces import Candidates, RerankContext
from hybridrec_core.testing.base import PluginTests
from hybridrec_core.testing.toy import toy_feature_set


def toy_pool(features: FeatureSet, n_users: int = 24, pool: int = 30, seed: int = 0, holes: bool = False) -> Candidates:
    """A seeded pool: distinct catalogue items per user (index >= 1), scores descending; with
    ``holes`` every fifth slot is empty (-1 / -inf), as a short candidate list would be."""
    rng = np.random.default_rng(seed)
    items = rng.random((n_users, features.n_items - 1)).argsort(axis=1)[:, :pool] + 1
    scores = -np.sort(-rng.normal(size=(n_users, pool)), axis=1).astype(np.float32)
    if holes:
        items[:, ::5] = -1
        scores[:, ::5] = -np.inf
    users = rng.integers(1, features.n_users, size=n_users)
    return Candidates(users.astype(np.int64), items.astype(np.int64), scores)


class RerankerTests(PluginTests):
    """Pool containment, list length, empty pools, empty slots, determinism, input untouched."""

    k: ClassVar[int] = 10

    def context(self, features: FeatureSet) -> RerankContext:
        """The context the checks run with (override to add flags or item vectors)."""
        return RerankContext(features=features)

    def acceptable(self, candidates: Candidates, context: RerankContext) -> np.ndarray:
        """(B, P) which pool items the plugin may return; default: every valid item."""
        return candidates.valid

    def run(self, candidates: Candidates, k: int | None = None, features: FeatureSet | None = None) -> Candidates:
        features = features or toy_feature_set()
        return self.make().rerank(candidates, k or self.k, self.context(features))

    def test_returns_k_items_from_the_pool(self) -> None:
        fs = toy_feature_set()
        for holes in (False, True):
            pool = toy_pool(fs, holes=holes)
            out = self.make().rerank(pool, self.k, self.context(fs))
            assert out.items.shape == (pool.items.shape[0], self.k)
            assert out.scores.shape == out.items.shape
            np.testing.assert_array_equal(out.users, pool.users)
            for row in range(pool.items.shape[0]):
                got = out.items[row][out.items[row] >= 0]
                assert set(got.tolist()) <= set(pool.items[row][pool.items[row] >= 0].tolist())
                assert len(set(got.tolist())) == got.size, "an item was returned twice"
                assert (out.items[row][got.size:] == -1).all(), "-1 padding must come last"

    def test_never_fewer_than_k_when_pool_allows(self) -> None:
        fs = toy_feature_set()
        pool = toy_pool(fs, holes=True)
        ctx = self.context(fs)
        out = self.make().rerank(pool, self.k, ctx)
        expected = np.minimum(self.acceptable(pool, ctx).sum(axis=1), self.k)
        np.testing.assert_array_equal((out.items >= 0).sum(axis=1), expected)

    def test_pool_smaller_than_k_is_padded(self) -> None:
        fs = toy_feature_set()
        pool = toy_pool(fs, pool=4)
        out = self.run(pool, k=self.k, features=fs)
        assert out.items.shape == (pool.items.shape[0], self.k)
        assert (out.items[:, 4:] == -1).all() and np.isneginf(out.scores[:, 4:]).all()

    def test_empty_pool(self) -> None:
        fs = toy_feature_set()
        pool = toy_pool(fs, n_users=3, pool=12)
        empty = Candidates(pool.users, np.full_like(pool.items, -1), np.full_like(pool.scores, -np.inf))
        out = self.run(empty, features=fs)
        assert out.items.shape == (3, self.k) and (out.items == -1).all()
        no_users = Candidates(np.zeros(0, np.int64), np.zeros((0, 12), np.int64), np.zeros((0, 12), np.float32))
        assert self.run(no_users, features=fs).items.shape == (0, self.k)

    def test_unknown_slots_never_returned_as_items(self) -> None:
        fs = toy_feature_set()
        pool = toy_pool(fs, holes=True)
        out = self.run(pool, features=fs)
        assert np.isneginf(out.scores[out.items < 0]).all()
        assert np.isfinite(out.scores[out.items >= 0]).all()

    def test_deterministic_and_input_untouched(self) -> None:
        fs = toy_feature_set()
        pool = toy_pool(fs, holes=True)
        before = (pool.items.copy(), pool.scores.copy())
        a = self.run(pool, features=fs)
        b = self.run(pool, features=fs)
        np.testing.assert_array_equal(a.items, b.items)
        np.testing.assert_array_equal(a.scores, b.scores)
        np.testing.assert_array_equal(pool.items, before[0])
        np.testing.assert_array_equal(pool.scores, before[1])
