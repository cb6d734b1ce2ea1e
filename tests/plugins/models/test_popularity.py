import numpy as np

from hybridrec_core.interfaces import FitContext
from hybridrec_core.testing import ModelTests, toy_feature_set
from hybridrec_plugins.models.popularity import Popularity


class TestPopularity(ModelTests):
    plugin_class = Popularity


def test_popularity_ranks_by_training_count() -> None:
    fs = toy_feature_set()
    model = Popularity()
    model.fit(fs, FitContext())
    scores = model.score_items(np.array([1, 2])).numpy()
    counts = np.bincount(fs.train.item, minlength=fs.n_items)
    assert np.array_equal(scores[0], scores[1]), "popularity is the same for every user"
    assert np.array_equal(np.argsort(-scores[0], kind="stable"), np.argsort(-counts, kind="stable"))


def test_plays_weighting_uses_play_counts() -> None:
    fs = toy_feature_set()
    model = Popularity({"weighting": "plays"})
    model.fit(fs, FitContext())
    sums = np.bincount(fs.train.item, weights=fs.train.plays, minlength=fs.n_items)
    np.testing.assert_allclose(model.score_items(np.array([1])).numpy()[0], np.log1p(sums), rtol=1e-6)
