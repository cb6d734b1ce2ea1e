"""``artist_cap``: at most N tracks per artist in a list."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field

from hybridrec_core.interfaces import Candidates, PluginConfig, ReRanker, RerankContext

from hybridrec_artist_cap._artists import artist_codes, occurrence_rank


class ArtistCap(ReRanker):
    """Walk the pool best-first and keep a track only while its artist holds fewer than
    ``max_per_artist`` tracks in the list. Because the pool is already in model order, that
    greedy walk equals "keep the tracks whose artist occurrence rank is below the cap", which
    is computed for all users at once. When the cap leaves fewer than ``k`` tracks, the best
    capped-out tracks fill the list unless ``strict`` (then the list is shorter, ``-1`` padded).
    Items never come from outside the pool; tracks of unknown artist are never capped.
    """

    name: ClassVar[str] = "artist_cap"
    description: ClassVar[str] = "At most N tracks per artist in each list, chosen from the pool in model order."

    class Config(PluginConfig):
        max_per_artist: int = Field(1, ge=1, le=100, description="Most tracks one artist may have in a list.")
        strict: bool = Field(
            False, description="Leave slots empty rather than exceed the cap when the pool runs out of artists."
        )

    def rerank(self, candidates: Candidates, k: int, context: RerankContext) -> Candidates:
        fs = context.features
        b, p = candidates.items.shape
        valid = candidates.valid
        codes = artist_codes(candidates.items, fs.item_features.artist, fs.n_artists)
        within_cap = occurrence_rank(codes) < self.config.max_per_artist
        position = np.broadcast_to(np.arange(p, dtype=np.float64), (b, p))
        overflow = np.inf if self.config.strict else p + position  # capped-out tracks come last
        key = np.where(valid & within_cap, position, np.where(valid, overflow, np.inf))
        if p < k:
            key = np.concatenate([key, np.full((b, k - p), np.inf)], axis=1)
        chosen = np.argsort(key, axis=1, kind="stable")[:, :k]
        taken = np.isfinite(np.take_along_axis(key, chosen, axis=1))
        safe = np.where(taken, chosen, 0)
        items = np.where(taken, np.take_along_axis(candidates.items, safe, axis=1) if p else -1, -1)
        scores = np.where(taken, np.take_along_axis(candidates.scores, safe, axis=1) if p else -np.inf, -np.inf)
        return Candidates(candidates.users, items.astype(np.int64), scores.astype(np.float32))
