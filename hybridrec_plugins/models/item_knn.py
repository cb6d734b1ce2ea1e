"""``item_knn``: item-based collaborative filtering with cosine similarity.

Similarities are computed on the training user x item matrix (scipy.sparse), in blocks of
items, keeping only the ``neighbors`` most similar items per item (pruning keeps the model small
and the scores sharp). A user's score for item j is the sum of similarities between j and the
items the user played: one sparse product ``R[users] @ S`` per batch of users.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import Field
from sklearn.preprocessing import normalize
from typing_extensions import Self

from hybridrec_core.dataset import FeatureSet
from hybridrec_core.interfaces import FitContext, Model, PluginConfig, TrainingHistory
from hybridrec_core.state import State
from hybridrec_plugins.models._common import check_items, clamp_users, gather_candidates

POP_TIEBREAK = 1e-6  # users without neighbours still get a popularity order


class ItemKNNConfig(PluginConfig):
    """Item-kNN settings."""

    neighbors: int = Field(100, ge=1, le=10_000, description="Most similar items kept per item.")
    weighting: Literal["binary", "log"] = Field("log", description="Matrix values: 1 per play, or log1p(plays).")
    shrink: float = Field(0.0, ge=0.0, le=1e4, description="Similarity shrinkage: sim * n / (n + shrink) on co-counts.")
    block_size: int = Field(2048, ge=1, description="Items per similarity block (memory bound).")


class ItemKNN(Model):
    """Cosine item-item neighbourhood model with top-N neighbour pruning."""

    name: ClassVar[str] = "item_knn"
    description: ClassVar[str] = "Item-based kNN (cosine similarity, top-N neighbour pruning)."
    Config: ClassVar[type[PluginConfig]] = ItemKNNConfig
    needs_whole_train: ClassVar[bool] = True  # item-item similarities need every user's history

    def __init__(self, config: ItemKNNConfig | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.sim: sp.csr_matrix | None = None
        self.history: sp.csr_matrix | None = None
        self.pop: np.ndarray | None = None

    def fit(self, features: FeatureSet, context: FitContext) -> TrainingHistory:
        features.require_whole_train(f"model {self.name!r}")
        cfg: ItemKNNConfig = self.config
        train = features.train
        vals = np.ones(len(train)) if cfg.weighting == "binary" else np.log1p(train.plays.astype(np.float64))
        r = sp.csr_matrix((vals.astype(np.float32), (train.user, train.item)), shape=(features.n_users, features.n_items))
        r.sum_duplicates()
        self.history = r
        cols = normalize(r.tocsc(), norm="l2", axis=0).tocsc()
        binary = (r > 0).astype(np.float32).tocsc() if cfg.shrink > 0 else None
        n, k = features.n_items, min(cfg.neighbors, max(features.n_items - 1, 1))
        rows_out, cols_out, vals_out = [], [], []
        for lo in range(0, n, cfg.block_size):
            hi = min(n, lo + cfg.block_size)
            block = (cols[:, lo:hi].T @ cols).toarray()  # (b, n) cosine
            if binary is not None:
                co = (binary[:, lo:hi].T @ binary).toarray()
                block *= co / (co + cfg.shrink)
            block[np.arange(hi - lo), np.arange(lo, hi)] = 0.0  # no self-similarity
            top = np.argpartition(-block, k - 1, axis=1)[:, :k] if k < n else np.tile(np.arange(n), (hi - lo, 1))
            v = np.take_along_axis(block, top, axis=1)
            keep = v > 0
            rows_out.append(np.repeat(np.arange(lo, hi), keep.sum(1)))
            cols_out.append(top[keep])
            vals_out.append(v[keep])
        # sim[i, j]: similarity of item i's neighbour j; a user's score for j sums over played i.
        self.sim = sp.csr_matrix(
            (np.concatenate(vals_out), (np.concatenate(rows_out), np.concatenate(cols_out))), shape=(n, n), dtype=np.float32
        ).T.tocsr()
        pop = np.log1p(np.bincount(train.item, minlength=n).astype(np.float64))
        self.pop = (POP_TIEBREAK * pop / max(pop.max(), 1.0)).astype(np.float32)
        return TrainingHistory(extra={"similarity_nnz": int(self.sim.nnz)})

    def _check(self) -> tuple[sp.csr_matrix, sp.csr_matrix, np.ndarray]:
        if self.sim is None or self.history is None or self.pop is None:
            raise RuntimeError("item_knn model is not fitted")
        return self.sim, self.history, self.pop

    def score_items(self, users: np.ndarray, items: np.ndarray | None = None) -> torch.Tensor:
        sim, hist, pop = self._check()
        users = clamp_users(users, hist.shape[0])
        cand = check_items(items, len(users), sim.shape[0])
        full = (hist[users] @ sim.T).toarray().astype(np.float32) + pop
        return gather_candidates(torch.from_numpy(full), cand)

    def get_state(self) -> State:
        sim, hist, pop = self._check()
        sim, hist = sim.tocsr(), hist.tocsr()
        arrays = {"pop": pop}
        for name, m in (("sim", sim), ("hist", hist)):
            arrays |= {f"{name}_data": m.data, f"{name}_indices": m.indices.astype(np.int64), f"{name}_indptr": m.indptr.astype(np.int64)}
        return State(meta={"n_users": hist.shape[0], "n_items": sim.shape[0]}, arrays=arrays)

    @classmethod
    def from_state(cls, state: State, features: FeatureSet, config: Any = None) -> Self:
        model = cls(config)
        a, meta = state.arrays, state.meta
        if meta.get("n_items") != features.n_items or meta.get("n_users") != features.n_users:
            raise ValueError(f"item_knn state has {meta.get('n_users')} users / {meta.get('n_items')} items, the FeatureSet {features.n_users} / {features.n_items}")
        n_u, n_i = features.n_users, features.n_items
        model.sim = sp.csr_matrix((a["sim_data"], a["sim_indices"], a["sim_indptr"]), shape=(n_i, n_i))
        model.history = sp.csr_matrix((a["hist_data"], a["hist_indices"], a["hist_indptr"]), shape=(n_u, n_i))
        model.pop = np.asarray(a["pop"], dtype=np.float32)
        return model
