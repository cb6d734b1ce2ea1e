"""popularity re-ranker: lowers list popularity (boost) or caps head tracks (cap)."""

from __future__ import annotations

import numpy as np
import pytest

from hybridrec_core.errors import PluginConfigError
from hybridrec_core.interfaces import RerankContext
from hybridrec_core.testing import RerankerTests
from hybridrec_plugins.rerankers.popularity import PopularityRerank, head_items, popularity_percentile

K = 10  # list length (the pool fixture holds 50 candidates)


def head(pool, k: int = K) -> np.ndarray:
    """The un-reranked top-k lists (what the model alone would recommend)."""
    return pool.items[:, :k]


class TestBoostConformance(RerankerTests):
    plugin_class = PopularityRerank
    example_params = {"mode": "boost_long_tail", "weight": 0.5}


class TestCapConformance(RerankerTests):
    plugin_class = PopularityRerank
    example_params = {"mode": "cap_popular", "head_fraction": 0.2, "max_head_share": 0.2}


def test_boost_lowers_mean_popularity(toy, pool) -> None:
    pop = toy.item_popularity()
    before = pop[head(pool)].mean()
    ctx = RerankContext(toy)
    means = [pop[PopularityRerank({"weight": w}).rerank(pool, K, ctx).items].mean() for w in (0.0, 0.3, 0.7)]
    assert means[0] == pytest.approx(before)  # weight 0 = the model's order
    assert means[0] > means[1] > means[2]


def test_cap_limits_head_tracks(toy, pool) -> None:
    is_head = head_items(toy, 0.1)
    before = is_head[head(pool)].sum(axis=1)
    out = PopularityRerank({"mode": "cap_popular", "head_fraction": 0.1, "max_head_share": 0.2}).rerank(
        pool, K, RerankContext(toy)
    )
    after = is_head[out.items].sum(axis=1)
    assert before.mean() > 2, "the model's lists lean on the head before capping"
    assert (after <= 2).all() and (out.items >= 0).all()
    ok = before <= 2
    np.testing.assert_array_equal(out.items[ok], head(pool)[ok])


def test_head_and_percentile_rules(toy) -> None:
    pop = toy.item_popularity()
    is_head = head_items(toy, 0.1)
    assert is_head.sum() == int(np.ceil(0.1 * (toy.n_items - 1)))
    assert pop[is_head].min() >= pop[1:][~is_head[1:]].max()
    pct = popularity_percentile(toy)
    assert pct[0] == 0 and pct[1:].max() == 1.0
    assert pct[np.argmax(pop)] == 1.0


def test_config_validation() -> None:
    with pytest.raises(PluginConfigError, match="popularity"):
        PopularityRerank({"mode": "shuffle"})
    with pytest.raises(PluginConfigError, match="head_fraction"):
        PopularityRerank({"head_fraction": 1.0})
