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


def test_explicit_als_solves_the_ridge_problem_and_recovers_a_planted_matrix() -> None:
    """fit_explicit_als (the hybrid's residual factors): each half-step is the ridge solution over
    the observed entries only, and held-out entries of a planted low-rank matrix are recovered."""
    import torch

    from hybridrec_plugins.models.mf import fit_explicit_als

    rng = np.random.default_rng(0)
    n_u, n_i, k = 120, 80, 3
    truth = rng.normal(size=(n_u, k)) @ rng.normal(size=(k, n_i)) / np.sqrt(k)
    user, item = np.divmod(rng.permutation(n_u * n_i)[: n_u * n_i // 2], n_i)
    seen = rng.random(len(user)) < 0.8
    noise = 0.05 * rng.normal(size=len(user))
    vals = truth[user, item] + noise
    lam = 0.5
    x, y = fit_explicit_als(user[seen], item[seen], vals[seen], n_u, n_i, factors=k, regularization=lam,
                            iterations=30, cg_steps=k, seed=0, device=torch.device("cpu"))
    x, y = x.double().numpy(), y.double().numpy()
    # The last half-step solved the items exactly (k CG steps on a k-dim system): normal equations hold.
    for i in (0, 17, 55):
        rows = seen & (item == i)
        xi = x[user[rows]]
        np.testing.assert_allclose((xi.T @ xi + lam * np.eye(k)) @ y[i], xi.T @ vals[rows], atol=1e-3)
    pred = (x[user[~seen]] * y[item[~seen]]).sum(1)
    held = truth[user[~seen], item[~seen]]
    assert 1 - np.mean((pred - held) ** 2) / np.var(held) > 0.9
    # A user without rows gets zero factors (its term vanishes).
    x2, _ = fit_explicit_als(user[user > 0], item[user > 0], vals[user > 0], n_u, n_i, factors=k,
                             regularization=lam, seed=0, device=torch.device("cpu"))
    assert float(x2[0].abs().sum()) == 0.0
