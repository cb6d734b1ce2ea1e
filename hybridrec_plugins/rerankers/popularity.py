"""Popularity re-ranking: boost the long tail, or cap how many head tracks a list holds."""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field
from scipy.stats import rankdata

from hybridrec_core.dataset import FeatureSet
from hybridrec_core.interfaces import Candidates, PluginConfig, ReRanker, RerankContext
from hybridrec_core.rerank_utils import capped_utility, greedy_select, minmax_rows, picks_then_rest, reorder


def popularity_percentile(features: FeatureSet) -> np.ndarray:
    """(n_items,) share of catalogue tracks with at most this track's training plays count
    (average rank for ties, in (0, 1]); the unknown row 0 gets 0."""
    pop = features.item_popularity()
    out = np.zeros_like(pop)
    if pop.shape[0] > 1:
        out[1:] = rankdata(pop[1:], method="average") / (pop.shape[0] - 1)
    return out


def head_items(features: FeatureSet, head_fraction: float) -> np.ndarray:
    """(n_items,) bool: the ``ceil(head_fraction * catalogue)`` most-interacted tracks in training
    (ties -> lower index), excluding tracks nobody played."""
    pop = features.item_popularity()
    n = pop.shape[0] - 1
    size = int(np.ceil(head_fraction * n))
    order = np.lexsort((np.arange(1, n + 1), -pop[1:])) + 1  # most popular first, ties -> lower index
    head = np.zeros(pop.shape[0], dtype=bool)
    head[order[:size]] = True
    return head & (pop > 0)


class PopularityRerank(ReRanker):
    """Counters popularity bias, by one of two documented rules.

    ``boost_long_tail``: re-sort the pool by ``(1 - weight) * relevance + weight * (1 - pct)``,
    where relevance is the model score min-max scaled within the user's pool and ``pct`` the
    track's training-popularity percentile in the catalogue (1 = most played).
    ``cap_popular``: the head is the ``head_fraction`` most-played tracks of the catalogue; walking
    the pool best-first, at most ``floor(max_head_share * k)`` head tracks enter the list (tail
    tracks fill the rest; head tracks come back only if the pool has too few tail tracks).
    """

    name: ClassVar[str] = "popularity"
    description: ClassVar[str] = "Boost long-tail tracks or cap popular ones by a documented rule."

    class Config(PluginConfig):
        mode: Literal["boost_long_tail", "cap_popular"] = Field(
            "boost_long_tail", description="Re-score towards the tail, or cap the number of head tracks."
        )
        weight: float = Field(
            0.3, ge=0.0, le=1.0, description="boost_long_tail: weight of (1 - popularity percentile) in the new score."
        )
        head_fraction: float = Field(
            0.1, gt=0.0, lt=1.0, description="cap_popular: share of the catalogue (most played first) that is 'head'."
        )
        max_head_share: float = Field(
            0.3, ge=0.0, le=1.0, description="cap_popular: largest share of the list that head tracks may hold."
        )

    def rerank(self, candidates: Candidates, k: int, context: RerankContext) -> Candidates:
        items = np.clip(candidates.items, 0, None)
        if self.config.mode == "boost_long_tail":
            key = "popularity:percentile"
            if key not in context.extra:
                context.extra[key] = popularity_percentile(context.features)
            w = self.config.weight
            relevance = minmax_rows(candidates.scores, candidates.valid)
            return reorder(candidates, (1 - w) * relevance + w * (1.0 - context.extra[key][items]), k)
        key = f"popularity:head:{self.config.head_fraction}"
        if key not in context.extra:
            context.extra[key] = head_items(context.features, self.config.head_fraction)
        groups = (context.extra[key][items] & candidates.valid).astype(np.int64)[..., None]  # 1 = head
        length = context.list_length(k)
        caps = np.array([np.inf, np.floor(self.config.max_head_share * length + 1e-9)])
        counts = np.zeros((items.shape[0], 2), dtype=np.int64)
        utility, on_pick = capped_utility(groups, caps, counts)
        picks = greedy_select(candidates.valid, length, utility, on_pick)
        return picks_then_rest(candidates, picks, k)
