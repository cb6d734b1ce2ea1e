"""Beyond-accuracy metrics on hand-picked lists."""

from __future__ import annotations

import numpy as np
import pytest

from hybridrec_core.testing import MetricTests
from hybridrec_plugins.metrics.beyond_accuracy import BeyondAccuracyMetrics, feature_vectors


class TestBeyondAccuracyConformance(MetricTests):
    plugin_class = BeyondAccuracyMetrics


def test_diversity_from_given_vectors(make_input) -> None:
    data = make_input([[1, 2, 3], [1, -1, -1]], {}, k=3)
    vec = np.zeros((data.features.n_items, 2), np.float32)
    vec[1], vec[2], vec[3] = [1, 0], [0, 1], [1, 1]
    data.item_vectors = vec
    res = BeyondAccuracyMetrics({"vectors": "auto"}).compute(data)
    d = 1 - 1 / np.sqrt(2)
    assert res.per_user["diversity@3"][0] == pytest.approx((1 + 2 * d) / 3)
    assert np.isnan(res.per_user["diversity@3"][1])  # one item: no pairs
    assert res.values["diversity@3"] == pytest.approx((1 + 2 * d) / 3)


def test_coverage_popularity_novelty_explicit(make_input) -> None:
    data = make_input([[1, 2, 3], [3, 4, -1]], {}, k=3)
    fs = data.features
    res = BeyondAccuracyMetrics().compute(data)
    pop = np.bincount(fs.train.item, minlength=fs.n_items).astype(float)
    n_train_users = fs.train_user_mask.sum()
    info = -np.log2((pop + 1) / (n_train_users + 1))
    expl = fs.item_features.binary[:, 0]
    lists = [[1, 2, 3], [3, 4]]
    assert res.values["coverage@3"] == pytest.approx(4 / (fs.n_items - 1))
    assert res.values["avg_popularity@3"] == pytest.approx(np.mean([pop[l].mean() for l in lists]))
    assert res.values["novelty@3"] == pytest.approx(np.mean([info[l].mean() for l in lists]))
    assert res.values["explicit_share@3"] == pytest.approx(np.mean([expl[l].mean() for l in lists]))


def test_genre_coverage_counts_catalogue_genres(make_input) -> None:
    data = make_input([[1, 2]], {}, k=2)
    f = data.features.item_features
    genres_of = {i: set(f.genre_indices[f.genre_indptr[i]:f.genre_indptr[i + 1]]) for i in (1, 2)}
    catalogue = set(f.genre_indices[f.genre_indptr[1]:])
    res = BeyondAccuracyMetrics().compute(data)
    assert res.values["genre_coverage@2"] == pytest.approx(len(genres_of[1] | genres_of[2]) / len(catalogue))


def test_feature_vectors_put_same_genre_items_closer(make_input) -> None:
    fs = make_input([[1]], {}, k=1).features
    v = feature_vectors(fs)
    assert np.allclose(np.linalg.norm(v[1:], axis=1), 1.0)
    cluster = np.array(fs.metadata["item_cluster"])
    same = [(i, j) for i in range(1, 20) for j in range(i + 1, 20) if cluster[i] == cluster[j]]
    diff = [(i, j) for i in range(1, 20) for j in range(i + 1, 20) if cluster[i] != cluster[j]]
    sim = v @ v.T
    assert np.mean([sim[p] for p in same]) > np.mean([sim[p] for p in diff]) + 0.3


def test_default_uses_features_even_when_embeddings_exist(make_input) -> None:
    data = make_input([[1, 2, 3]], {}, k=3)
    plain = BeyondAccuracyMetrics().compute(data).values["diversity@3"]
    data.item_vectors = np.ones((data.features.n_items, 4), np.float32)  # all identical: auto gives 0
    assert BeyondAccuracyMetrics().compute(data).values["diversity@3"] == pytest.approx(plain)
    assert BeyondAccuracyMetrics({"vectors": "auto"}).compute(data).values["diversity@3"] == pytest.approx(0.0, abs=1e-6)


def test_embeddings_required_but_missing_is_named(make_input) -> None:
    data = make_input([[1, 2]], {}, k=2)
    with pytest.raises(ValueError, match="beyond_accuracy.*embeddings"):
        BeyondAccuracyMetrics({"vectors": "embeddings"}).compute(data)
