"""The hybrid model: conformance, planted-cluster quality, cold start and the fast scoring path."""

import numpy as np
import pytest
import torch

from fixtures.ranking import recall_at_10
from hybridrec_core.interfaces import FitContext
from hybridrec_core.ranking import topk_for_users
from hybridrec_core.testing import ModelTests, toy_feature_set
from hybridrec_plugins.models.hybrid import HybridMusicRecommender
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
        assert {"loss", "lr", "seconds", "val_ndcg@10_sampled"} <= set(rec)
    assert history.monitor == "val_ndcg@10_sampled" and history.best_epoch is not None


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
    assert model.warm_start == "bias" and HybridMusicRecommender(SMALL).warm_start == "none"
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
    model.fit(fs, FitContext(seed=0, device="cpu"))
    torch.testing.assert_close(model.net.item_bias.weight, before)
    assert model.net.out.weight.abs().sum() > 0, "the MLP output was trained from zero"


def test_catalogue_softmax_trains_the_dot_head_against_shared_negatives() -> None:
    fs = toy_feature_set()
    params = {"embedding_dim": 16, "hidden_layers": [32, 16], "epochs": 25, "batch_size": 128, "early_stopping_patience": 25}
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
    model = HybridMusicRecommender({**SMALL, "catalogue_negatives": 8, "dot_head": False})
    with pytest.raises(ValueError, match="catalogue_negatives"):
        model.fit(toy_feature_set(), FitContext(seed=0, device="cpu"))
