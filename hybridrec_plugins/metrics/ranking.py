"""Top-k accuracy metrics on full-catalogue rankings (train items already excluded).

Definitions (``rel`` = the user's held-out items, ``hits`` = relevant items in the top k;
``-1`` padding slots count as misses):

- ``ndcg@k``: binary gains, DCG / ideal DCG with ``min(|rel|, k)`` ones at the top.
- ``ndcg_graded@k``: gains from play counts (``log1p(plays)`` by default), ideal = the user's
  ``k`` largest gains sorted.
- ``recall@k`` = hits / |rel|; ``precision@k`` = hits / k; ``hitrate@k`` = 1 if any hit.
- ``mrr@k`` = 1 / rank of the first hit (0 without a hit).
- ``map@k`` = sum over hit ranks r of precision@r, divided by ``min(|rel|, k)``.

Users without held-out items are excluded by the evaluation engine before this runs; if any
reach a metric anyway they get NaN and are left out of the mean.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from hybridrec_core.interfaces import EvalInput, Metric, MetricResult, PluginConfig
from hybridrec_plugins.metrics._common import (
    discounts,
    gather_relevance,
    per_user_mean,
    require_ranking,
    top_values_per_row,
)

GAINS = {
    "log1p_plays": np.log1p,
    "plays": lambda x: x,
    "binary": lambda x: (x > 0).astype(np.float64),
}


class RankingMetrics(Metric):
    """NDCG (binary and graded), recall, precision, hit rate, MRR and MAP at k."""

    name = "ranking"
    description = "Full-ranking accuracy at k: ndcg, ndcg_graded, recall, precision, hitrate, mrr, map."
    needs = "ranking"

    class Config(PluginConfig):
        graded_gain: Literal["log1p_plays", "plays", "binary"] = Field(
            "log1p_plays",
            description="Gain of a held-out item in ndcg_graded@k (log1p keeps heavy listeners from dominating).",
        )

    def compute(self, data: EvalInput) -> MetricResult:
        topk, rel = require_ranking(data, self.name)
        k = data.k
        n_rel = np.diff(rel.indptr).astype(np.float64)
        has = n_rel > 0
        hit, plays = gather_relevance(rel, topk)  # (n_users, k) hit flags and play counts
        disc = discounts(k)
        n_hits = hit.sum(axis=1).astype(np.float64)
        ideal_n = np.minimum(n_rel, k).astype(np.int64)
        idcg_binary = np.concatenate([[0.0], np.cumsum(disc)])[ideal_n]
        gain_fn = GAINS[self.config.graded_gain]
        gains = gain_fn(np.where(hit, plays, 0.0))
        idcg_graded = top_values_per_row(rel, k, gain_fn(rel.data.astype(np.float64))) @ disc
        first = np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, 0)
        prec_at = np.cumsum(hit, axis=1) / np.arange(1, k + 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            per_user = {
                f"ndcg@{k}": (hit @ disc) / idcg_binary,
                f"ndcg_graded@{k}": (gains @ disc) / idcg_graded,
                f"recall@{k}": n_hits / n_rel,
                f"precision@{k}": n_hits / k,
                f"hitrate@{k}": (n_hits > 0).astype(np.float64),
                f"mrr@{k}": np.where(first > 0, 1.0 / np.maximum(first, 1), 0.0),
                f"map@{k}": (prec_at * hit).sum(axis=1) / ideal_n,
            }
        per_user = {name: np.where(has, v, np.nan) for name, v in per_user.items()}
        return MetricResult({name: per_user_mean(v) for name, v in per_user.items()}, per_user)
