"""Shared building blocks of the re-ranker plugins, vectorized over a batch of users.

Every re-ranker reduces to one of three moves on a pool of candidates (``Candidates.items`` is
(B, P), best first, ``-1`` for empty slots):

- keep a subset in pool order (:func:`compact`), e.g. drop explicit tracks;
- reorder by a new key (:func:`reorder`), e.g. a popularity-adjusted score;
- pick greedily, one position per step for all users at once (:func:`greedy_select`), e.g. MMR
  or selection under per-group caps (:func:`capped_utility`).

:func:`assemble` turns chosen pool positions back into ``Candidates``. Returned scores stay the
model's scores for the chosen items (the order is the re-ranker's), so a list's ``score`` column
always means the same thing. Nothing here ever adds an item that was not in the pool.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from hybridrec_core.dataset import FeatureSet
from hybridrec_core.interfaces.reranker import Candidates

NO_POSITION = -1


def assemble(candidates: Candidates, key: np.ndarray, k: int) -> Candidates:
    """Take, per row, the ``k`` pool positions with the smallest finite ``key`` (stable), as
    ``Candidates``; positions whose key is ``inf`` are never taken (``-1`` padding instead)."""
    b, p = candidates.items.shape
    key = np.where(candidates.valid, key, np.inf)
    if p < k:  # pad the pool so a (B, k) result always exists
        key = np.concatenate([key, np.full((b, k - p), np.inf)], axis=1)
    pos = np.argsort(key, axis=1, kind="stable")[:, :k]
    taken = np.isfinite(np.take_along_axis(key, pos, axis=1))
    safe = np.where(taken & (pos < p), pos, 0)
    items = np.where(taken, np.take_along_axis(candidates.items, safe, axis=1), -1) if p else np.full((b, k), -1)
    scores = (
        np.where(taken, np.take_along_axis(candidates.scores, safe, axis=1), -np.inf) if p else np.full((b, k), -np.inf)
    )
    return Candidates(candidates.users, items.astype(np.int64), scores.astype(np.float32))


def compact(candidates: Candidates, keep: np.ndarray, k: int) -> Candidates:
    """Keep the items where ``keep`` is true, in pool order, cut to ``k``."""
    p = candidates.items.shape[1]
    key = np.where(keep, np.broadcast_to(np.arange(p, dtype=np.float64), keep.shape), np.inf)
    return assemble(candidates, key, k)


def reorder(candidates: Candidates, new_score: np.ndarray, k: int) -> Candidates:
    """Order valid items by ``new_score`` (higher first; ties keep pool order), cut to ``k``."""
    return assemble(candidates, -np.asarray(new_score, dtype=np.float64), k)


def picks_then_rest(candidates: Candidates, picks: np.ndarray, k: int) -> Candidates:
    """The greedy picks first, then every other valid pool item in pool order.

    Appending the rest is what keeps a list at ``k`` items when a rule cannot be met by the pool
    (the rule is relaxed, never the length), and what lets a chain stage hand the whole pool on.
    """
    b, p = candidates.items.shape
    steps = picks.shape[1]
    key = steps + np.broadcast_to(np.arange(p, dtype=np.float64), (b, p)).copy()
    rows, cols = np.nonzero(picks >= 0)
    key[rows, picks[rows, cols]] = cols
    return assemble(candidates, key, k)


def greedy_select(
    available: np.ndarray,
    steps: int,
    utility: Callable[[np.ndarray], np.ndarray],
    on_pick: Callable[[np.ndarray, np.ndarray], None],
) -> np.ndarray:
    """Greedy selection for all users at once: ``steps`` iterations, never one per user.

    ``utility(available)`` returns (B, P) values, ``-inf`` where an item may not be taken now; the
    best available item is picked (ties -> lowest pool position, i.e. the better model score) and
    ``on_pick(rows, positions)`` updates the caller's state. Returns (B, steps) positions, ``-1``
    once a row has nothing acceptable left.
    """
    available = available.copy()
    b = available.shape[0]
    picks = np.full((b, steps), NO_POSITION, dtype=np.int64)
    rows = np.arange(b)
    for t in range(steps):
        u = np.where(available, utility(available), -np.inf)
        best = np.argmax(u, axis=1)
        ok = np.isfinite(u[rows, best])
        if not ok.any():
            break
        r, c = rows[ok], best[ok]
        picks[r, t] = c
        available[r, c] = False
        on_pick(r, c)
    return picks


def minmax_rows(scores: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Scale each row's valid scores to [0, 1] (a constant row -> 1.0), so a model's raw score
    scale (logits, play counts, cosine) never decides how much a re-ranking rule weighs."""
    s = np.where(valid, scores, np.nan).astype(np.float64)
    with np.errstate(all="ignore"):
        lo = np.nanmin(np.where(valid.any(axis=1, keepdims=True), s, 0.0), axis=1, keepdims=True)
        hi = np.nanmax(np.where(valid.any(axis=1, keepdims=True), s, 0.0), axis=1, keepdims=True)
        span = hi - lo
        out = np.where(span > 0, (s - lo) / np.where(span > 0, span, 1.0), 1.0)
    return np.where(valid, out, 0.0)


def capped_utility(
    groups: np.ndarray, caps: np.ndarray, counts: np.ndarray
) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray, np.ndarray], None]]:
    """Utility and update for "take the best item whose groups are all under their cap".

    ``groups`` (B, P, m) group ids per pool item (0 = none, never capped), ``caps``
    (n_groups,) maximum items per group (``inf`` = no cap), ``counts`` (B, n_groups) running
    counts, updated in place. The utility prefers the earliest admissible pool position.
    """
    b, p, m = groups.shape
    flat = groups.reshape(b, p * m)
    item_caps = caps[groups]  # (B, P, m)
    position = -np.arange(p, dtype=np.float64)

    def utility(available: np.ndarray) -> np.ndarray:
        used = np.take_along_axis(counts, flat, axis=1).reshape(b, p, m)
        admissible = (used < item_caps).all(axis=2)
        return np.where(admissible, position, -np.inf)

    def on_pick(rows: np.ndarray, positions: np.ndarray) -> None:
        g = groups[rows, positions]  # (n, m)
        np.add.at(counts, (np.repeat(rows, m), g.ravel()), 1)

    return utility, on_pick


def share_cap(share: float, list_length: int) -> int:
    """Items a group may hold in a list: ``floor(share * length)``, at least 1."""
    return max(1, int(np.floor(share * list_length + 1e-9)))


def pool_groups(item_groups: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Gather (n_items, m) per-item group ids for a (B, P) pool; empty slots get group 0."""
    return np.where((items >= 0)[..., None], item_groups[np.clip(items, 0, None)], 0)


def unit_rows(x: np.ndarray) -> np.ndarray:
    """L2-normalized float32 rows (zero rows stay zero), so a dot product is a cosine."""
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norm > 0, norm, 1.0)


def item_feature_vectors(features: FeatureSet, genre_weight: float = 1.0) -> np.ndarray:
    """Unit item vectors from content: audio features standardized over the catalogue (each block
    scaled to unit mean norm) next to the genre multi-hot (row-normalized, times ``genre_weight``).
    Row 0 (unknown item) is zero."""
    f = features.item_features
    num = np.asarray(f.numeric, dtype=np.float32)
    real = num[1:] if num.shape[0] > 1 else num
    std = real.std(axis=0)
    num = (num - real.mean(axis=0)) / np.where(std > 0, std, 1.0)
    num = num / np.sqrt(max(1, num.shape[1]))
    genres = unit_rows(f.genre_matrix(max(features.n_genres, 1)))
    vec = unit_rows(np.concatenate([num, genre_weight * genres], axis=1))
    vec[0] = 0.0
    return vec
