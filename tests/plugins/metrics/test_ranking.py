"""Ranking metrics against hand-computed values and sklearn's ndcg_score."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import ndcg_score

from hybridrec_core.testing import MetricTests
from hybridrec_plugins.metrics.ranking import RankingMetrics

L3 = np.log2(3.0)


class TestRankingConformance(MetricTests):
    plugin_class = RankingMetrics


def test_hand_computed_values_with_padding_and_empty_user(make_input) -> None:
    # user 0: hit at rank 2 of 2 relevant; user 1: only one candidate (padding), a hit at rank 1;
    # user 2: no held-out items -> excluded from every mean
    data = make_input([[1, 2, 3], [4, -1, -1], [5, 6, 7]], {0: {2: 3.0, 5: 1.0}, 1: {4: 2.0}}, k=3)
    res = RankingMetrics({"graded_gain": "plays"}).compute(data)
    u0 = {
        "ndcg@3": (1 / L3) / (1 + 1 / L3),
        "ndcg_graded@3": (3 / L3) / (3 + 1 / L3),
        "recall@3": 0.5, "precision@3": 1 / 3, "hitrate@3": 1.0, "mrr@3": 0.5, "map@3": 0.25,
    }
    u1 = {"ndcg@3": 1.0, "ndcg_graded@3": 1.0, "recall@3": 1.0, "precision@3": 1 / 3,
          "hitrate@3": 1.0, "mrr@3": 1.0, "map@3": 1.0}
    for name in u0:
        assert res.values[name] == pytest.approx((u0[name] + u1[name]) / 2), name
        assert np.isnan(res.per_user[name][2])


def test_no_hit_gives_zero(make_input) -> None:
    data = make_input([[1, 2]], {0: {9: 1.0}}, k=2)
    res = RankingMetrics().compute(data)
    assert all(v == 0.0 for v in res.values.values())


def test_graded_log1p_gain_default(make_input) -> None:
    data = make_input([[2, 5]], {0: {2: 1.0, 5: 7.0}}, k=2)
    res = RankingMetrics().compute(data)
    dcg = np.log1p(1.0) + np.log1p(7.0) / L3
    idcg = np.log1p(7.0) + np.log1p(1.0) / L3
    assert res.values["ndcg_graded@2"] == pytest.approx(dcg / idcg)
    assert res.values["ndcg@2"] == pytest.approx(1.0)


def test_zero_play_heldout_item_still_counts_as_hit(make_input) -> None:
    rel = sp.csr_matrix(([0.0], ([0], [3])), shape=(1, 40))
    data = make_input([[3, 1]], {}, k=2)
    data.relevant = rel
    # explicit zero stored on purpose: the item was held out with zero plays
    data.relevant.data[:] = 0.0
    assert RankingMetrics().compute(data).values["hitrate@2"] == 1.0


@pytest.mark.parametrize("k", [1, 3, 10])
def test_ndcg_agrees_with_sklearn(k: int, make_input) -> None:
    rng = np.random.default_rng(k)
    n_users, n_items = 25, 30
    scores = rng.random((n_users, n_items))  # continuous: no ties
    plays = np.where(rng.random((n_users, n_items)) < 0.15, rng.integers(1, 20, (n_users, n_items)), 0)
    plays[plays.sum(axis=1) == 0, 0] = 3  # sklearn needs at least one relevant item per row to agree
    topk = np.argsort(-scores, axis=1)[:, :k]
    data = make_input(topk.tolist(), {}, k=k, n_items=n_items)
    data.relevant = sp.csr_matrix(plays.astype(np.float64))
    res = RankingMetrics({"graded_gain": "plays"}).compute(data)
    assert res.values[f"ndcg@{k}"] == pytest.approx(ndcg_score((plays > 0).astype(float), scores, k=k))
    assert res.values[f"ndcg_graded@{k}"] == pytest.approx(ndcg_score(plays, scores, k=k))


def test_missing_ranking_part_is_a_clear_error(make_input) -> None:
    data = make_input([[1, 2]], {0: {2: 1.0}}, k=2)
    data.topk = None
    with pytest.raises(ValueError, match="ranking"):
        RankingMetrics().compute(data)
