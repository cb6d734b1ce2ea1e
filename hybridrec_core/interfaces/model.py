"""Model plugins: fit on a FeatureSet, score (user, item) pairs and whole catalogues."""

from __future__ import annotations

import logging
from abc import abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from typing_extensions import Self

from hybridrec_core.dataset import FeatureSet, TrainShard
from hybridrec_core.interfaces.base import Plugin, PluginKind
from hybridrec_core.state import State

if TYPE_CHECKING:
    from hybridrec_core.distributed import DistributedContext


@dataclass
class FitContext:
    """What the framework hands a model at fit time."""

    seed: int = 42
    device: str = "auto"  # "auto" -> CUDA when available, else CPU
    checkpoint_dir: Path | None = None  # where a trainer may write resumable checkpoints
    progress: bool = False  # show a progress bar with live loss (off in tests/CI)
    deterministic: bool = False
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("hybridrec.train"))
    # Set by the torchrun entry point: this process is one rank of a data-parallel job. Models that
    # train through hybridrec_core.training.fit_module need nothing else to support it.
    distributed: DistributedContext | None = None
    # Set (by api.train, from FeatureSet.train_shard) when features.train is only this rank's shard:
    # the training engine then shuffles and batches this rank's rows alone.
    train_shard: TrainShard | None = None


@dataclass
class TrainingHistory:
    """Per-epoch records (``loss``, ``lr``, ``seconds`` and validation metrics) plus a summary."""

    epochs: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int | None = None
    best_metric: float | None = None
    monitor: str | None = None  # name of the validation metric early stopping watched
    seconds: float = 0.0
    device: str = "cpu"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "epochs": self.epochs,
            "best_epoch": self.best_epoch,
            "best_metric": self.best_metric,
            "monitor": self.monitor,
            "seconds": self.seconds,
            "device": self.device,
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainingHistory":
        return cls(**d)


class Model(Plugin):
    """A recommender. Indices follow :mod:`hybridrec_core.dataset` (0 = unknown).

    Required: :meth:`fit`, :meth:`score_items`, :meth:`get_state`, :meth:`from_state`.
    :meth:`score` (pointwise) defaults to gathering from :meth:`score_items`; models that predict
    the regression target set ``predicts_target = True`` so regression metrics are computed.
    :meth:`retrieval_scores` is the cheap first stage of two-stage recommendation (optional).
    """

    kind: ClassVar[PluginKind] = PluginKind.MODEL
    predicts_target: ClassVar[bool] = False
    # True when fit needs every training row (counts, neighbourhoods, closed-form solves) and so
    # cannot fit on one data-parallel rank's shard (FeatureSet.train_shard); api.train refuses
    # such a FeatureSet for it, and the torchrun entry point gives it the whole split instead.
    # Both read it from the configured instance, so a property may make it depend on the config.
    needs_whole_train: ClassVar[bool] = False

    @abstractmethod
    def fit(self, features: FeatureSet, context: FitContext) -> TrainingHistory:
        """Train on ``features.train`` (``features.valid`` for early stopping only)."""

    @abstractmethod
    def score_items(self, users: np.ndarray, items: np.ndarray | None = None) -> torch.Tensor:
        """Scores of shape (len(users), n_items) for ``items=None`` (the whole catalogue, row 0
        included), or (len(users), items.shape[1]) for a 2-D array of candidate items per user.
        Higher is better. Item-side work should be cached and shared across calls."""

    def score(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Pointwise scores for aligned (user, item) pairs."""
        out = self.score_items(np.asarray(users), np.asarray(items).reshape(-1, 1))
        return out[:, 0].detach().float().cpu().numpy()

    def retrieval_scores(self, users: np.ndarray) -> torch.Tensor | None:
        """Cheap approximate scores over the whole catalogue for candidate retrieval, or None."""
        return None

    def item_embeddings(self) -> np.ndarray | None:
        """(n_items, d) item vectors for similarity (MMR, diversity), or None."""
        return None

    @abstractmethod
    def get_state(self) -> State:
        """Weights and settings; ``meta`` JSON-able, ``arrays`` numeric (no pickle)."""

    @classmethod
    @abstractmethod
    def from_state(cls, state: State, features: FeatureSet, config: Any = None) -> Self:
        """Rebuild a fitted model; ``features`` supplies item-side arrays and vocab sizes."""
