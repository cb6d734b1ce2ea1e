"""Top-k with deterministic tie-breaking, checked against numpy's lexsort on tie-heavy scores."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from hybridrec_core.ranking import topk_for_users, topk_rows


def _reference(scores: np.ndarray, k: int) -> np.ndarray:
    out = np.full((scores.shape[0], k), -1)
    for r, row in enumerate(scores):
        order = np.lexsort((np.arange(row.size), -row))  # score desc, then index asc
        order = [c for c in order if np.isfinite(row[c])][:k]
        out[r, : len(order)] = order
    return out


def test_ties_go_to_the_lower_index_on_tie_heavy_rows() -> None:
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, size=(64, 50)).astype(np.float32)  # many ties everywhere
    scores[rng.random(scores.shape) < 0.3] = -np.inf
    scores[5, :] = -np.inf  # a user with no candidates at all
    idx, val = topk_rows(torch.from_numpy(scores), 10)
    np.testing.assert_array_equal(idx.numpy(), _reference(scores, 10))
    assert torch.isneginf(val[5]).all()


def test_k_larger_than_catalogue_pads_with_minus_one() -> None:
    idx, val = topk_rows(torch.tensor([[0.5, 2.0]]), 4)
    assert idx.tolist() == [[1, 0, -1, -1]]
    assert val[0, 2:].isneginf().all()


def test_seen_items_and_unknown_item_are_excluded() -> None:
    scores = torch.arange(6, dtype=torch.float32).repeat(2, 1)  # item 5 best, item 0 worst
    seen = sp.csr_matrix(([1.0, 1.0], ([0, 1], [5, 4])), shape=(2, 6))
    items, _ = topk_for_users(lambda u: scores[u].clone(), np.array([0, 1]), 3, seen=seen, batch_users=1)
    assert items.tolist() == [[4, 3, 2], [5, 3, 2]]
