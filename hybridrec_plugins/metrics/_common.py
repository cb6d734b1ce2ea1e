"""Vectorized helpers shared by the metric plugins (no per-user Python loops).

Everything works on the (n_users, K) top-k matrix of :class:`~hybridrec_core.interfaces.EvalInput`
(``-1`` = empty slot) and the CSR matrix of held-out items (values = play counts).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from hybridrec_core.interfaces import EvalInput


def require_ranking(data: EvalInput, metric: str) -> tuple[np.ndarray, sp.csr_matrix]:
    """``(topk, relevant)`` or a clear error naming the metric plugin."""
    if data.topk is None or data.relevant is None:
        raise ValueError(f"metric plugin {metric!r} needs EvalInput.topk and EvalInput.relevant")
    topk = np.asarray(data.topk, dtype=np.int64)
    if topk.ndim != 2 or topk.shape[0] != len(data.users):
        raise ValueError(
            f"metric plugin {metric!r}: topk has shape {topk.shape}, expected ({len(data.users)}, K)"
        )
    rel = sp.csr_matrix(data.relevant)
    if rel.shape[0] != topk.shape[0]:
        raise ValueError(f"metric plugin {metric!r}: relevant has {rel.shape[0]} rows, topk {topk.shape[0]}")
    rel.sum_duplicates()  # canonical: sorted indices, no duplicates (needed by gather_relevance)
    return topk[:, : data.k], rel


def gather_relevance(relevant: sp.csr_matrix, topk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(hit, value)``: whether ``topk[u, j]`` is a stored cell of row ``u`` and its value
    (play count; 0.0 for misses and ``-1`` padding).

    Looks up row-major keys with one ``searchsorted`` instead of sparse fancy indexing.
    """
    n_rows, n_cols = relevant.shape
    out = np.zeros(topk.shape, dtype=np.float64)
    if relevant.nnz == 0 or topk.size == 0:
        return np.zeros(topk.shape, dtype=bool), out
    rows = np.repeat(np.arange(n_rows, dtype=np.int64), np.diff(relevant.indptr))
    keys = rows * n_cols + relevant.indices.astype(np.int64)  # sorted: canonical CSR
    valid = topk >= 0
    q = np.arange(topk.shape[0], dtype=np.int64)[:, None] * n_cols + np.where(valid, topk, 0)
    pos = np.clip(np.searchsorted(keys, q), 0, keys.size - 1)
    found = valid & (keys[pos] == q)
    out[found] = relevant.data[pos[found]]
    return found, out


def discounts(k: int) -> np.ndarray:
    """DCG position discounts ``1 / log2(rank + 1)`` for ranks 1..k."""
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


def top_values_per_row(relevant: sp.csr_matrix, k: int, gains: np.ndarray) -> np.ndarray:
    """(n_rows, k) matrix of each row's ``k`` largest gains, descending, zero-padded (ideal DCG)."""
    n_rows = relevant.shape[0]
    out = np.zeros((n_rows, k), dtype=np.float64)
    if relevant.nnz == 0:
        return out
    counts = np.diff(relevant.indptr)
    rows = np.repeat(np.arange(n_rows), counts)
    order = np.lexsort((-gains, rows))
    rank = np.arange(order.size) - np.repeat(relevant.indptr[:-1], counts)
    keep = rank < k
    out[rows[order][keep], rank[keep]] = gains[order][keep]
    return out


def per_user_mean(values: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean over users ignoring NaN (users a metric is undefined for); NaN when none remain."""
    v = values if mask is None else values[mask]
    v = v[~np.isnan(v)]
    return float(v.mean()) if v.size else float("nan")
