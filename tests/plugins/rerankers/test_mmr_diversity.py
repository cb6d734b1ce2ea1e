"""mmr_diversity: raises intra-list diversity against the model's lists, at a small relevance cost."""

from __future__ import annotations

import numpy as np
import pytest

from hybridrec_core.errors import PluginConfigError, PluginError
from hybridrec_core.interfaces import RerankContext
from hybridrec_core.rerank_utils import item_feature_vectors, unit_rows
from hybridrec_core.testing import RerankerTests
from hybridrec_plugins.rerankers.mmr_diversity import MMRDiversity

K = 10  # list length (the pool fixture holds 50 candidates)


def head(pool, k: int = K) -> np.ndarray:
    """The un-reranked top-k lists (what the model alone would recommend)."""
    return pool.items[:, :k]


def intra_list_diversity(vectors: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Mean pairwise cosine distance within each list."""
    v = unit_rows(vectors)[items]
    sim = np.einsum("bid,bjd->bij", v, v)
    n = items.shape[1]
    return (1.0 - sim).sum(axis=(1, 2)) / (n * (n - 1))


class TestMMRConformance(RerankerTests):
    plugin_class = MMRDiversity
    example_params = {"lambda": 0.5}


class TestMMREmbeddingsConformance(RerankerTests):
    plugin_class = MMRDiversity
    example_params = {"lambda": 0.3, "similarity": "embeddings"}

    def context(self, features):
        rng = np.random.default_rng(1)
        return RerankContext(features, item_vectors=rng.normal(size=(features.n_items, 8)).astype(np.float32))


@pytest.mark.parametrize("source", ["features", "embeddings"])
def test_mmr_raises_intra_list_diversity(toy, hybrid, pool, source) -> None:
    ctx = RerankContext(toy, item_vectors=hybrid.item_embeddings())
    vectors = item_feature_vectors(toy) if source == "features" else ctx.item_vectors
    out = MMRDiversity({"lambda": 0.5, "similarity": source}).rerank(pool, K, ctx)
    before = intra_list_diversity(vectors, head(pool))
    after = intra_list_diversity(vectors, out.items)
    assert after.mean() > before.mean() + 0.05, (before.mean(), after.mean())
    assert (after >= before - 1e-6).mean() > 0.9
    # The price: the mean model score of the list drops, but the best track stays first.
    assert out.scores.mean() < pool.scores[:, :K].mean()
    np.testing.assert_array_equal(out.items[:, 0], pool.items[:, 0])


def test_lambda_one_keeps_the_model_order(toy, pool) -> None:
    out = MMRDiversity({"lambda": 1.0}).rerank(pool, K, RerankContext(toy))
    np.testing.assert_array_equal(out.items, head(pool))


def test_lower_lambda_means_more_diversity(toy, pool) -> None:
    vec = item_feature_vectors(toy)
    ctx = RerankContext(toy)
    lists = [MMRDiversity({"lambda": lam}).rerank(pool, K, ctx).items for lam in (0.9, 0.6, 0.2)]
    div = [intra_list_diversity(vec, items).mean() for items in lists]
    assert div[0] < div[1] < div[2]


def test_list_k_limits_greedy_steps_and_keeps_the_pool(toy, pool) -> None:
    """As an early chain stage it hands the whole pool on, MMR-ordered only in the first list_k."""
    ctx = RerankContext(toy, list_k=K)
    out = MMRDiversity({"lambda": 0.5}).rerank(pool, pool.items.shape[1], ctx)
    alone = MMRDiversity({"lambda": 0.5}).rerank(pool, K, RerankContext(toy))
    np.testing.assert_array_equal(out.items[:, :K], alone.items)
    np.testing.assert_array_equal(np.sort(out.items, axis=1), np.sort(pool.items, axis=1))


def test_embeddings_required_when_asked(toy, pool) -> None:
    with pytest.raises(PluginError, match="mmr_diversity.*embeddings"):
        MMRDiversity({"similarity": "embeddings"}).rerank(pool, K, RerankContext(toy))


def test_lambda_alias_and_range() -> None:
    assert MMRDiversity({"lambda": 0.25}).config.lambda_ == 0.25
    with pytest.raises(PluginConfigError, match="mmr_diversity"):
        MMRDiversity({"lambda": 1.5})
