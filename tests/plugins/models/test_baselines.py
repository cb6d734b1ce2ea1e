"""item_knn and mf: conformance plus a planted-cluster check against popularity."""

import numpy as np
import scipy.sparse as sp

from fixtures.ranking import recall_at_10
from hybridrec_core.interfaces import FitContext
from hybridrec_core.testing import ModelTests, toy_feature_set
from hybridrec_plugins.models.item_knn import ItemKNN
from hybridrec_plugins.models.mf import ImplicitALS, als_confidence
from hybridrec_plugins.models.popularity import Popularity


class TestItemKNN(ModelTests):
    plugin_class = ItemKNN
    example_params = {"neighbors": 20}


class TestImplicitALS(ModelTests):
    plugin_class = ImplicitALS
    example_params = {"factors": 8, "iterations": 5}


def test_baselines_beat_popularity_on_planted_clusters() -> None:
    fs = toy_feature_set()
    pop = Popularity()
    pop.fit(fs, FitContext())
    base = recall_at_10(pop, fs)
    for model in (ItemKNN({"neighbors": 30}), ImplicitALS({"factors": 8, "iterations": 10})):
        model.fit(fs, FitContext(seed=0, device="cpu"))
        assert recall_at_10(model, fs) > base + 0.03, model.name


def test_item_knn_pruning_keeps_at_most_n_neighbours() -> None:
    fs = toy_feature_set()
    model = ItemKNN({"neighbors": 5})
    model.fit(fs, FitContext())
    per_item = np.diff(sp.csc_matrix(model.sim).indptr)  # sim is stored neighbour-major (transposed)
    assert per_item.max() <= 5


def test_als_solution_beats_random_factors_on_objective() -> None:
    """CG-ALS must actually decrease the weighted implicit loss."""
    fs = toy_feature_set()
    one = ImplicitALS({"factors": 8, "iterations": 1})
    many = ImplicitALS({"factors": 8, "iterations": 10})
    for m in (one, many):
        m.fit(fs, FitContext(seed=0, device="cpu"))

    def loss(m):
        x, y = m.user_factors.numpy(), m.item_factors.numpy()
        tr = fs.train
        p = np.zeros((fs.n_users, fs.n_items))
        c = np.ones((fs.n_users, fs.n_items))
        p[tr.user, tr.item] = 1
        c[tr.user, tr.item] = als_confidence(tr.plays, m.config)
        users = np.flatnonzero(fs.train_user_mask)
        pred = x[users] @ y.T
        reg = m.config.regularization * ((x[users] ** 2).sum() + (y**2).sum())
        return float((c[users] * (p[users] - pred) ** 2).sum() + reg)

    assert loss(many) < loss(one)
