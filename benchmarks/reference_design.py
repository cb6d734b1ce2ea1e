"""The reference design's training loop and recommendation function, written the way it shows them.

Used by the benchmarks as the baseline the engine is compared with:

- :class:`ReferenceDataset` returns a dict of per-sample tensors; a ``DataLoader`` (batch 256,
  shuffle) collates them; every parameter (embedding tables included) is updated by one dense
  ``Adam`` with weight decay, gradients clipped, MSE on ``target``.
- :func:`reference_generate_recommendations` scores one user at a time against every track
  through the full model (item side recomputed per call, no cached first-layer half).

The model is the same :class:`HybridNet` the ``hybrid`` plugin trains (built with dense
embeddings), fed from the batch dict instead of device-resident item tables.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from hybridrec_core.dataset import FeatureSet, InteractionSet


class ReferenceDataset(Dataset):
    """One interaction -> a dict of tensors (ids, item features, target), as in the reference."""

    def __init__(self, split: InteractionSet, features: FeatureSet) -> None:
        f = features.item_features
        self.user = split.user
        self.item = split.item
        self.target = split.target
        self.artist = f.artist
        self.genres = f.genre_padded(pad=0)
        self.numeric = np.concatenate([f.numeric, f.numeric_missing], axis=1).astype(np.float32)
        self.binary = f.binary.astype(np.float32)

    def __len__(self) -> int:
        return int(self.user.shape[0])

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = int(self.item[i])
        return {
            "user": torch.tensor(self.user[i], dtype=torch.long),
            "item": torch.tensor(item, dtype=torch.long),
            "artist": torch.tensor(self.artist[item], dtype=torch.long),
            "genres": torch.tensor(self.genres[item], dtype=torch.long),
            "numeric": torch.tensor(self.numeric[item]),
            "binary": torch.tensor(self.binary[item]),
            "plays": torch.tensor(self.target[i], dtype=torch.float32),
        }


def reference_forward(net: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The reference ``model(batch)``: concatenate every block for each sample, then the MLP."""
    v = torch.cat(
        [
            net.item_emb(batch["item"]),
            net.artist_emb(batch["artist"]),
            net.genre_bag(batch["genres"]),
            net.numeric_block(batch["numeric"]),
            net.binary_block(batch["binary"]),
        ],
        dim=-1,
    )
    return net.head(net.user_part(batch["user"]), tuple(None if t is None else t.unsqueeze(1) for t in net.item_part(v, batch["item"])))[:, 0]


def reference_train(
    net: nn.Module,
    split: InteractionSet,
    features: FeatureSet,
    *,
    max_steps: int | None = None,
    warmup_steps: int = 0,
    batch_size: int = 256,
    lr: float = 1e-3,
    weight_decay: float = 1e-5,
    max_grad_norm: float = 1.0,
    seed: int = 42,
    device: str = "cpu",
) -> dict[str, Any]:
    """The reference ``train_epoch``; returns timing of the steps after ``warmup_steps``."""
    torch.manual_seed(seed)
    net.to(device).train()
    loader = DataLoader(ReferenceDataset(split, features), batch_size=batch_size, shuffle=True)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    criterion = nn.MSELoss()
    steps, samples, t0, total = 0, 0, None, 0.0
    for batch in loader:
        if steps == warmup_steps:
            t0 = time.perf_counter()
        batch = {k: v.to(device) for k, v in batch.items()}
        pred = reference_forward(net, batch)
        loss = criterion(pred, batch["plays"])
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), max_grad_norm)
        optimizer.step()
        total += float(loss.item())
        steps += 1
        if steps > warmup_steps:
            samples += int(pred.shape[0])
        if max_steps is not None and steps >= warmup_steps + max_steps:
            break
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - (t0 or time.perf_counter())
    return {"steps": steps, "samples": samples, "seconds": seconds, "mean_loss": total / max(steps, 1)}


@torch.no_grad()
def reference_predict(net: nn.Module, split: InteractionSet, features: FeatureSet, device: str = "cpu") -> np.ndarray:
    """Predictions for a split through the reference data path (eval mode)."""
    net.eval()
    out = []
    for batch in DataLoader(ReferenceDataset(split, features), batch_size=4096):
        batch = {k: v.to(device) for k, v in batch.items()}
        out.append(reference_forward(net, batch).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


@torch.no_grad()
def reference_generate_recommendations(model: Any, user_idx: int, n: int, features: FeatureSet) -> tuple[np.ndarray, np.ndarray]:
    """The reference ``generate_recommendations``: one user against every track, full model.

    ``model`` is a fitted ``hybrid`` plugin; its network recomputes every track's input blocks
    and the whole first layer for this one user (nothing cached between calls).
    """
    net = model.net
    net.eval()
    device = next(net.parameters()).device
    user = model._users(np.array([user_idx]))
    all_items = torch.arange(features.n_items, device=device)
    scores = net(user, all_items.unsqueeze(0), model._item_ids.unsqueeze(0))[0]
    top_scores, top_items = torch.topk(scores, k=min(n, scores.numel()))
    return top_items.cpu().numpy(), top_scores.cpu().numpy()
