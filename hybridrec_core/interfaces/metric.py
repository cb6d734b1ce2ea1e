"""Metric plugins: top-k lists or pointwise predictions in, numbers out."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from hybridrec_core.dataset import FeatureSet
from hybridrec_core.interfaces.base import Plugin, PluginKind


@dataclass
class EvalInput:
    """One batch (or all) of evaluated users.

    Ranking part: ``topk`` (n_users, K) item indices ranked best-first, ``-1`` where fewer than K
    candidates existed; ``relevant`` a scipy CSR (n_users, n_items) of held-out items with their
    play counts as values (train items already excluded from ``topk``).
    Pointwise part: ``predictions`` / ``targets`` aligned arrays (regression target scale) and
    ``pair_users`` (row index into the batch's users for each pair).
    """

    users: np.ndarray
    k: int
    features: FeatureSet
    topk: np.ndarray | None = None
    topk_scores: np.ndarray | None = None
    relevant: Any | None = None  # scipy.sparse.csr_matrix
    predictions: np.ndarray | None = None
    targets: np.ndarray | None = None
    pair_users: np.ndarray | None = None
    item_vectors: np.ndarray | None = None  # (n_items, d) for diversity metrics
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class MetricResult:
    """Named values (e.g. ``{"ndcg@10": 0.21}``) and optional per-user arrays for bucketing."""

    values: dict[str, float]
    per_user: dict[str, np.ndarray] = field(default_factory=dict)


class Metric(Plugin):
    """Computes one family of numbers. ``needs`` says which part of :class:`EvalInput` it reads;
    ``aggregate`` says how per-batch results combine (``mean`` over users, or ``custom`` where the
    metric implements :meth:`combine`)."""

    kind: ClassVar[PluginKind] = PluginKind.METRIC
    needs: ClassVar[Literal["ranking", "pointwise"]] = "ranking"

    @abstractmethod
    def compute(self, data: EvalInput) -> MetricResult:
        """Compute the metric for the users in ``data``."""
