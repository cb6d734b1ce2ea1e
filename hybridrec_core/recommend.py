"""Top-K recommendation lists for many users at once, then the re-ranker chain.

How a list is made (per batch of ``config.batch_users`` users, so memory stays bounded by
``batch_users x n_items`` scores on the model's device):

1. Score. *Exhaustive*: ``model.score_items(users)`` over the whole catalogue. *Two-stage*
   (``config.two_stage``): ``model.retrieval_scores(users)`` (a cheap dot product), keep the top
   ``max(retrieval_candidates, pool_size)``, score only those with ``model.score_items(users,
   candidates)``; a model without ``retrieval_scores`` falls back to exhaustive scoring.
2. Exclude the unknown item (index 0) and, with ``config.exclude_seen``, the user's training
   tracks; take the best ``pool_size`` (``k`` when no re-ranker runs) with
   :func:`hybridrec_core.ranking.topk_rows` (ties -> lower item index, so lists are reproducible).
3. Re-rank: each re-ranker gets the previous stage's pool; all but the last hand the whole pool on
   (``RerankContext.list_k`` tells them the final length), the last returns ``k`` items. A stage
   "changed" a user's list when the first ``k`` items (or their order) differ after it.

Cold start: users that are unknown (not in the vocabulary) or have no training history (not in
``FeatureSet.train_user_mask``) all get the same list, the model's scores for user index 0, i.e.
the learned unknown-user embedding with each track's content (for the popularity baseline: the
most played tracks). It is computed once and shared; re-rankers still apply per user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import scipy.sparse as sp
import torch

from hybridrec_core.config import RecommendConfig
from hybridrec_core.dataset import UNKNOWN_INDEX, FeatureSet
from hybridrec_core.errors import DataError, PluginError
from hybridrec_core.interfaces import Candidates, Model, ReRanker, RerankContext
from hybridrec_core.ranking import NEG_INF, batched, mask_rows, topk_rows
from hybridrec_core.storage import Store

RECOMMENDATIONS_TABLE = "recommendations"
RECOMMENDATION_COLUMNS: tuple[str, ...] = (
    "user_id", "rank", "track_id", "score", "model_version", "generated_at", "reranked_by",
)
FRAME_COLUMNS: tuple[str, ...] = ("user_id", "rank", "track_id", "score", "title", "artist", "genres", "reranked_by")


@dataclass
class RecommendationResult:
    """Lists for B users: ``items`` (B, k) item indices best first (``-1`` past the end of a short
    list), ``scores`` (B, k) model scores, ``changed_by`` (B, R) which re-ranker changed each list."""

    users: np.ndarray  # (B,) user indices (0 for ids not in the vocabulary)
    user_ids: np.ndarray  # (B,) external ids as requested (object)
    items: np.ndarray
    scores: np.ndarray
    changed_by: np.ndarray  # (B, R) bool
    rerankers: tuple[str, ...] = ()
    cold_start: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # (B,) got the cold list
    mode: str = "exhaustive"  # or "two_stage"

    def reranked_by(self) -> np.ndarray:
        """(B,) comma-separated names of the re-rankers that changed each user's list."""
        out = np.full(self.users.shape[0], "", dtype=object)
        if not self.rerankers or not self.changed_by.size:
            return out
        combos, inverse = np.unique(self.changed_by, axis=0, return_inverse=True)
        names = np.array(self.rerankers, dtype=object)
        labels = np.array([",".join(names[c]) for c in combos], dtype=object)  # one per distinct combination
        return labels[inverse.reshape(-1)]

    def to_frame(self, features: FeatureSet) -> pd.DataFrame:
        """One row per recommended track: user_id, rank (1-based), track_id, score, title, artist,
        genres (comma list), reranked_by."""
        b, k = self.items.shape
        valid = self.items >= 0
        rows, cols = np.nonzero(valid)
        items = self.items[rows, cols]
        f = features.item_features
        titles = features.item_titles[items] if features.item_titles is not None else features.items.ids[items]
        artist_idx = f.artist[items]
        names = features.artist_names if features.artist_names is not None else features.artists.ids
        artists = names[artist_idx]
        return pd.DataFrame(
            {
                "user_id": self.user_ids[rows].astype(object),
                "rank": (cols + 1).astype(np.int32),
                "track_id": features.items.ids[items],
                "score": self.scores[rows, cols].astype(np.float64),
                "title": titles,
                "artist": artists,
                "genres": genre_labels(features, items),
                "reranked_by": self.reranked_by()[rows],
            },
            columns=list(FRAME_COLUMNS),
        )


def genre_labels(features: FeatureSet, items: np.ndarray) -> np.ndarray:
    """Comma-separated genre names for each item index (computed once per distinct item)."""
    uniq, inverse = np.unique(items, return_inverse=True)
    f = features.item_features
    counts = np.diff(f.genre_indptr)[uniq]
    owner = np.repeat(np.arange(uniq.size), counts)
    starts = f.genre_indptr[uniq]
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    names = features.genres.ids[f.genre_indices[np.repeat(starts, counts) + offsets]]
    joined = pd.Series(names, dtype=object).groupby(owner).agg(",".join)
    labels = np.full(uniq.size, "", dtype=object)
    labels[joined.index.to_numpy()] = joined.to_numpy()
    return labels[inverse.reshape(-1)]


def resolve_users(features: FeatureSet, users: list[str] | np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(indices, external ids). ``None`` = every user in the vocabulary; strings are external ids
    (unknown ones -> index 0); an integer array is taken as user indices."""
    if users is None:
        idx = np.arange(1, features.n_users, dtype=np.int64)
        return idx, features.users.ids[idx]
    arr = np.asarray(users)
    if arr.ndim != 1:
        raise DataError(f"recommend: users must be a 1-D list of ids, got shape {arr.shape}")
    if arr.dtype.kind in "iu":
        bad = (arr < 0) | (arr >= features.n_users)
        if bad.any():
            raise DataError(
                f"recommend: user index {int(arr[bad][0])} (position {int(np.argmax(bad))}) is outside "
                f"the user vocabulary [0, {features.n_users})"
            )
        idx = arr.astype(np.int64)
        return idx, features.users.ids[idx]
    ids = arr.astype(object)
    return features.users.index_of(ids), ids


def _seen_matrix(features: FeatureSet, config: RecommendConfig) -> sp.csr_matrix | None:
    if not config.exclude_seen:
        return None
    features.require_whole_train("recommend with exclude_seen")
    if not len(features.train):
        return None
    return features.train.csr(features.n_users, features.n_items)


def _exhaustive_pool(model: Model, users: np.ndarray, seen: sp.csr_matrix | None, width: int):
    """Score the whole catalogue, mask, keep the best ``width`` (on the model's device)."""
    scores = mask_rows(model.score_items(users).float(), users, seen)
    return topk_rows(scores, width)


def _two_stage_pool(model: Model, users: np.ndarray, seen: sp.csr_matrix | None, width: int, n_retrieve: int):
    """Retrieve by the cheap scores, then score only the candidates with the full model."""
    retrieval = model.retrieval_scores(users)
    if retrieval is None:
        return None
    retrieval = mask_rows(retrieval.float(), users, seen)
    cand, _ = topk_rows(retrieval, n_retrieve)
    # Sort candidates by item index so topk_rows' tie rule (lower column) means lower item index,
    # exactly like exhaustive scoring; empty slots (-1) go last.
    big = torch.iinfo(torch.int64).max
    cand = torch.sort(torch.where(cand < 0, torch.full_like(cand, big), cand), dim=1).values
    empty = cand == big
    cand = torch.where(empty, torch.zeros_like(cand), cand)
    full = model.score_items(users, cand.cpu().numpy()).float()
    full = full.masked_fill(empty.to(full.device), NEG_INF)
    cols, vals = topk_rows(full, width)
    items = torch.gather(cand.to(cols.device), 1, cols.clamp(min=0))
    return torch.where(cols < 0, torch.full_like(items, -1), items), vals


def candidate_pools(
    model: Model, features: FeatureSet, users: np.ndarray, config: RecommendConfig, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """(items, scores) (B, width) best first for user indices ``users``, the cold-start mask and
    the scoring mode used. Only warm users are scored; cold ones share one list for index 0."""
    seen = _seen_matrix(features, config)
    warm = (users > UNKNOWN_INDEX) & features.train_user_mask[users]
    items = np.full((users.shape[0], width), -1, dtype=np.int64)
    scores = np.full((users.shape[0], width), -np.inf, dtype=np.float32)
    mode = "exhaustive"
    n_retrieve = max(config.retrieval_candidates, width)
    with torch.no_grad():  # not inference_mode: a model may cache item tensors made here and reuse them
        if (~warm).any():
            cold_items, cold_scores = _exhaustive_pool(model, np.array([UNKNOWN_INDEX]), None, width)
            items[~warm] = cold_items.cpu().numpy()
            scores[~warm] = cold_scores.cpu().numpy()
        warm_pos = np.flatnonzero(warm)
        for chunk in batched(warm_pos, config.batch_users):
            u = users[chunk]
            out = _two_stage_pool(model, u, seen, width, n_retrieve) if config.two_stage else None
            if out is None:
                out = _exhaustive_pool(model, u, seen, width)
            else:
                mode = "two_stage"
            items[chunk] = out[0].cpu().numpy()
            scores[chunk] = out[1].cpu().numpy()
    return items, scores, ~warm, mode


def _check_stage(name: str, before: Candidates, after: Candidates, k: int) -> None:
    """A re-ranker must return (B, k) items, all from its input pool (or -1)."""
    if after.items.shape != (before.items.shape[0], k):
        expected = (before.items.shape[0], k)
        raise PluginError(f"reranker {name!r} returned shape {after.items.shape}, expected {expected}")
    # Row-offset keys make one sorted membership test over the batch: O(B(k + P)) memory, where a
    # broadcast comparison would allocate (B, k, P) booleans (~256 MB for 1024 users and pools of 500).
    base = int(max(before.items.max(initial=-1), after.items.max(initial=-1))) + 2
    offsets = np.arange(before.items.shape[0], dtype=np.int64)[:, None] * base
    inside = np.isin(after.items + 1 + offsets, before.items + 1 + offsets) | (after.items < 0)
    if not inside.all():
        row, col = np.argwhere(~inside)[0]
        raise PluginError(
            f"reranker {name!r} returned item {int(after.items[row, col])} for user index "
            f"{int(before.users[row])}, which was not in that user's candidate pool"
        )


def run_chain(
    pool: Candidates, rerankers: list[ReRanker], k: int, context: RerankContext
) -> tuple[Candidates, np.ndarray]:
    """Apply ``rerankers`` in order; returns the (B, k) lists and (B, R) 'changed' flags."""
    changed = np.zeros((pool.items.shape[0], len(rerankers)), dtype=bool)
    current = pool
    context.list_k = k
    for j, rr in enumerate(rerankers):
        width = k if j == len(rerankers) - 1 else current.items.shape[1]
        out = rr.rerank(current, width, context)
        _check_stage(rr.name, current, out, width)
        changed[:, j] = (out.items[:, :k] != _prefix(current.items, k)).any(axis=1)
        current = out
    if not rerankers:
        current = Candidates(pool.users, _prefix(pool.items, k), _prefix(pool.scores, k, -np.inf))
    return current, changed


def _prefix(a: np.ndarray, k: int, fill: float = -1) -> np.ndarray:
    if a.shape[1] >= k:
        return a[:, :k]
    return np.concatenate([a, np.full((a.shape[0], k - a.shape[1]), fill, dtype=a.dtype)], axis=1)


def recommend(
    model: Model,
    features: FeatureSet,
    config: RecommendConfig,
    rerankers: list[ReRanker],
    users: list[str] | np.ndarray | None = None,
    context: RerankContext | None = None,
    user_flags: dict[str, np.ndarray] | None = None,
) -> RecommendationResult:
    """Top-``config.k`` lists for ``users`` (external ids; None = every known user), re-ranked.

    Without re-rankers only ``k`` candidates are kept per user; with them a pool of
    ``config.pool_size`` goes through the chain. ``context`` defaults to the model's item
    embeddings (for MMR) and ``user_flags`` (bool per user index, see
    :func:`hybridrec_core.user_flags.load_user_flags`; none by default).
    """
    idx, ids = resolve_users(features, users)
    k = config.k
    width = config.pool_size if rerankers else k
    items, scores, cold, mode = candidate_pools(model, features, idx, config, width)
    names = tuple(r.name for r in rerankers)
    if not rerankers or idx.size == 0:
        return RecommendationResult(
            idx, ids, _prefix(items, k), _prefix(scores, k, -np.inf),
            np.zeros((idx.size, len(names)), bool), names, cold, mode,
        )
    if context is None:
        context = RerankContext(features=features, item_vectors=model.item_embeddings(), user_flags=dict(user_flags or {}))
    elif user_flags:
        raise ValueError("recommend: pass user_flags inside the context, not next to it")
    out_items = np.empty((idx.size, k), dtype=np.int64)
    out_scores = np.empty((idx.size, k), dtype=np.float32)
    changed = np.empty((idx.size, len(names)), dtype=bool)
    for chunk in batched(np.arange(idx.size), config.batch_users):
        lists, flags = run_chain(Candidates(idx[chunk], items[chunk], scores[chunk]), rerankers, k, context)
        out_items[chunk], out_scores[chunk], changed[chunk] = lists.items, lists.scores, flags
    return RecommendationResult(idx, ids, out_items, out_scores, changed, names, cold, mode)


WriteMode = Literal["replace", "merge"]


def write_recommendations(
    store: Store,
    frame: pd.DataFrame,
    model_version: str,
    *,
    mode: WriteMode,
    users: Iterable[str] | None = None,
) -> int:
    """Write ``frame`` (from :meth:`RecommendationResult.to_frame`) to the ``recommendations`` table in
    one transaction, stamped with ``model_version`` and one UTC ``generated_at``. Returns rows.

    ``mode="replace"`` swaps the whole table: for a run over every user, so users who are gone lose
    their lists. ``mode="merge"`` replaces only the lists of the users in ``frame`` and in ``users``
    (pass the requested ids, so one whose new list is empty loses the old one) and keeps everyone
    else's: for lists made for a few users. There is no default: the caller knows which
    one it made, and guessing wrong either wipes other users or keeps stale lists.
    """
    if mode not in ("replace", "merge"):
        raise DataError(f"write_recommendations: mode must be 'replace' or 'merge', got {mode!r}")
    missing = [c for c in ("user_id", "rank", "track_id", "score", "reranked_by") if c not in frame.columns]
    if missing:
        raise DataError(f"write_recommendations: frame lacks columns {missing} (have {list(frame.columns)})")
    if not isinstance(model_version, str) or not model_version:
        raise DataError("write_recommendations: model_version must be a non-empty string")
    dupes = frame.duplicated(["user_id", "rank"])
    if dupes.any():
        row = frame.loc[dupes].iloc[0]
        raise DataError(
            f"write_recommendations: {int(dupes.sum())} duplicate (user_id, rank) rows, "
            f"e.g. user {row['user_id']!r} rank {row['rank']}"
        )
    n = len(frame)
    now = datetime.now(timezone.utc)
    out = pa.table(  # an explicit schema keeps column types right even for an empty frame
        {
            "user_id": pa.array(frame["user_id"].astype(str).to_numpy(), pa.string()),
            "rank": pa.array(frame["rank"].to_numpy(dtype=np.int32), pa.int32()),
            "track_id": pa.array(frame["track_id"].astype(str).to_numpy(), pa.string()),
            "score": pa.array(frame["score"].to_numpy(dtype=np.float64), pa.float64()),
            "model_version": pa.array([model_version] * n, pa.string()),
            "generated_at": pa.array([now] * n, pa.timestamp("us", tz="UTC")),
            "reranked_by": pa.array(frame["reranked_by"].fillna("").astype(str).to_numpy(), pa.string()),
        }
    )
    if mode == "replace":
        store.replace_tables({RECOMMENDATIONS_TABLE: out})
        return n
    requested = [users] if isinstance(users, str) else list(users if users is not None else [])
    keys = pd.unique(np.concatenate([
        out.column("user_id").to_numpy(zero_copy_only=False).astype(object),
        np.asarray([str(u) for u in requested], dtype=object),
    ]))
    store.replace_rows(RECOMMENDATIONS_TABLE, out, "user_id", list(keys))
    return n
