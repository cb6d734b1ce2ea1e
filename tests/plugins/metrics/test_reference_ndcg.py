"""The reference-design NDCG (per-user held-out items ranked by predicted plays)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import ndcg_score

from hybridrec_core.interfaces import EvalInput
from hybridrec_core.testing import MetricTests, toy_feature_set
from hybridrec_plugins.metrics.reference_ndcg import ReferenceNDCG


class TestReferenceNDCGConformance(MetricTests):
    plugin_class = ReferenceNDCG


def _input(pred: list[float], target: list[float], rows: list[int], n_users: int) -> EvalInput:
    return EvalInput(users=np.arange(1, n_users + 1), k=10, features=toy_feature_set(n_users=10, n_items=30),
                     predictions=np.array(pred), targets=np.array(target), pair_users=np.array(rows))


def test_hand_computed_and_single_item_users_excluded() -> None:
    # user 0: order by prediction gives targets [0.2, 0.0, 1.0]; user 1 has one item; user 2 none
    data = _input([0.9, 0.1, 0.5, 0.3], [0.2, 1.0, 0.0, 0.7], [0, 0, 0, 1], n_users=3)
    res = ReferenceNDCG().compute(data)
    expected = (0.2 + 0.0 + 1.0 / 2) / (1.0 + 0.2 / np.log2(3))
    assert res.values["reference_ndcg"] == pytest.approx(expected)
    assert np.isnan(res.per_user["reference_ndcg"][1:]).all()
    single = ReferenceNDCG({"min_items": 1}).compute(data).per_user["reference_ndcg"]
    assert single[1] == pytest.approx(1.0)


def test_ties_are_pessimistic() -> None:
    res = ReferenceNDCG().compute(_input([0.5, 0.5], [1.0, 0.0], [0, 0], n_users=1))
    assert res.values["reference_ndcg"] == pytest.approx(1 / np.log2(3))


def test_agrees_with_sklearn_per_user() -> None:
    rng = np.random.default_rng(3)
    sizes = rng.integers(2, 9, size=12)
    rows = np.repeat(np.arange(12), sizes)
    pred, target = rng.random(rows.size), rng.random(rows.size)
    ours = ReferenceNDCG().compute(_input(pred.tolist(), target.tolist(), rows.tolist(), 12))
    theirs = [ndcg_score(target[rows == u][None], pred[rows == u][None]) for u in range(12)]
    assert np.allclose(ours.per_user["reference_ndcg"], theirs)
    at3 = ReferenceNDCG({"k": 3}).compute(_input(pred.tolist(), target.tolist(), rows.tolist(), 12))
    theirs3 = [ndcg_score(target[rows == u][None], pred[rows == u][None], k=3) for u in range(12)]
    assert np.allclose(at3.per_user["reference_ndcg@3"], theirs3)
