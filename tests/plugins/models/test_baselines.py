"""item_knn and mf: conformance plus a planted-cluster check against popularity."""

import dataclasses

import numpy as np
import pydantic
import pytest
import scipy.sparse as sp
import torch

from fixtures.ranking import recall_at_10
from hybridrec_core.interfaces import FitContext
from hybridrec_core.testing import ModelTests, toy_feature_set
from hybridrec_plugins.models.item_knn import ItemKNN
from hybridrec_plugins.models.mf import (
    DEFAULT_TUNE_GRID, ALSConfig, ImplicitALS, als_confidence, fit_als, fit_als_tuned, row_penalties,
)
from hybridrec_plugins.models.popularity import Popularity
from hybridrec_plugins.models.validation import one_se_choice


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
        reg_x = row_penalties(tr.user, fs.n_users, m.config, torch.device("cpu")).numpy()
        reg_y = row_penalties(tr.item, fs.n_items, m.config, torch.device("cpu")).numpy()
        reg = (reg_x[users] * (x[users] ** 2).sum(1)).sum() + (reg_y * (y**2).sum(1)).sum()
        return float((c[users] * (p[users] - pred) ** 2).sum() + reg)

    assert loss(many) < loss(one)


def test_row_penalties_scale_with_row_counts() -> None:
    """frequency_exponent nu: penalty_r = regularization * (n_r / mean n)^nu over rows with data."""
    rows = np.array([0, 0, 0, 0, 1, 2, 2, 2])  # counts 4, 1, 3 (mean 8/3); row 3 has none
    cpu = torch.device("cpu")
    flat = row_penalties(rows, 4, ALSConfig(regularization=10.0, frequency_exponent=0.0), cpu)
    torch.testing.assert_close(flat, torch.full((4,), 10.0))
    half = row_penalties(rows, 4, ALSConfig(regularization=10.0, frequency_exponent=0.5), cpu).numpy()
    np.testing.assert_allclose(half[:3], 10.0 * np.sqrt(np.array([4, 1, 3]) / (8 / 3)), rtol=1e-6)
    assert half[3] == 10.0


def test_als_item_solve_meets_its_per_row_normal_equations() -> None:
    """With converged CG, each item's factors solve (X^T C_i X + lambda_i I) y_i = X^T C_i p_i, lambda_i the
    item's frequency-scaled penalty: the penalty vector reaches the right rows of the solver."""
    fs = toy_feature_set()
    tr = fs.train
    cfg = ALSConfig(factors=6, iterations=3, cg_steps=50, regularization=4.0, frequency_exponent=1.0)
    x, y, _ = fit_als(tr.user, tr.item, tr.plays, fs.n_users, fs.n_items, cfg, seed=0, device=torch.device("cpu"))
    x, y = x.double().numpy(), y.double().numpy()
    has = np.bincount(tr.user, minlength=fs.n_users) > 0
    xs = x.copy()
    xs[~has] = 0  # users without rows are 0 in the solve (the mean vector is filled in afterwards)
    conf = als_confidence(tr.plays, cfg)
    lam = row_penalties(tr.item, fs.n_items, cfg, torch.device("cpu")).double().numpy()
    assert lam.max() > 2 * lam[lam > 0].min()  # the penalties really differ between items
    for i in np.unique(tr.item)[:25]:
        c = np.ones(fs.n_users)
        p = np.zeros(fs.n_users)
        sel = tr.item == i
        c[tr.user[sel]] = conf[sel]
        p[tr.user[sel]] = 1.0
        a = xs.T @ (c[:, None] * xs) + lam[i] * np.eye(cfg.factors)
        np.testing.assert_allclose(y[i], np.linalg.solve(a, xs.T @ (c * p)), rtol=1e-3, atol=1e-4)


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


GRID = [[1e4, 1.0], [0.5, 2.0], [5.0, 1.0]]  # the first shrinks every factor to ~0: a list of ties


def test_als_tune_grid_keeps_the_validation_best_pair_and_its_own_factors() -> None:
    fs = toy_feature_set()
    model = ImplicitALS({"factors": 8, "iterations": 8, "tune_grid": GRID})
    history = model.fit(fs, FitContext(seed=3, device="cpu"))
    tuning = history.extra["als_tuning"]
    scores = [t["val_ndcg@10"] for t in tuning["tried"]]
    assert [(t["regularization"], t["alpha"]) for t in tuning["tried"]] == [tuple(p) for p in GRID]
    best = GRID[int(np.argmax(scores))]
    assert (tuning["chosen"]["regularization"], tuning["chosen"]["alpha"]) == tuple(best)
    assert scores[0] < max(scores) - 0.05  # the over-penalized pair is not a close call
    assert tuning["best_margin_over_first"] > tuning["standard_error"] > 0  # so the best replaces the first
    # The kept factors are exactly a plain fit with the chosen pair (nothing refitted with another).
    plain = ImplicitALS({"factors": 8, "iterations": 8, "regularization": best[0], "alpha": best[1]})
    plain.fit(fs, FitContext(seed=3, device="cpu"))
    torch.testing.assert_close(model.item_factors, plain.item_factors)
    torch.testing.assert_close(model.user_factors, plain.user_factors)


def test_als_tune_grid_without_validation_rows_uses_the_set_pair() -> None:
    fs = toy_feature_set()
    fs = dataclasses.replace(fs, splits={**fs.splits, "valid": fs.valid.subset(np.zeros(0, dtype=np.int64))})
    cfg = ALSConfig(factors=8, iterations=4, regularization=5.0, alpha=1.0, tune_grid=GRID)
    used, x, y, history = fit_als_tuned(fs, cfg, seed=0, device=torch.device("cpu"))
    assert used is cfg and "als_tuning" not in history.extra
    x2, y2, _ = fit_als(fs.train.user, fs.train.item, fs.train.plays, fs.n_users, fs.n_items, cfg, seed=0, device=torch.device("cpu"))
    torch.testing.assert_close(y, y2)


def test_als_tune_grid_rejects_a_pair_out_of_range() -> None:
    with pytest.raises(pydantic.ValidationError, match="tune_grid pair"):
        ALSConfig(tune_grid=[[20.0, 0.0]])


def test_als_searches_the_default_grid_unless_a_pair_is_set_by_hand() -> None:
    default = [tuple(p) for p in DEFAULT_TUNE_GRID]
    assert ALSConfig().tune_grid == default
    assert (ALSConfig().regularization, ALSConfig().alpha) == default[0]  # the set pair is one of the tries
    assert ALSConfig(regularization=20.0).tune_grid == [] and ALSConfig(alpha=1.0).tune_grid == []
    assert ALSConfig(regularization=20.0, tune_grid=[[5.0, 1.0]]).tune_grid == [(5.0, 1.0)]
    for cfg in (ALSConfig(), ALSConfig(alpha=1.0)):  # saved configs come back with the same search
        assert ALSConfig.model_validate_json(cfg.model_dump_json()).tune_grid == cfg.tune_grid
    model = ImplicitALS({"factors": 8, "iterations": 4})
    tried = model.fit(toy_feature_set(), FitContext(seed=0, device="cpu")).extra["als_tuning"]["tried"]
    assert [(t["regularization"], t["alpha"]) for t in tried] == default
    hand = ImplicitALS({"factors": 8, "iterations": 4, "regularization": 20.0})
    assert "als_tuning" not in hand.fit(toy_feature_set(), FitContext(seed=0, device="cpu")).extra


def test_the_grid_leaves_the_first_pair_only_for_a_margin_beyond_one_standard_error() -> None:
    rng = np.random.default_rng(0)
    first = rng.random(400)
    noise = rng.normal(0.0, 0.2, 400)  # paired differences with a standard error of about 0.01
    slightly = first + noise - noise.mean() + 0.002  # better on average, within one standard error
    clearly = first + noise - noise.mean() + 0.05
    pick, margin, se = one_se_choice([first, slightly])
    assert pick == 0 and margin == pytest.approx(0.002) and 0.005 < se < 0.02
    assert one_se_choice([first, slightly, clearly])[0] == 2
    assert one_se_choice([clearly, first, slightly])[0] == 0  # the first is the best: kept
    with_nan = np.where(np.arange(400) < 10, np.nan, clearly)  # users without held-out rows are skipped
    assert one_se_choice([first, with_nan])[0] == 1


def test_als_tune_grid_keeps_the_first_pair_and_its_factors_when_the_best_is_within_one_error() -> None:
    fs = toy_feature_set()
    model = ImplicitALS({"factors": 8, "iterations": 8, "tune_grid": [[5.0, 1.0], [5.3, 1.0]]})
    tuning = model.fit(fs, FitContext(seed=3, device="cpu")).extra["als_tuning"]
    first, second = (t["val_ndcg@10"] for t in tuning["tried"])
    assert second > first  # an argmax would move to the second pair ...
    assert 0 < tuning["best_margin_over_first"] < tuning["standard_error"]  # ... by less than one error
    assert (tuning["chosen"]["regularization"], tuning["chosen"]["alpha"]) == (5.0, 1.0)
    plain = ImplicitALS({"factors": 8, "iterations": 8, "regularization": 5.0, "alpha": 1.0})
    plain.fit(fs, FitContext(seed=3, device="cpu"))
    torch.testing.assert_close(model.item_factors, plain.item_factors)  # the first pair's own factors
