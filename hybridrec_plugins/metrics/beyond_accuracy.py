"""Beyond-accuracy metrics of top-k lists: what gets recommended, not whether it was played.

- ``coverage@k``: share of the catalogue (items 1..n, the unknown slot excluded) that appears in at
  least one evaluated user's list. Catalogue-level, like ``genre_coverage@k``.
- ``diversity@k``: intra-list diversity, mean pairwise cosine distance ``1 - cos`` between the
  items of a list, averaged over users with at least two items. By default the vectors are item
  features (L2-normalized multi-hot genres next to L2-normalized audio features; missing values
  zeroed), identical for every model so the numbers compare; ``vectors="auto"`` uses the model's
  own item embeddings (``EvalInput.item_vectors``) when it has them.
- ``novelty@k``: mean self-information ``-log2 p(i)`` of listed items, ``p(i) = (pop_i + 1) /
  (n_train_users + 1)`` where ``pop_i`` counts training users of the item (smoothed so
  never-played tracks are finite).
- ``avg_popularity@k``: mean training interaction count of listed items (popularity bias).
- ``genre_coverage@k``: share of the genres present in the catalogue that appear in any list.
- ``explicit_share@k``: share of listed items flagged explicit, averaged over users.

``-1`` padding slots are ignored everywhere.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from hybridrec_core.dataset import FeatureSet
from hybridrec_core.interfaces import EvalInput, Metric, MetricResult, PluginConfig
from hybridrec_plugins.metrics._common import per_user_mean


def _l2_rows(m: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(m, axis=1, keepdims=True)
    return np.divide(m, norm, out=np.zeros_like(m), where=norm > 0)


def feature_vectors(features: FeatureSet) -> np.ndarray:
    """Unit-length item vectors from genres and audio features, for cosine similarity."""
    f = features.item_features
    n_items = f.n_items
    genres = sp.csr_matrix(
        (np.ones(f.genre_indices.size, np.float32), f.genre_indices, f.genre_indptr),
        shape=(n_items, max(features.n_genres, int(f.genre_indices.max(initial=0)) + 1)),
    ).toarray()
    numeric = f.numeric * (1.0 - f.numeric_missing)
    return _l2_rows(np.hstack([_l2_rows(genres), _l2_rows(numeric.astype(np.float32))]))


def intra_list_diversity(topk: np.ndarray, vectors: np.ndarray, max_floats: int = 8_000_000) -> np.ndarray:
    """Per-user mean pairwise cosine distance; NaN for lists with fewer than two items.

    Users are processed in blocks so ``block * K * d`` stays below ``max_floats``.
    """
    n, k = topk.shape
    unit = _l2_rows(np.asarray(vectors, dtype=np.float32))
    out = np.full(n, np.nan)
    block = max(1, max_floats // max(1, k * unit.shape[1]))
    upper = np.triu(np.ones((k, k), dtype=bool), 1)
    for start in range(0, n, block):
        t = topk[start : start + block]
        valid = t >= 0
        v = unit[np.where(valid, t, 0)] * valid[..., None]  # (b, k, d), padding -> zero vector
        sims = np.einsum("bid,bjd->bij", v, v)
        pair = valid[:, :, None] & valid[:, None, :] & upper
        n_pairs = pair.sum(axis=(1, 2))
        dist = ((1.0 - sims) * pair).sum(axis=(1, 2))
        with np.errstate(divide="ignore", invalid="ignore"):
            out[start : start + block] = np.where(n_pairs > 0, dist / n_pairs, np.nan)
    return out


class BeyondAccuracyMetrics(Metric):
    """Coverage, intra-list diversity, novelty, popularity bias, genre coverage, explicit share."""

    name = "beyond_accuracy"
    description = "Catalogue/genre coverage, intra-list diversity, novelty, avg popularity, explicit share at k."
    needs = "ranking"

    class Config(PluginConfig):
        vectors: Literal["features", "auto", "embeddings"] = Field(
            "features",
            description=(
                "Item vectors for diversity: item features (same for every model, so comparable), "
                "'auto' (model embeddings when the model has them) or 'embeddings' (required)."
            ),
        )

    def compute(self, data: EvalInput) -> MetricResult:
        if data.topk is None:
            raise ValueError(f"metric plugin {self.name!r} needs EvalInput.topk")
        k = data.k
        topk = np.asarray(data.topk, dtype=np.int64)[:, :k]
        feats = data.features
        valid = topk >= 0
        n_valid = valid.sum(axis=1)
        safe = np.where(valid, topk, 0)
        listed = np.unique(topk[valid])

        vectors = data.item_vectors if self.config.vectors != "features" else None
        if vectors is None:
            if self.config.vectors == "embeddings":
                raise ValueError(f"metric plugin {self.name!r}: vectors='embeddings' but the model has none")
            vectors = feature_vectors(feats)

        pop = feats.item_popularity()
        n_train_users = max(int(np.asarray(feats.train_user_mask).sum()), 1)
        info = -np.log2((pop + 1.0) / (n_train_users + 1.0))
        explicit = feats.item_features.explicit.astype(np.float64)

        def list_mean(item_values: np.ndarray) -> np.ndarray:
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(n_valid > 0, (item_values[safe] * valid).sum(axis=1) / n_valid, np.nan)

        f = feats.item_features
        genre_rows = np.repeat(np.arange(f.n_items), np.diff(f.genre_indptr))
        catalogue_genres = np.unique(f.genre_indices[(genre_rows > 0) & (f.genre_indices > 0)])
        listed_mask = np.zeros(f.n_items, dtype=bool)
        listed_mask[listed] = True
        listed_genres = np.unique(f.genre_indices[listed_mask[genre_rows] & (f.genre_indices > 0)])

        per_user = {
            f"diversity@{k}": intra_list_diversity(topk, vectors),
            f"novelty@{k}": list_mean(info),
            f"avg_popularity@{k}": list_mean(pop),
            f"explicit_share@{k}": list_mean(explicit),
        }
        values = {
            f"coverage@{k}": listed.size / max(f.n_items - 1, 1),
            f"genre_coverage@{k}": (
                listed_genres.size / catalogue_genres.size if catalogue_genres.size else float("nan")
            ),
        }
        values.update({name: per_user_mean(v) for name, v in per_user.items()})
        return MetricResult(values, per_user)
