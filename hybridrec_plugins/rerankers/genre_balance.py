"""Genre balance: no genre takes more than its share of a list."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field, field_validator

from hybridrec_core.errors import PluginError
from hybridrec_core.interfaces import Candidates, PluginConfig, ReRanker, RerankContext
from hybridrec_core.rerank_utils import capped_utility, greedy_select, picks_then_rest, pool_groups, share_cap


class GenreBalance(ReRanker):
    """Greedy selection in model order under per-genre caps.

    Rule: walking the pool best-first, a track is taken only while every one of its genres holds
    fewer than its cap in the list. The cap is ``floor(max_share * k)`` (at least 1) for every
    genre, or ``round(share * k)`` for the genres named in ``target_mix`` (so a mix summing to 1
    is met exactly when the pool allows). Tracks without a genre are never capped. When the pool
    cannot fill ``k`` slots under the caps, the best remaining tracks fill the list (the rule is
    relaxed, never the list length).
    """

    name: ClassVar[str] = "genre_balance"
    description: ClassVar[str] = "Cap each genre's share of the list, or steer it to a target genre mix."

    class Config(PluginConfig):
        max_share: float = Field(0.5, gt=0.0, le=1.0, description="Largest share of the list one genre may hold.")
        target_mix: dict[str, float] | None = Field(
            None,
            description="Genre name -> share of the list (each in [0, 1], summing to <= 1); named genres "
            "get round(share * k) slots, the others max_share.",
        )

        @field_validator("target_mix")
        @classmethod
        def _mix(cls, v: dict[str, float] | None) -> dict[str, float] | None:
            if v is None:
                return v
            if not v:
                raise ValueError("target_mix must name at least one genre (or be null)")
            for g, share in v.items():
                if not g.strip() or not 0.0 <= share <= 1.0:
                    raise ValueError(f"target_mix[{g!r}] = {share}: shares must be in [0, 1] with a genre name")
            if sum(v.values()) > 1.0 + 1e-6:
                raise ValueError(f"target_mix shares sum to {sum(v.values()):.3f} > 1")
            return v

    def caps(self, context: RerankContext, list_length: int) -> np.ndarray:
        """Per-genre caps (index 0 = no genre -> unlimited) for a list of ``list_length``."""
        genres = context.features.genres
        caps = np.full(len(genres), float(share_cap(self.config.max_share, list_length)))
        caps[0] = np.inf
        if self.config.target_mix:
            index = {g: i for i, g in enumerate(genres.ids.tolist())}
            unknown = sorted(set(self.config.target_mix) - set(index) - {genres.ids[0]})
            if unknown:
                raise PluginError(
                    f"reranker 'genre_balance': target_mix names unknown genres {unknown}; known genres: "
                    f"{', '.join(map(str, genres.ids[1:][:30]))}"
                )
            for g, share in self.config.target_mix.items():
                caps[index[g]] = float(np.floor(share * list_length + 0.5))
        return caps

    def rerank(self, candidates: Candidates, k: int, context: RerankContext) -> Candidates:
        key = "genre_balance:padded"
        if key not in context.extra:
            context.extra[key] = context.features.item_features.genre_padded(pad=0)
        groups = pool_groups(context.extra[key], candidates.items)
        length = context.list_length(k)
        counts = np.zeros((candidates.items.shape[0], context.features.n_genres), dtype=np.int64)
        utility, on_pick = capped_utility(groups, self.caps(context, length), counts)
        picks = greedy_select(candidates.valid, length, utility, on_pick)
        return picks_then_rest(candidates, picks, k)
