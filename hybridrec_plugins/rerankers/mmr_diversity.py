"""Maximal marginal relevance: trade a little relevance for a list whose tracks differ."""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import AliasChoices, Field

from hybridrec_core.errors import PluginError
from hybridrec_core.interfaces import Candidates, PluginConfig, ReRanker, RerankContext
from hybridrec_core.rerank_utils import greedy_select, item_feature_vectors, minmax_rows, picks_then_rest, unit_rows


class MMRDiversity(ReRanker):
    """Greedy MMR (Carbonell & Goldstein, 1998) over the candidate pool.

    Each step picks, for every user at once, the pool item maximizing
    ``lambda * relevance - (1 - lambda) * max cosine similarity to the items already picked``,
    where relevance is the model score min-max scaled within the user's pool. Similarity comes
    from the model's item embeddings (``RerankContext.item_vectors``) or from track content
    (standardized audio features + genre multi-hot). ``lambda = 1`` keeps the model's order.
    """

    name: ClassVar[str] = "mmr_diversity"
    description: ClassVar[str] = "Maximal marginal relevance: diversify the list by item similarity."

    class Config(PluginConfig):
        lambda_: float = Field(
            0.7,
            ge=0.0,
            le=1.0,
            validation_alias=AliasChoices("lambda", "lambda_"),
            description="Weight of relevance against novelty within the list (1 = no diversification).",
        )
        similarity: Literal["auto", "features", "embeddings"] = Field(
            "auto",
            description="Item similarity source: model embeddings, track features, or embeddings when the "
            "model provides them and features otherwise.",
        )
        genre_weight: float = Field(
            1.0, ge=0.0, le=10.0, description="Weight of the genre block against audio features (features only)."
        )

    def _vectors(self, context: RerankContext) -> np.ndarray:
        source = self.config.similarity
        if source == "auto":
            source = "embeddings" if context.item_vectors is not None else "features"
        if source == "embeddings" and context.item_vectors is None:
            raise PluginError(
                "reranker 'mmr_diversity': similarity='embeddings' but the model provides no item "
                "embeddings (RerankContext.item_vectors is None); use similarity='features'"
            )
        key = f"mmr_diversity:{source}:{self.config.genre_weight}"
        if key not in context.extra:  # computed once per recommendation run, shared by all batches
            if source == "embeddings":
                vec = unit_rows(np.asarray(context.item_vectors))
            else:
                vec = item_feature_vectors(context.features, self.config.genre_weight)
            if vec.shape[0] != context.features.n_items:
                raise PluginError(
                    f"reranker 'mmr_diversity': item vectors have {vec.shape[0]} rows, the catalogue "
                    f"has {context.features.n_items} items"
                )
            vec = np.array(vec, dtype=np.float32)
            vec[0] = 0.0  # empty pool slots (-1) read row 0: a zero vector is similar to nothing
            context.extra[key] = vec
        return context.extra[key]

    def rerank(self, candidates: Candidates, k: int, context: RerankContext) -> Candidates:
        valid = candidates.valid
        vectors = self._vectors(context)
        v = vectors[np.clip(candidates.items, 0, None)]  # (B, P, d)
        everyone = np.arange(valid.shape[0])
        lam = self.config.lambda_
        relevance = lam * minmax_rows(candidates.scores, valid)
        max_sim = np.full(valid.shape, -np.inf, dtype=np.float32)

        def utility(available: np.ndarray) -> np.ndarray:
            return relevance - (1.0 - lam) * np.where(np.isfinite(max_sim), max_sim, 0.0)

        def on_pick(rows: np.ndarray, positions: np.ndarray) -> None:
            # Similarity of each pool item to the one just picked, (n, P, d) @ (n, d, 1): only
            # steps x P similarities per user, never the full P x P matrix.
            pool_v = v if rows.size == everyone.size else v[rows]
            sim = np.matmul(pool_v, v[rows, positions][:, :, None])[:, :, 0]
            max_sim[rows] = np.maximum(max_sim[rows], sim)

        picks = greedy_select(valid, context.list_length(k), utility, on_pick)
        return picks_then_rest(candidates, picks, k)
