"""``popularity``: every user gets the most-played tracks of the training split.

The floor every other model must beat, and the fallback for users with no history at all.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field
from typing_extensions import Self

from hybridrec_core.dataset import FeatureSet
from hybridrec_core.interfaces import FitContext, Model, PluginConfig, TrainingHistory
from hybridrec_core.state import State
from hybridrec_plugins.models._common import check_items, gather_candidates


class PopularityConfig(PluginConfig):
    """How popularity is counted."""

    weighting: Literal["count", "plays"] = Field(
        "count", description="'count': number of training listeners; 'plays': summed play counts."
    )


class Popularity(Model):
    """Scores each track by its training popularity (log-scaled), the same for every user."""

    name: ClassVar[str] = "popularity"
    description: ClassVar[str] = "Most popular tracks in the training split (same list for everyone)."
    Config: ClassVar[type[PluginConfig]] = PopularityConfig
    needs_whole_train: ClassVar[bool] = True  # counts over every training row

    def __init__(self, config: PopularityConfig | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.scores_: torch.Tensor | None = None

    def fit(self, features: FeatureSet, context: FitContext) -> TrainingHistory:
        features.require_whole_train(f"model {self.name!r}")
        train = features.train
        weights = None if self.config.weighting == "count" else train.plays.astype(np.float64)
        counts = np.bincount(train.item, weights=weights, minlength=features.n_items)
        self.scores_ = torch.as_tensor(np.log1p(counts).astype(np.float32))
        return TrainingHistory(extra={"items_with_counts": int((counts > 0).sum())})

    def score_items(self, users: np.ndarray, items: np.ndarray | None = None) -> torch.Tensor:
        if self.scores_ is None:
            raise RuntimeError("popularity model is not fitted")
        users = np.asarray(users).reshape(-1)
        cand = check_items(items, len(users), self.scores_.numel())
        full = self.scores_.unsqueeze(0).expand(len(users), -1)
        return gather_candidates(full, cand).clone()

    def item_embeddings(self) -> np.ndarray | None:
        return None

    def get_state(self) -> State:
        if self.scores_ is None:
            raise RuntimeError("popularity model is not fitted")
        return State(meta={}, arrays={"scores": self.scores_.numpy()})

    @classmethod
    def from_state(cls, state: State, features: FeatureSet, config: Any = None) -> Self:
        model = cls(config)
        scores = np.asarray(state.arrays["scores"], dtype=np.float32)
        if scores.shape != (features.n_items,):
            raise ValueError(f"popularity state has {scores.shape[0]} items, the FeatureSet has {features.n_items}")
        model.scores_ = torch.as_tensor(scores)
        return model
