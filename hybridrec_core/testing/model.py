"""Conformance tests for model plugins: inherit :class:`ModelTests` and set ``plugin_class``.

The model is fitted once per test class on :func:`toy_feature_set` (keep ``example_params`` small
so this stays fast); determinism refits twice.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest
import torch

from hybridrec_core.dataset import FeatureSet
from hybridrec_core.interfaces import FitContext, Model, TrainingHistory
from hybridrec_core.testing.base import PluginTests
from hybridrec_core.testing.toy import toy_feature_set


class ModelTests(PluginTests):
    """Shape, finiteness, unknown ids, candidate pools, empty input, save/load and determinism."""

    plugin_class: ClassVar[type[Model]]
    toy_params: ClassVar[dict[str, Any]] = {}
    seed: ClassVar[int] = 7

    def features(self) -> FeatureSet:
        return toy_feature_set(**self.toy_params)

    def fit_model(self, features: FeatureSet, seed: int | None = None) -> tuple[Model, TrainingHistory]:
        model = self.make()
        history = model.fit(features, FitContext(seed=self.seed if seed is None else seed, device="cpu"))
        return model, history

    @pytest.fixture(scope="class")
    def fitted(self) -> tuple[Model, FeatureSet, TrainingHistory]:
        fs = self.features()
        model, history = self.fit_model(fs)
        return model, fs, history

    def test_fit_returns_history(self, fitted) -> None:
        _, _, history = fitted
        assert isinstance(history, TrainingHistory)

    def test_full_catalogue_scores(self, fitted) -> None:
        model, fs, _ = fitted
        users = np.array([1, 2, 3, 0])
        s = model.score_items(users)
        assert isinstance(s, torch.Tensor)
        assert tuple(s.shape) == (4, fs.n_items)
        assert torch.isfinite(s).all(), "scores must be finite for every user, unknown included"

    def test_unknown_user_and_item_are_scored(self, fitted) -> None:
        model, fs, _ = fitted
        s = model.score_items(np.array([0]), np.array([[0, 1]]))
        assert torch.isfinite(s).all()
        beyond = model.score_items(np.array([fs.n_users + 5]))
        assert torch.isfinite(beyond).all(), "out-of-range users are treated as unknown"

    def test_candidates_match_full_catalogue(self, fitted) -> None:
        model, fs, _ = fitted
        users = np.array([1, 5, 9])
        rng = np.random.default_rng(0)
        cands = rng.integers(0, fs.n_items, size=(3, 7))
        full = model.score_items(users).float()
        part = model.score_items(users, cands).float()
        assert tuple(part.shape) == (3, 7)
        expected = torch.gather(full, 1, torch.as_tensor(cands, device=full.device))
        torch.testing.assert_close(part, expected, rtol=1e-4, atol=1e-4)

    def test_empty_slots_score_minus_inf(self, fitted) -> None:
        model, _, _ = fitted
        s = model.score_items(np.array([1, 2]), np.array([[3, -1], [-1, 4]]))
        assert torch.isneginf(s[0, 1]) and torch.isneginf(s[1, 0])
        assert torch.isfinite(s[0, 0]) and torch.isfinite(s[1, 1])

    def test_empty_input(self, fitted) -> None:
        model, fs, _ = fitted
        assert tuple(model.score_items(np.array([], dtype=np.int64)).shape) == (0, fs.n_items)
        assert tuple(model.score_items(np.array([1]), np.zeros((1, 0), dtype=np.int64)).shape) == (1, 0)

    def test_pointwise_score_matches(self, fitted) -> None:
        model, _, _ = fitted
        users, items = np.array([1, 2, 3]), np.array([4, 5, 6])
        full = model.score_items(users).float().cpu().numpy()
        np.testing.assert_allclose(model.score(users, items), full[np.arange(3), items], rtol=1e-4, atol=1e-4)

    def test_save_load_scores_identically(self, fitted, tmp_path) -> None:
        from hybridrec_core.artifacts import load_model, save_model

        model, fs, history = fitted
        path = save_model(model, tmp_path / "m", features=fs, history=history)
        loaded, loaded_history = load_model(path, fs)
        assert type(loaded) is type(model)
        assert loaded.config == model.config
        users = np.arange(0, min(fs.n_users, 12))
        torch.testing.assert_close(loaded.score_items(users).cpu(), model.score_items(users).cpu(), rtol=0, atol=0)
        assert loaded_history.to_dict() == history.to_dict()

    def test_same_seed_same_scores(self) -> None:
        fs = self.features()
        a, _ = self.fit_model(fs, seed=3)
        b, _ = self.fit_model(fs, seed=3)
        users = np.arange(0, 10)
        torch.testing.assert_close(a.score_items(users).cpu(), b.score_items(users).cpu(), rtol=0, atol=0)
