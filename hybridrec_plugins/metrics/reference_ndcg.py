"""The reference design's NDCG: a *different protocol* from the full-ranking ``ndcg@k``.

For each user, only that user's own held-out items are ranked, by predicted score, with the
normalized target (play-count strength) as linear gain; no other catalogue items take part and
there is no cut-off unless ``k`` is set. It answers "does the model order the tracks a user did
play by how much they played them?", not "does it find them in the catalogue?". Users with fewer
than ``min_items`` held-out items are left out (with one item the score is trivially 1). Ties in
predicted score are broken by the lower target (pessimistic), so a constant predictor is not
rewarded. Matches ``sklearn.metrics.ndcg_score`` when predictions have no ties.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from hybridrec_core.interfaces import EvalInput, Metric, MetricResult, PluginConfig
from hybridrec_plugins.metrics._common import per_user_mean
from hybridrec_plugins.metrics.regression import require_pointwise


def _dcg_by_group(
    groups: np.ndarray, order: np.ndarray, gains: np.ndarray, n_groups: int, k: int | None
) -> np.ndarray:
    """DCG per group of pairs visited in ``order`` (sorted by group first)."""
    g = groups[order]
    starts = np.searchsorted(g, np.arange(n_groups))
    rank = np.arange(order.size) - starts[g]
    disc = 1.0 / np.log2(rank + 2.0)
    if k is not None:
        disc = np.where(rank < k, disc, 0.0)
    return np.bincount(g, weights=gains[order] * disc, minlength=n_groups)


class ReferenceNDCG(Metric):
    """NDCG over each user's own held-out items ranked by predicted plays (reference protocol)."""

    name = "reference_ndcg"
    description = (
        "Reference-design protocol: per-user NDCG of the user's own held-out items ranked by predicted "
        "score, gains = normalized plays. Not comparable with full-ranking ndcg@k."
    )
    needs = "pointwise"
    requires_target_scale = False  # any scorer can order a user's items

    class Config(PluginConfig):
        min_items: int = Field(2, ge=1, description="Users need at least this many held-out items to count.")
        k: int | None = Field(None, ge=1, description="Optional cut-off; None ranks all of a user's items.")

    def compute(self, data: EvalInput) -> MetricResult:
        pred, target = require_pointwise(data, self.name)
        if data.pair_users is None:
            raise ValueError(f"metric plugin {self.name!r} needs EvalInput.pair_users")
        groups = np.asarray(data.pair_users, dtype=np.int64)
        n = len(data.users)
        out = np.full(n, np.nan)
        if pred.size:
            dcg = _dcg_by_group(groups, np.lexsort((target, -pred, groups)), target, n, self.config.k)
            idcg = _dcg_by_group(groups, np.lexsort((-target, groups)), target, n, self.config.k)
            count = np.bincount(groups, minlength=n)
            with np.errstate(divide="ignore", invalid="ignore"):
                ndcg = np.where(idcg > 0, dcg / idcg, np.nan)  # all-zero gains: undefined
            out = np.where(count >= self.config.min_items, ndcg, np.nan)
        name = "reference_ndcg" if self.config.k is None else f"reference_ndcg@{self.config.k}"
        return MetricResult({name: per_user_mean(out)}, {name: out})
