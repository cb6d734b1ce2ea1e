"""Explicit-content filter: remove explicit tracks for everyone or for flagged users."""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from hybridrec_core.errors import PluginError
from hybridrec_core.interfaces import Candidates, PluginConfig, ReRanker, RerankContext
from hybridrec_core.rerank_utils import compact


class ExplicitFilter(ReRanker):
    """Drops tracks whose ``explicit`` flag is set, keeping the rest in order.

    ``scope="all_users"`` filters every list; ``scope="flagged_users"`` only the lists of users
    whose ``RerankContext.user_flags[flag]`` entry (bool, indexed by user index) is true. With no
    such flag array, no user is flagged. Explicit tracks are not acceptable for a filtered list,
    so such a list is shorter than ``k`` only when the pool holds fewer than ``k`` clean tracks.
    """

    name: ClassVar[str] = "explicit_filter"
    description: ClassVar[str] = "Drop explicit tracks globally or for users flagged for it."

    class Config(PluginConfig):
        scope: Literal["all_users", "flagged_users"] = Field(
            "flagged_users", description="Filter every list, or only those of users carrying the flag."
        )
        flag: str = Field(
            "no_explicit",
            min_length=1,
            max_length=64,
            description="Name of the RerankContext.user_flags entry that marks users to filter for.",
        )

    def filtered_users(self, users: np.ndarray, context: RerankContext) -> np.ndarray:
        """(B,) bool: which of ``users`` (indices) get explicit tracks removed."""
        if self.config.scope == "all_users":
            return np.ones(users.shape[0], dtype=bool)
        flags = context.user_flags.get(self.config.flag)
        if flags is None:
            return np.zeros(users.shape[0], dtype=bool)
        flags = np.asarray(flags, dtype=bool)
        if flags.shape != (context.features.n_users,):
            raise PluginError(
                f"reranker 'explicit_filter': user_flags[{self.config.flag!r}] has shape {flags.shape}, "
                f"expected ({context.features.n_users},) (one bool per user index)"
            )
        return flags[users]

    def rerank(self, candidates: Candidates, k: int, context: RerankContext) -> Candidates:
        explicit = context.features.item_features.explicit
        pool_explicit = explicit[np.clip(candidates.items, 0, None)] & candidates.valid
        drop = pool_explicit & self.filtered_users(candidates.users, context)[:, None]
        return compact(candidates, candidates.valid & ~drop, k)
