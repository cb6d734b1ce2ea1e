"""Batched full-catalogue top-k with seen items excluded and deterministic tie-breaking.

Shared by evaluation (full-ranking metrics) and recommendation. Ties are broken by the lower
item index, so the same scores always give the same lists.
"""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np
import scipy.sparse as sp
import torch

NEG_INF = float("-inf")


def topk_rows(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` per row of ``scores`` (B, N), best first, ties -> lower column index.

    Columns whose score is ``-inf`` are never returned: their slots get index -1.
    Fast path: one ``torch.topk`` of k+1 settles every row whose k-th and (k+1)-th scores differ;
    only rows with a tie across the cut pay for the exact (full-row) tie-breaking.
    """
    b, n = scores.shape
    k_eff = min(k, n)
    kk = min(k_eff + 1, n)
    vals, idx = torch.topk(scores, kk, dim=1, sorted=True)
    idx = idx[:, :k_eff]
    if kk > k_eff:
        ambiguous = vals[:, k_eff - 1] == vals[:, k_eff]
        if bool(ambiguous.any()):
            rows = ambiguous.nonzero(as_tuple=True)[0]
            idx = idx.clone()
            idx[rows] = _exact_topk_cols(scores[rows], k_eff)
    # Order the chosen columns: by index, then stably by score (ties -> lower index first).
    idx = torch.sort(idx, dim=1).values
    chosen_scores = torch.gather(scores, 1, idx)
    order = torch.sort(chosen_scores, dim=1, descending=True, stable=True).indices
    idx = torch.gather(idx, 1, order)
    out_scores = torch.gather(chosen_scores, 1, order)
    idx = torch.where(torch.isneginf(out_scores), torch.full_like(idx, -1), idx)
    if k_eff < k:
        pad = k - k_eff
        idx = torch.cat([idx, idx.new_full((b, pad), -1)], dim=1)
        out_scores = torch.cat([out_scores, out_scores.new_full((b, pad), NEG_INF)], dim=1)
    return idx, out_scores


def _exact_topk_cols(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Columns of the top-k per row with ties at the cut broken by the lower column index."""
    b = scores.shape[0]
    kth = torch.topk(scores, k, dim=1, sorted=True).values[:, -1:]
    greater = scores > kth
    n_greater = greater.sum(dim=1, keepdim=True)
    equal = scores == kth
    take_equal = equal & (torch.cumsum(equal.to(torch.int32), dim=1) <= (k - n_greater))
    return (greater | take_equal).nonzero(as_tuple=False)[:, 1].reshape(b, k)


def mask_rows(scores: torch.Tensor, users: np.ndarray, seen: sp.csr_matrix | None, exclude_unknown_item: bool = True) -> torch.Tensor:
    """Set seen (user, item) cells and the unknown item column 0 to ``-inf`` in place."""
    if exclude_unknown_item:
        scores[:, 0] = NEG_INF
    if seen is not None and seen.nnz:
        sub = seen[users]
        rows = np.repeat(np.arange(len(users)), np.diff(sub.indptr))
        r = torch.from_numpy(rows).to(scores.device)
        c = torch.from_numpy(sub.indices.astype(np.int64)).to(scores.device)
        scores[r, c] = NEG_INF
    return scores


def batched(users: np.ndarray, batch: int) -> Iterator[np.ndarray]:
    for start in range(0, len(users), batch):
        yield users[start : start + batch]


def topk_for_users(
    score_fn: Callable[[np.ndarray], torch.Tensor],
    users: np.ndarray,
    k: int,
    seen: sp.csr_matrix | None = None,
    batch_users: int = 1024,
) -> tuple[np.ndarray, np.ndarray]:
    """Score users in chunks with ``score_fn(users) -> (B, n_items)``; return (items, scores).

    Memory stays bounded by ``batch_users * n_items`` floats. Items are -1 / scores -inf where a
    user has fewer than ``k`` unseen items.
    """
    users = np.asarray(users, dtype=np.int64)
    all_idx = np.empty((len(users), k), dtype=np.int64)
    all_scores = np.empty((len(users), k), dtype=np.float32)
    pos = 0
    with torch.inference_mode():
        for chunk in batched(users, batch_users):
            s = score_fn(chunk).float()
            s = mask_rows(s, chunk, seen)
            idx, val = topk_rows(s, k)
            all_idx[pos : pos + len(chunk)] = idx.cpu().numpy()
            all_scores[pos : pos + len(chunk)] = val.cpu().numpy()
            pos += len(chunk)
    return all_idx, all_scores
