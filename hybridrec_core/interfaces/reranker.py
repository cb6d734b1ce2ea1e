"""Re-ranker plugins: reorder a candidate pool per user, never adding items from outside it."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from hybridrec_core.dataset import FeatureSet
from hybridrec_core.interfaces.base import Plugin, PluginKind


@dataclass
class Candidates:
    """A batch of candidate pools: ``items`` (B, P) item indices best-first, ``-1`` for empty
    slots; ``scores`` (B, P) float32 (``-inf`` for empty); ``users`` (B,) user indices."""

    users: np.ndarray
    items: np.ndarray
    scores: np.ndarray

    def __post_init__(self) -> None:
        if self.items.shape != self.scores.shape or self.items.shape[0] != self.users.shape[0]:
            raise ValueError(
                f"Candidates shapes disagree: users {self.users.shape}, items {self.items.shape}, "
                f"scores {self.scores.shape}"
            )

    @property
    def valid(self) -> np.ndarray:
        return self.items >= 0


@dataclass
class RerankContext:
    """Side information a re-ranker may use."""

    features: FeatureSet
    item_vectors: np.ndarray | None = None  # (n_items, d) embeddings from the model, if any
    user_flags: dict[str, np.ndarray] = field(default_factory=dict)  # e.g. "no_explicit": bool (n_users,)
    extra: dict[str, Any] = field(default_factory=dict)
    # Length of the final list. A chain asks its earlier stages for the whole pool (so later stages
    # still have items to choose from); rules stated per list (a genre share, MMR's greedy steps)
    # apply to the first ``list_k`` positions. None means the ``k`` passed to ``rerank``.
    list_k: int | None = None

    def list_length(self, k: int) -> int:
        """The list length a share-based rule is about: ``min(k, list_k)``."""
        return k if self.list_k is None else max(1, min(k, self.list_k))


class ReRanker(Plugin):
    """Turns a pool of P candidates into at most ``k`` items chosen from that pool."""

    kind: ClassVar[PluginKind] = PluginKind.RERANKER

    @abstractmethod
    def rerank(self, candidates: Candidates, k: int, context: RerankContext) -> Candidates:
        """Return (B, k) candidates, every item taken from the input pool; ``-1`` padding only
        when the pool holds fewer than ``k`` acceptable items."""
