"""Fixtures for the re-ranker tests: the toy catalogue, real fitted models and their raw pools."""

from __future__ import annotations

import numpy as np
import pytest

from hybridrec_core.config import RecommendConfig
from hybridrec_core.dataset import FeatureSet
from hybridrec_core.interfaces import Candidates, FitContext, Model
from hybridrec_core.recommend import candidate_pools
from hybridrec_core.testing import toy_feature_set
from hybridrec_plugins.models.hybrid import HybridMusicRecommender

K = 10
POOL = 50


@pytest.fixture(scope="session")
def toy() -> FeatureSet:
    return toy_feature_set()


@pytest.fixture(scope="session")
def hybrid(toy: FeatureSet) -> Model:
    """A small hybrid model, really trained (a few seconds), so pools are personalized."""
    # warm_start 'none': the learned dot-head vectors are the embeddings MMR is tested with; on this
    # tiny world the ALS backbone's factors (regularization 50, tuned on Last.fm) are nearly collinear.
    model = HybridMusicRecommender({"epochs": 5, "embedding_dim": 16, "hidden_layers": [32, 16], "warm_start": "none"})
    model.fit(toy, FitContext(seed=0, device="cpu"))
    return model


@pytest.fixture(scope="session")
def pool(toy: FeatureSet, hybrid: Model) -> Candidates:
    """Every warm user's top-POOL unseen tracks from the hybrid model, best first."""
    users = np.arange(1, toy.n_users)
    items, scores, _, _ = candidate_pools(hybrid, toy, users, RecommendConfig(k=K, pool_size=POOL), POOL)
    return Candidates(users, items, scores)
