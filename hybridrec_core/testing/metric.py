"""Conformance tests for metric plugins.

Usage::

    class TestMyMetric(MetricTests):
        plugin_class = MyMetric

Checks: the metric computes on a seeded toy input (ranking or pointwise, from ``needs``), its
values are floats in a sane form, per-user arrays line up with the users and average to the
reported value, results are deterministic, the input is not modified, and ``-1`` padding
(users with fewer than k candidates) is handled.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from hybridrec_core.dataset import FeatureSet, InteractionSet
from hybridrec_core.interfaces import EvalInput, Metric
from hybridrec_core.testing.base import PluginTests
from hybridrec_core.testing.toy import toy_feature_set


def toy_eval_input(k: int = 5, n_users: int = 30, seed: int = 0, pad_rows: int = 3) -> EvalInput:
    """A seeded EvalInput over ``toy_feature_set()`` with both ranking and pointwise parts.

    The last ``pad_rows`` users get lists that end in ``-1`` padding (fewer than k candidates).
    """
    rng = np.random.default_rng(seed)
    fs = toy_feature_set(n_users=60, n_items=40)
    users = np.arange(1, n_users + 1, dtype=np.int64)
    topk = np.stack([rng.choice(np.arange(1, fs.n_items), size=k, replace=False) for _ in users])
    topk[n_users - pad_rows :, k // 2 :] = -1
    n_rel = rng.integers(1, 6, size=n_users)
    rows = np.repeat(np.arange(n_users), n_rel)
    cols = np.concatenate([rng.choice(np.arange(1, fs.n_items), size=c, replace=False) for c in n_rel])
    plays = rng.integers(1, 50, size=cols.size).astype(np.float32)
    relevant = sp.csr_matrix((plays, (rows, cols)), shape=(n_users, fs.n_items))
    targets = rng.random(cols.size)
    predictions = np.clip(targets + rng.normal(0, 0.2, size=cols.size), 0, 1)
    scores = -np.sort(rng.random((n_users, k)), axis=1)
    return EvalInput(
        users=users, k=k, features=fs, topk=topk, topk_scores=scores.astype(np.float32),
        relevant=relevant, predictions=predictions, targets=targets, pair_users=rows,
        item_vectors=rng.normal(size=(fs.n_items, 8)).astype(np.float32),
    )


class MetricTests(PluginTests):
    """Behaviour every metric plugin must show on a toy input."""

    plugin_class: ClassVar[type[Metric]]

    def make_input(self) -> EvalInput:
        return toy_eval_input()

    def test_computes_named_floats(self) -> None:
        result = self.make().compute(self.make_input())
        assert result.values, f"{self.plugin_class.name} returned no values"
        for name, value in result.values.items():
            assert isinstance(name, str) and name
            assert isinstance(value, float), f"{name} is {type(value).__name__}, not float"
            assert not np.isinf(value), f"{name} is infinite"

    def test_per_user_arrays_align_and_average(self) -> None:
        data = self.make_input()
        result = self.make().compute(data)
        for name, arr in result.per_user.items():
            assert arr.shape == (len(data.users),), f"per-user {name} has shape {arr.shape}"
            if name in result.values and np.isfinite(arr).any():
                assert np.isclose(result.values[name], np.nanmean(arr)), name

    def test_deterministic_and_does_not_modify_input(self) -> None:
        data = self.make_input()
        before = copy.deepcopy(data)
        a = self.make().compute(data).values
        b = self.make().compute(data).values
        assert a.keys() == b.keys()
        assert all(np.isclose(a[n], b[n], equal_nan=True) for n in a)
        assert np.array_equal(before.topk, data.topk)
        assert (before.relevant != data.relevant).nnz == 0
        assert np.array_equal(before.predictions, data.predictions)

    def test_fully_padded_lists_do_not_crash(self) -> None:
        data = self.make_input()
        data.topk = np.full_like(data.topk, -1)
        result = self.make().compute(data)
        assert all(isinstance(v, float) for v in result.values.values())


def with_cold_splits(
    features: FeatureSet, n_cold_users: int = 15, n_cold_items: int = 8, seed: int = 0
) -> FeatureSet:
    """Move every interaction of some users / tracks into ``cold_user`` / ``cold_item`` splits.

    Gives the toy FeatureSet the cold-start splits the data layer produces, with the training
    masks updated, so evaluation segments can be tested without the data layer.
    """
    rng = np.random.default_rng(seed)
    cold_u = rng.choice(np.arange(1, features.n_users), size=n_cold_users, replace=False)
    cold_i = rng.choice(np.arange(1, features.n_items), size=n_cold_items, replace=False)
    splits: dict[str, InteractionSet] = {}
    cold_user_parts, cold_item_parts = [], []
    for name, s in features.splits.items():
        is_u = np.isin(s.user, cold_u)
        is_i = np.isin(s.item, cold_i) & ~is_u
        cold_user_parts.append(s.subset(is_u))
        cold_item_parts.append(s.subset(is_i))
        splits[name] = s.subset(~is_u & ~is_i)

    def concat(parts: list[InteractionSet]) -> InteractionSet:
        ts = [p.timestamp for p in parts]
        return InteractionSet(
            *(np.concatenate([getattr(p, f) for p in parts]) for f in ("user", "item", "plays", "target")),
            timestamp=None if any(t is None for t in ts) else np.concatenate(ts),
        )

    splits["cold_user"], splits["cold_item"] = concat(cold_user_parts), concat(cold_item_parts)
    tu = np.zeros(features.n_users, bool)
    tu[splits["train"].user] = True
    ti = np.zeros(features.n_items, bool)
    ti[splits["train"].item] = True
    return dataclasses.replace(features, splits=splits, train_user_mask=tu, train_item_mask=ti)
