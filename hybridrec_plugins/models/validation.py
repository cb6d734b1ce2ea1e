"""Full-ranking validation shared by the model plugins that choose things on the validation split."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import torch

from hybridrec_core.dataset import FeatureSet
from hybridrec_core.interfaces import EvalInput
from hybridrec_core.ranking import topk_for_users
from hybridrec_plugins.metrics.ranking import RankingMetrics

ScoreFn = Callable[[np.ndarray], torch.Tensor]


class Validation(NamedTuple):
    """One scorer's validation figures: the means, and NDCG@k per sampled user (for paired
    comparisons between candidates, see :func:`one_se_choice`)."""

    values: dict[str, float]
    ndcg_per_user: np.ndarray


def full_ranking_validator(
    features: FeatureSet, *, max_users: int, seed: int,
    keep: Callable[[np.ndarray], np.ndarray] | None = None, k: int = 10,
) -> tuple[Callable[[ScoreFn], Validation], int]:
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

    def validate(score_fn: ScoreFn) -> Validation:
        top, _ = topk_for_users(score_fn, users, k, seen, batch_users=256)
        result = metric.compute(EvalInput(users=users, k=k, features=features, topk=top, relevant=relevant))
        values = {f"ndcg@{k}": result.values[f"ndcg@{k}"], f"recall@{k}": result.values[f"recall@{k}"]}
        return Validation(values, result.per_user[f"ndcg@{k}"])

    return validate, len(users)


def one_se_choice(per_user: Sequence[np.ndarray]) -> tuple[int, float, float]:
    """Which candidate to keep, given each one's per-user validation scores (the same users, in
    the same order): the first, unless the best mean beats it by more than one standard error of
    the paired per-user difference, then the best (the one-standard-error rule of model selection,
    with the first candidate as the preferred one). Why: on one validation sample a margin of
    0.0001 picks a setting by chance (measured: Last.fm, where the picked runner-up lost 0.006 on
    test); only a margin the sample can resolve should move a model off its default.
    Returns (index, best margin over the first, its standard error)."""
    means = [float(np.nanmean(a)) for a in per_user]
    best = int(np.argmax(means))
    diff = np.asarray(per_user[best], dtype=np.float64) - np.asarray(per_user[0], dtype=np.float64)
    diff = diff[~np.isnan(diff)]
    margin = float(diff.mean()) if diff.size else 0.0
    se = float(diff.std(ddof=1) / np.sqrt(diff.size)) if diff.size > 1 else float("inf")
    return (best if margin > se else 0), margin, se
