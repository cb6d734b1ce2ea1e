"""The hybrid model: conformance, planted-cluster quality, cold start and the fast scoring path."""

import numpy as np
import pytest
import torch

from fixtures.ranking import recall_at_10
from hybridrec_core.interfaces import FitContext
from hybridrec_core.ranking import topk_for_users
from hybridrec_core.testing import ModelTests, toy_feature_set
from hybridrec_plugins.models.hybrid import HybridMusicRecommender, played
from hybridrec_plugins.models.mf import ALSConfig
from hybridrec_plugins.models.popularity import Popularity

SMALL = {"embedding_dim": 16, "hidden_layers": [32, 16], "epochs": 4, "batch_size": 256}


class TestHybridRanking(ModelTests):
    plugin_class = HybridMusicRecommender
    example_params = SMALL


class TestHybridRegression(ModelTests):
    plugin_class = HybridMusicRecommender
    example_params = {**SMALL, "objective": "regression", "hidden_layers": [16]}

    def test_predicts_target(self) -> None:
        assert self.make().predicts_target is True
        assert HybridMusicRecommender(SMALL).predicts_target is False


def test_hybrid_beats_popularity_on_planted_clusters() -> None:
    fs = toy_feature_set()
    pop = Popularity()
    pop.fit(fs, FitContext())
    hyb = HybridMusicRecommender(
        {"embedding_dim": 16, "hidden_layers": [32, 16], "epochs": 25, "batch_size": 128, "early_stopping_patience": 25}
    )
    hyb.fit(fs, FitContext(seed=0, device="cpu"))
    assert recall_at_10(hyb, fs) > recall_at_10(pop, fs) + 0.03


@pytest.fixture(scope="module")
def trained():
    fs = toy_feature_set()
    model = HybridMusicRecommender({**SMALL, "epochs": 3})
    history = model.fit(fs, FitContext(seed=1, device="cpu"))
    return model, fs, history


def test_history_records_each_epoch(trained) -> None:
    _, _, history = trained
    assert len(history.epochs) == 3
    for rec in history.epochs:
        assert {"loss", "lr", "seconds", "val_ndcg@10", "val_recall@10"} <= set(rec)
    assert history.monitor == "val_ndcg@10" and history.best_epoch is not None


def test_split_first_layer_equals_plain_forward(trained) -> None:
    """The cached item half + broadcast head must equal the network's own forward pass."""
    model, fs, _ = trained
    net = model.net
    net.eval()
    users = np.array([1, 2, 3])
    items = np.array([[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]])
    with torch.no_grad():
        ids = model._item_ids[torch.as_tensor(items)]
        direct = net(model._users(users), torch.as_tensor(items), ids)
    torch.testing.assert_close(model.score_items(users, items), direct, rtol=1e-5, atol=1e-5)


def test_cold_ids_use_unknown_row(trained) -> None:
    model, fs, _ = trained
    cold_user = int(np.flatnonzero(~fs.train_user_mask)[1]) if (~fs.train_user_mask).sum() > 1 else None
    s0 = model.score_items(np.array([0]))
    if cold_user is not None:
        torch.testing.assert_close(model.score_items(np.array([cold_user])), s0)
    # a cold track keeps its content: two cold tracks with different features score differently
    item_scores = model.score_items(np.array([1]))[0]
    assert torch.isfinite(item_scores).all()


def test_retrieval_scores_and_embeddings(trained) -> None:
    model, fs, _ = trained
    r = model.retrieval_scores(np.array([1, 2]))
    assert r is not None and tuple(r.shape) == (2, fs.n_items)
    emb = model.item_embeddings()
    assert emb.shape[0] == fs.n_items and np.isfinite(emb).all()


def test_invalid_config_names_field() -> None:
    from hybridrec_core.errors import PluginConfigError

    with pytest.raises(PluginConfigError, match="hidden_layers"):
        HybridMusicRecommender({"hidden_layers": [0]})
    with pytest.raises(PluginConfigError, match="dropout"):
        HybridMusicRecommender({"dropout": 1.5})


def test_two_stage_retrieval_keeps_exhaustive_top10() -> None:
    """Retrieving 5% of the catalogue by retrieval_scores, then re-scoring, keeps >= 90% of top-10."""
    fs = toy_feature_set(n_users=150, n_items=400, per_user=20)
    model = HybridMusicRecommender({**SMALL, "epochs": 5})
    model.fit(fs, FitContext(seed=0, device="cpu"))
    users = np.arange(1, fs.n_users)
    seen = fs.train.csr(fs.n_users, fs.n_items)
    exhaustive, _ = topk_for_users(model.score_items, users, 10, seen)
    cand, _ = topk_for_users(model.retrieval_scores, users, 20, seen)
    rescored = model.score_items(users, cand).numpy()
    two_stage = np.take_along_axis(cand, np.argsort(-rescored, axis=1, kind="stable")[:, :10], axis=1)
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exhaustive, two_stage)])
    assert overlap >= 0.9


def test_hybrid_resumes_from_checkpoint_after_crash(tmp_path, monkeypatch) -> None:
    from hybridrec_core import training

    fs = toy_feature_set()
    params = {**SMALL, "epochs": 3}
    ref = HybridMusicRecommender(params)
    ref.fit(fs, FitContext(seed=4, device="cpu"))

    real_save = training._save_checkpoint

    def save_then_crash(path, payload):
        real_save(path, payload)
        if payload["epoch"] == 1:
            raise KeyboardInterrupt("simulated crash after epoch 1")

    monkeypatch.setattr(training, "_save_checkpoint", save_then_crash)
    with pytest.raises(KeyboardInterrupt):
        HybridMusicRecommender(params).fit(fs, FitContext(seed=4, device="cpu", checkpoint_dir=tmp_path))
    monkeypatch.undo()
    assert torch.load(tmp_path / training.CHECKPOINT_NAME, weights_only=True)["epoch"] == 1

    resumed = HybridMusicRecommender(params)
    history = resumed.fit(fs, FitContext(seed=4, device="cpu", checkpoint_dir=tmp_path))
    assert history.extra["resumed_from_epoch"] == 2 and len(history.epochs) == 3
    users = np.arange(fs.n_users)
    torch.testing.assert_close(resumed.score_items(users), ref.score_items(users), rtol=0, atol=0)


class TestHybridBiasTerms(ModelTests):
    """Per-user/per-track biases ride in the dot channel: same contracts (save/load, scoring)."""

    plugin_class = HybridMusicRecommender
    example_params = {**SMALL, "bias_terms": True, "epochs": 2}


@pytest.mark.parametrize("dot_head", [True, False])
def test_bias_terms_add_user_and_item_bias(dot_head: bool) -> None:
    fs = toy_feature_set()
    model = HybridMusicRecommender({**SMALL, "epochs": 2, "bias_terms": True, "dot_head": dot_head})
    model.fit(fs, FitContext(seed=0, device="cpu"))
    net = model.net
    assert net.user_bias.weight.abs().sum() > 0 and net.item_bias.weight.abs().sum() > 0, "the biases were trained"
    users, items = np.array([1, 2]), np.array([[1, 2, 3], [4, 5, 6]])
    base = model.score_items(users, items)
    with torch.no_grad():
        net.item_bias.weight[model._item_ids[4]] += 1.0  # track 4's bias + 1: only its score moves, by 1
        net.user_bias.weight[model._users(np.array([2]))] += 0.5
    model._cache = None
    moved = model.score_items(users, items)
    expected = base.clone()
    expected[1, 0] += 1.0
    expected[1] += 0.5
    torch.testing.assert_close(moved, expected, rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        direct = net(model._users(users), torch.as_tensor(items), model._item_ids[torch.as_tensor(items)])
    torch.testing.assert_close(moved, direct, rtol=1e-5, atol=1e-5)


def test_regression_starts_from_the_ridge_baseline_predictor() -> None:
    """warm_start 'bias' (the regression default): before any training step the prediction is the
    regularized baseline mu + b_u + b_i, checked against scipy's damped least squares."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import lsqr

    fs = toy_feature_set()
    model = HybridMusicRecommender({**SMALL, "objective": "regression", "bias_l2": 3.0})
    assert model.warm_start == "bias" and HybridMusicRecommender(SMALL).warm_start == "als"
    model._build(fs, torch.device("cpu"))
    model._bias_warm_start(fs, sweeps=200)
    t = fs.train
    mu = float(t.target.mean())
    n = len(t)
    design = sp.hstack([
        sp.csr_matrix((np.ones(n), (np.arange(n), t.user)), shape=(n, fs.n_users)),
        sp.csr_matrix((np.ones(n), (np.arange(n), t.item)), shape=(n, fs.n_items)),
    ]).tocsr()
    coef = lsqr(design, t.target - mu, damp=np.sqrt(3.0), atol=1e-12, btol=1e-12, iter_lim=10_000)[0]
    v = fs.valid
    expected = mu + coef[v.user] + coef[fs.n_users + v.item]
    np.testing.assert_allclose(model.score(v.user, v.item), expected, atol=1e-4)
    assert not model.net.user_bias.weight.requires_grad and not model.net.item_bias.weight.requires_grad


def test_bias_warm_start_keeps_the_biases_through_training() -> None:
    fs = toy_feature_set()
    model = HybridMusicRecommender({**SMALL, "objective": "regression", "hidden_layers": [16], "epochs": 2})
    model._build(fs, torch.device("cpu"))
    model._bias_warm_start(fs)
    before = model.net.item_bias.weight.detach().clone()
    history = model.fit(fs, FitContext(seed=0, device="cpu"))
    torch.testing.assert_close(model.net.item_bias.weight, before)
    assert "val_rmse" in history.extra["initial_validation"]  # the baseline itself was validated
    trained_mlp = bool(model.net.out.weight.abs().sum() > 0)
    # The MLP output was trained from zero, unless no epoch beat the baseline (then it is restored).
    assert trained_mlp == (history.best_epoch != -1)


def test_regression_warm_start_adds_fixed_residual_factors() -> None:
    """Biased MF: the bias warm start also fits factors to the baseline's residuals (explicit ALS,
    ridge penalty picked on validation), frozen in the dot channel at scale 1. They lower the
    starting validation RMSE on the toy world (its tastes are clustered), survive save/load, and
    an artifact saved without them (older versions, bias_factors 0) still loads."""
    from hybridrec_core.state import State
    from hybridrec_plugins.models.mf import fit_explicit_als

    fs = toy_feature_set()
    params = {**SMALL, "objective": "regression", "hidden_layers": [16], "epochs": 1}
    plain = HybridMusicRecommender({**params, "bias_factors": 0})
    base_rmse = plain.fit(fs, FitContext(seed=0, device="cpu")).extra["initial_validation"]["val_rmse"]
    model = HybridMusicRecommender(params)
    start_rmse = model.fit(fs, FitContext(seed=0, device="cpu")).extra["initial_validation"]["val_rmse"]
    assert start_rmse < base_rmse - 0.01
    net = model.net
    assert net.cf_user.weight.shape[1] == 32 and float(net.cf_user.weight.abs().sum()) > 0
    assert not net.cf_scale.requires_grad and float(net.cf_scale) == 1.0
    assert not net.cf_user.weight.requires_grad and not net.cf_item.weight.requires_grad
    # With the penalty fixed, the factors are exactly the solver's on the residuals of the biases.
    fixed = HybridMusicRecommender({**params, "bias_factor_l2": 2.0})
    fixed._build(fs, torch.device("cpu"))
    mu, b_u, b_i = fixed._bias_warm_start(fs)
    t = fs.train
    residual = t.target - (mu + b_u[t.user] + b_i[t.item])
    p, q = fit_explicit_als(t.user, t.item, residual, fs.n_users, fs.n_items, factors=32, regularization=2.0,
                            seed=0, device=torch.device("cpu"))
    fixed.fit(fs, FitContext(seed=0, device="cpu"))
    torch.testing.assert_close(fixed.net.cf_item.weight, q)
    # Round trip, and an artifact without factors (bias_factors 0 / written before they existed).
    users, items = fs.valid.user[:50], fs.valid.item[:50]
    again = HybridMusicRecommender.from_state(model.get_state(), fs)
    np.testing.assert_allclose(again.score(users, items), model.score(users, items), atol=1e-6)
    state = plain.get_state()
    config = dict(state.meta["config"])
    config.pop("bias_factors")
    legacy = HybridMusicRecommender.from_state(State(meta={"config": config}, arrays=state.arrays), fs)
    assert legacy.net.cf_user is None
    np.testing.assert_allclose(legacy.score(users, items), plain.score(users, items), atol=1e-6)


def test_catalogue_softmax_trains_the_dot_head_against_shared_negatives() -> None:
    fs = toy_feature_set()
    params = {
        "embedding_dim": 16, "hidden_layers": [32, 16], "epochs": 25, "batch_size": 128, "early_stopping_patience": 25,
        "warm_start": "none",  # the catalogue softmax trains the learned dot head of the model without a backbone
    }
    pop = Popularity()
    pop.fit(fs, FitContext())
    base = HybridMusicRecommender({**params, "epochs": 1})
    h_base = base.fit(fs, FitContext(seed=0, device="cpu"))
    cat = HybridMusicRecommender({**params, "epochs": 1, "catalogue_negatives": 64})
    h_cat = cat.fit(fs, FitContext(seed=0, device="cpu"))
    assert h_cat.epochs[0]["loss"] > h_base.epochs[0]["loss"] + 1.0  # the extra softmax term is in the loss
    full = HybridMusicRecommender({**params, "catalogue_negatives": 64})
    full.fit(fs, FitContext(seed=0, device="cpu"))
    assert recall_at_10(full, fs) > recall_at_10(pop, fs) + 0.03


def test_catalogue_softmax_needs_the_dot_head() -> None:
    model = HybridMusicRecommender({**SMALL, "catalogue_negatives": 8, "dot_head": False, "warm_start": "none"})
    with pytest.raises(ValueError, match="catalogue_negatives"):
        model.fit(toy_feature_set(), FitContext(seed=0, device="cpu"))


# -- warm_start 'als' (the ranking default): a closed-form ALS backbone plus what the MLP adds ------
ALS_SMALL = {**SMALL, "als_factors": 8, "als_iterations": 5, "als_regularization": 5.0}


def test_als_warm_start_scores_start_as_the_mf_plugin() -> None:
    """Before any training step the score is s * <x_u, y_i> + a constant, with exactly the factors
    the ``mf`` plugin fits with the same settings, so the top-10 lists are ALS's."""
    from hybridrec_plugins.models.mf import ImplicitALS

    fs = toy_feature_set()
    model = HybridMusicRecommender({**ALS_SMALL, "als_holdout": 0.0, "als_genre_weight": 0.0})
    assert model.warm_start == "als" and not model.uses_dot_head
    model._build(fs, torch.device("cpu"))
    assert model._als_warm_start(fs, seed=3, device=torch.device("cpu"))[0] is None  # no holdout: trains on every row
    mf = ImplicitALS({"factors": 8, "iterations": 5, "regularization": 5.0, "alpha": 2.0})
    mf.fit(fs, FitContext(seed=3, device="cpu"))
    users = np.arange(1, fs.n_users)
    got = model.score_items(users)
    want = mf.score_items(users) * float(model.net.cf_scale.detach())
    torch.testing.assert_close(got - got[:, :1], want - want[:, :1], rtol=1e-4, atol=1e-5)
    seen = fs.train.csr(fs.n_users, fs.n_items)
    a, _ = topk_for_users(model.score_items, users, 10, seen)
    b, _ = topk_for_users(mf.score_items, users, 10, seen)
    assert (a == b).mean() > 0.99


def test_genre_side_information_joins_the_als_backbone() -> None:
    """als_genre_weight: the backbone is ALS on the training rows plus one pseudo-user per genre
    who played each of its trained tracks that many times; the pseudo-users are dropped, users
    without rows get the real users' mean, and tracks of one genre end up closer together."""
    from hybridrec_plugins.models.mf import fit_als

    fs = toy_feature_set()
    cpu = torch.device("cpu")

    def backbone(weight: float) -> tuple[torch.Tensor, torch.Tensor]:
        model = HybridMusicRecommender({**ALS_SMALL, "als_holdout": 0.0, "als_genre_weight": weight})
        model._build(fs, cpu)
        model._als_warm_start(fs, seed=3, device=cpu)
        return model.net.cf_user.weight.detach().clone(), model.net.cf_item.weight.detach().clone()

    x, y = backbone(30.0)
    t = fs.train
    genre = fs.item_features.genre_indices  # one genre per toy track
    side = np.flatnonzero(fs.train_item_mask)
    model = HybridMusicRecommender({**ALS_SMALL, "als_genre_weight": 30.0})
    xf, yf, _ = fit_als(np.concatenate([t.user, fs.n_users + genre[side]]), np.concatenate([t.item, side]),
                        np.concatenate([t.plays, np.full(side.size, 30.0, np.float32)]),
                        fs.n_users + fs.n_genres, fs.n_items, model.als_config, seed=3, device=cpu)
    torch.testing.assert_close(y, yf)
    torch.testing.assert_close(x[1:], xf[1 : fs.n_users])
    torch.testing.assert_close(x[0], xf[1 : fs.n_users].mean(0))  # the unknown user: real users' mean only

    def within_minus_across(items: torch.Tensor) -> float:
        v = torch.nn.functional.normalize(items[1:], dim=1)
        sim = v @ v.T
        same = torch.as_tensor(genre[1:, None] == genre[None, 1:])
        return float(sim[same].mean() - sim[~same].mean())

    assert within_minus_across(y) > within_minus_across(backbone(0.0)[1]) + 0.05


def test_als_holdout_trains_on_held_out_rows_and_keeps_the_full_backbone() -> None:
    """Cross-fitting: the MLP trains on a held-out share of the rows against a backbone fitted
    without them; the fitted model carries the backbone fitted on every row."""
    from hybridrec_plugins.models.mf import ALSConfig, fit_als

    fs = toy_feature_set()
    model = HybridMusicRecommender({**ALS_SMALL, "als_holdout": 0.3, "epochs": 1, "als_genre_weight": 0.0})
    model._build(fs, torch.device("cpu"))
    held, _ = model._als_warm_start(fs, seed=0, device=torch.device("cpu"))
    assert held.dtype == bool and held.shape == (len(fs.train),)
    rows = np.flatnonzero(held)
    assert 0.2 < len(rows) / len(fs.train) < 0.4
    full, fit = model._backbones
    keep = np.setdiff1d(np.arange(len(fs.train)), rows)
    t = fs.train
    als = ALSConfig(factors=8, regularization=5.0, iterations=5, alpha=2.0, confidence="log", cg_steps=3, init_scale=0.01)
    kw = dict(seed=0, device=torch.device("cpu"))
    x_fit, _, _ = fit_als(t.user[keep], t.item[keep], t.plays[keep], fs.n_users, fs.n_items, als, **kw)
    torch.testing.assert_close(fit[0], x_fit)
    torch.testing.assert_close(model.net.cf_user.weight, x_fit)  # trained against the held-out backbone

    history = model.fit(fs, FitContext(seed=0, device="cpu"))
    x_all, y_all, _ = fit_als(t.user, t.item, t.plays, fs.n_users, fs.n_items, als, **kw)
    torch.testing.assert_close(model.net.cf_user.weight, x_all)
    torch.testing.assert_close(model.net.cf_item.weight, y_all)
    assert model._backbones is None and history.best_epoch == 0  # trained (no start validation for 'als')
    assert model.net.out.weight.abs().sum() > 0


def test_played_marks_the_users_training_tracks() -> None:
    keys = torch.as_tensor(np.unique(np.array([1 * 10 + 3, 1 * 10 + 4, 2 * 10 + 9], dtype=np.int64)))
    users = torch.tensor([1, 2])
    items = torch.tensor([[3, 9, 4], [3, 9, 0]])
    assert played(keys, users, items, 10).tolist() == [[True, False, True], [False, True, False]]
    shared = torch.tensor([[4, 9]])
    assert played(keys, users, shared, 10).tolist() == [[True, False], [False, True]]


def test_als_hybrid_beats_popularity_and_scores_new_tracks_from_content() -> None:
    fs = toy_feature_set()
    pop = Popularity()
    pop.fit(fs, FitContext())
    model = HybridMusicRecommender({**ALS_SMALL, "epochs": 6})
    model.fit(fs, FitContext(seed=0, device="cpu"))
    assert recall_at_10(model, fs) > recall_at_10(pop, fs) + 0.03
    # Every track scored as if it were new (id row 0: no backbone factors, no id embedding).
    items = torch.arange(1, fs.n_items).unsqueeze(0).expand(2, -1)
    model.net.eval()
    with torch.no_grad():
        as_new = model.net(torch.tensor([1, 2]), items, torch.zeros_like(items))
    assert float(as_new.std(dim=1).min()) > 1e-3, "new tracks all tie: the content path was not trained"


def _with_new_tracks(n_new: int = 24):
    """The toy world with its last n_new tracks made new: their training rows move to test."""
    import dataclasses

    from hybridrec_core.dataset import InteractionSet

    fs = toy_feature_set()
    new = np.arange(fs.n_items - n_new, fs.n_items)
    t = fs.train
    gone = np.isin(t.item, new)
    moved, test = t.subset(np.flatnonzero(gone)), fs.test
    joined = InteractionSet(*(np.concatenate([getattr(test, f), getattr(moved, f)])
                              for f in ("user", "item", "plays", "target", "timestamp")))
    mask = fs.train_item_mask.copy()
    mask[new] = False
    fs = dataclasses.replace(fs, splits={**fs.splits, "train": t.subset(np.flatnonzero(~gone)), "test": joined},
                             train_item_mask=mask)
    return fs, new


def test_new_tracks_get_backbone_factors_predicted_from_content() -> None:
    """als_cold_factors: a new track's backbone row is the ridge prediction from its content
    (checked against scipy's damped least squares), known tracks keep their ALS factors, scoring
    reads the prediction (score and score_items agree, and it survives save/load), and new tracks
    of a user's genre cluster now rank above the others."""
    from scipy.sparse.linalg import lsqr

    fs, new = _with_new_tracks()
    params = {**ALS_SMALL, "epochs": 2, "als_cold_l2": 3.0}
    model = HybridMusicRecommender(params)
    model.fit(fs, FitContext(seed=0, device="cpu"))
    plain = HybridMusicRecommender({**params, "als_cold_factors": False})
    plain.fit(fs, FitContext(seed=0, device="cpu"))
    y, y0 = model.net.cf_item.weight.detach().numpy(), plain.net.cf_item.weight.detach().numpy()
    warm = fs.train_item_mask.copy()
    warm[0] = False
    np.testing.assert_array_equal(y[warm], y0[warm])
    assert np.abs(y0[new]).sum() == 0 and np.abs(y[new]).sum(1).min() > 0
    # Independent ridge: the same design, centred, solved by lsqr.
    f = fs.item_features
    n = fs.n_items
    cols = [np.eye(fs.n_artists)[f.artist]]
    cols[0][:, 0] = 0
    bag = np.zeros((n, fs.n_genres))
    for i in range(n):
        g = f.genre_indices[f.genre_indptr[i]:f.genre_indptr[i + 1]]
        bag[i, g] = 1.0 / max(len(g), 1)
    bag[:, 0] = 0
    dense = np.concatenate([f.numeric, f.numeric_missing, f.binary], axis=1)
    design = np.concatenate([cols[0], bag, dense - dense[warm].mean(0)], axis=1)
    target = y0[warm] - y0[warm].mean(0)
    for j in (0, 3):
        coef = lsqr(design[warm], target[:, j], damp=np.sqrt(3.0), atol=1e-12, btol=1e-12, iter_lim=20_000)[0]
        np.testing.assert_allclose(y[new, j], design[new] @ coef + y0[warm, j].mean(), atol=2e-3)
    # Scoring reads the predicted rows, pointwise and listwise alike, and after a round trip.
    users = np.arange(1, 41)
    cand = np.tile(new, (len(users), 1))
    listwise = model.score_items(users, cand).numpy()
    np.testing.assert_allclose(model.score(users, cand[:, 0]), listwise[:, 0], atol=1e-5)
    again = HybridMusicRecommender.from_state(model.get_state(), fs)
    np.testing.assert_allclose(again.score_items(users, cand).numpy(), listwise, atol=1e-5)
    # New tracks of the user's own genre cluster should now rank first.
    item_cluster = np.array(fs.metadata["item_cluster"])
    user_cluster = np.array(fs.metadata["user_cluster"])

    def own_cluster_share(m) -> float:
        scores = m.score_items(users, cand).numpy()
        top = np.take_along_axis(cand, np.argsort(-scores, axis=1)[:, :5], axis=1)
        return float((item_cluster[top] == user_cluster[users][:, None]).mean())

    assert own_cluster_share(model) > own_cluster_share(plain) + 0.2
    assert own_cluster_share(model) > 0.6


def test_full_validation_is_full_ranking_ndcg(trained) -> None:
    """The early-stopping metric equals NDCG@10 over the whole catalogue, training tracks
    excluded, computed one user at a time."""
    model, fs, _ = trained
    metrics = model._full_validation(fs, seed=1)()
    seen = fs.train.csr(fs.n_users, fs.n_items).toarray() > 0
    rel = fs.valid.csr(fs.n_users, fs.n_items).toarray() > 0
    ndcgs = []
    for u in np.unique(fs.valid.user):
        s = model.score_items(np.array([u]))[0].numpy().copy()
        s[seen[u]] = -np.inf
        s[0] = -np.inf
        top = np.lexsort((np.arange(len(s)), -s))[:10]
        gains = rel[u, top] / np.log2(np.arange(2, 12))
        ideal = (1 / np.log2(np.arange(2, 12)))[: min(rel[u].sum(), 10)].sum()
        ndcgs.append(gains.sum() / ideal)
    assert metrics["val_ndcg@10"] == pytest.approx(float(np.mean(ndcgs)), abs=1e-9)


def test_legacy_ranking_artifact_without_backbone_still_loads() -> None:
    """Artifacts written before 'auto' meant 'als' for ranking have no backbone tables."""
    fs = toy_feature_set()
    old = HybridMusicRecommender({**SMALL, "warm_start": "none", "epochs": 1})
    old.fit(fs, FitContext(seed=0, device="cpu"))
    state = old.get_state()
    state.meta.pop("warm_start")
    state.meta["config"]["warm_start"] = "auto"
    loaded = HybridMusicRecommender.from_state(state, fs)
    assert loaded.warm_start == "none"
    torch.testing.assert_close(loaded.score_items(np.array([1, 2])), old.score_items(np.array([1, 2])))


def test_auto_warm_start_on_a_training_shard_goes_without_the_backbone() -> None:
    """ALS needs every user's rows: an 'auto' ranking model on one rank's shard trains without the
    backbone (and says so), an explicit 'als' is refused with the shard named."""
    import dataclasses

    from hybridrec_core.dataset import TrainShard, WholeTrainRequired

    fs = toy_feature_set()
    shard = TrainShard(rank=0, world_size=2, global_rows=len(fs.train), fingerprint=fs.fingerprint(),
                       item_popularity=fs.item_popularity())
    sharded = dataclasses.replace(fs, train_shard=shard)
    auto = HybridMusicRecommender(SMALL)
    with pytest.raises(ValueError, match="no process group"):  # got past the warm start; a shard needs torchrun
        auto.fit(sharded, FitContext(seed=0, device="cpu"))
    assert auto.warm_start == "none" and auto.net.cf_user is None
    with pytest.raises(WholeTrainRequired, match="shard 0 of 2"):
        HybridMusicRecommender({**SMALL, "warm_start": "als"}).fit(sharded, FitContext(seed=0, device="cpu"))
    # Regression keeps its (all-reduced) biases on a shard but builds no residual factor table.
    reg = HybridMusicRecommender({**SMALL, "objective": "regression"})
    with pytest.raises(ValueError, match="no process group"):
        reg.fit(sharded, FitContext(seed=0, device="cpu"))
    assert reg.warm_start == "bias" and reg.backbone_dim == 0 and reg.net.cf_user is None
    assert reg.net.user_bias is not None


def test_content_term_trains_new_track_scores_on_every_row() -> None:
    """als_content_share: every row is also scored with all track ids hidden, so the loss carries
    the extra term and the content path ranks tracks as if they were new."""
    fs = toy_feature_set()
    params = {**ALS_SMALL, "epochs": 1}
    plain = HybridMusicRecommender(params)
    h_plain = plain.fit(fs, FitContext(seed=0, device="cpu"))
    both = HybridMusicRecommender({**params, "als_content_share": 1.0, "als_lr_scale": 1.0, "als_residual_weight": 0.1})
    h_both = both.fit(fs, FitContext(seed=0, device="cpu"))
    assert h_both.epochs[0]["loss"] > h_plain.epochs[0]["loss"] + 0.5  # the content term is in the loss
    items = torch.arange(1, fs.n_items).unsqueeze(0).expand(2, -1)
    both.net.eval()
    with torch.no_grad():
        as_new = both.net(torch.tensor([1, 2]), items, torch.zeros_like(items))
    assert float(as_new.std(dim=1).min()) > 1e-3


def test_hybrid_backbone_searches_the_mf_grid_unless_its_pair_is_set_by_hand() -> None:
    assert HybridMusicRecommender(SMALL).als_config.tune_grid == ALSConfig().tune_grid != []
    for hand in ({"als_regularization": 20.0}, {"als_alpha": 1.0}):
        assert HybridMusicRecommender({**SMALL, **hand}).als_config.tune_grid == []
    assert HybridMusicRecommender({**SMALL, "als_alpha": 1.0, "als_tune_grid": [[5.0, 1.0]]}).als_config.tune_grid == [(5.0, 1.0)]


def test_hybrid_backbone_tune_grid_picks_on_validation_and_records_it() -> None:
    fs = toy_feature_set()
    grid = [[1e4, 1.0], [5.0, 1.0]]
    model = HybridMusicRecommender({**SMALL, "epochs": 1, "als_factors": 8, "als_iterations": 5, "als_tune_grid": grid})
    history = model.fit(fs, FitContext(seed=0, device="cpu"))
    tuning = history.extra["als_tuning"]
    assert len(tuning["tried"]) == 2
    assert (tuning["chosen"]["regularization"], tuning["chosen"]["alpha"]) == (5.0, 1.0)
    assert tuning["tried"][1]["val_ndcg@10"] > tuning["tried"][0]["val_ndcg@10"]
