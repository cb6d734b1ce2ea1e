"""Full-ranking validation shared by the model plugins that choose things on the validation split."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from hybridrec_core.dataset import FeatureSet
from hybridrec_core.interfaces import EvalInput
from hybridrec_core.ranking import topk_for_users
from hybridrec_plugins.metrics.ranking import RankingMetrics

ScoreFn = Callable[[np.ndarray], torch.Tensor]


def full_ranking_validator(
    features: FeatureSet, *, max_users: int, seed: int,
    keep: Callable[[np.ndarray], np.ndarray] | None = None, k: int = 10,
) -> tuple[Callable[[ScoreFn], dict[str, float]], int]:
    """A function giving NDCG@k and recall@k of a scorer ``users -> (B, n_items)`` over the whole
    catalogue, training items excluded, for a seeded sample of up to ``max_users`` validation users
    (``keep``: a mask over the validation users applied first, e.g. one rank's shard): the
    evaluation protocol and the report's own metric, on this sample. The sample and the seen and
    relevance matrices are built once, so each call (per epoch, or per candidate setting with that
    candidate's scorer) only scores. Returns the function and the number of users it scores."""
    users = np.unique(features.valid.user)
    if keep is not None:
        users = users[keep(users)]
    if len(users) > max_users:
        users = np.sort(np.random.default_rng(seed + 1).choice(users, max_users, replace=False))
    n = (features.n_users, features.n_items)
    seen = features.train.csr(*n)
    relevant = features.valid.csr(*n, values="plays")[users]
    metric = RankingMetrics()

    def validate(score_fn: ScoreFn) -> dict[str, float]:
        top, _ = topk_for_users(score_fn, users, k, seen, batch_users=256)
        values = metric.compute(EvalInput(users=users, k=k, features=features, topk=top, relevant=relevant)).values
        return {f"ndcg@{k}": values[f"ndcg@{k}"], f"recall@{k}": values[f"recall@{k}"]}

    return validate, len(users)
