"""Small helpers the built-in model plugins share (index mapping, candidate gathering)."""

from __future__ import annotations

import numpy as np
import torch


def known_map(mask: np.ndarray) -> np.ndarray:
    """index -> itself where ``mask`` (trained), else 0 (the learned unknown slot)."""
    idx = np.arange(mask.shape[0], dtype=np.int64)
    return np.where(mask, idx, 0)


def as_long(x: np.ndarray | torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.to(device=device, dtype=torch.long)
    return torch.as_tensor(np.asarray(x, dtype=np.int64), device=device)


def clamp_users(users: np.ndarray, n_users: int) -> np.ndarray:
    """Out-of-range user indices are treated as unknown (0) rather than crashing a batch."""
    users = np.asarray(users, dtype=np.int64).reshape(-1)
    return np.where((users >= 0) & (users < n_users), users, 0)


def check_items(items: np.ndarray | None, n_users: int, n_items: int) -> np.ndarray | None:
    """Validate a (B, P) candidate array; ``-1`` marks an empty slot (scored ``-inf``)."""
    if items is None:
        return None
    arr = np.asarray(items, dtype=np.int64)
    if arr.ndim != 2 or arr.shape[0] != n_users:
        raise ValueError(f"items must be a 2-D array with one row per user; got shape {arr.shape} for {n_users} users")
    if arr.size and (arr.max() >= n_items or arr.min() < -1):
        raise ValueError(f"item indices must lie in [-1, {n_items - 1}]; got [{arr.min()}, {arr.max()}]")
    return arr


def gather_candidates(full: torch.Tensor, items: np.ndarray | None) -> torch.Tensor:
    """(B, N) catalogue scores -> (B, P) candidate scores; empty slots (-1) get ``-inf``."""
    if items is None:
        return full
    idx = torch.as_tensor(items, device=full.device)
    out = torch.gather(full, 1, idx.clamp_min(0))
    return out.masked_fill(idx < 0, float("-inf"))


def mask_empty(scores: torch.Tensor, items: np.ndarray) -> torch.Tensor:
    idx = torch.as_tensor(items, device=scores.device)
    return scores.masked_fill(idx < 0, float("-inf"))
