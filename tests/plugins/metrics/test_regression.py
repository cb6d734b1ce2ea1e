"""Regression metrics: hand-computed values, sklearn agreement, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from hybridrec_core.interfaces import EvalInput
from hybridrec_core.testing import MetricTests, toy_feature_set
from hybridrec_plugins.metrics.regression import RegressionMetrics


class TestRegressionConformance(MetricTests):
    plugin_class = RegressionMetrics


def _pairs(pred: list[float], target: list[float]) -> EvalInput:
    n = len(pred)
    return EvalInput(users=np.arange(1, 2), k=1, features=toy_feature_set(n_users=10, n_items=30),
                     predictions=np.array(pred), targets=np.array(target), pair_users=np.zeros(n, np.int64))


def test_hand_computed() -> None:
    res = RegressionMetrics().compute(_pairs([0.5, 0.0], [1.0, 0.0])).values
    assert res["rmse"] == pytest.approx(np.sqrt(0.125))
    assert res["mae"] == pytest.approx(0.25)
    assert res["r2"] == pytest.approx(1 - 0.25 / 0.5)


def test_perfect_and_clipping() -> None:
    assert RegressionMetrics().compute(_pairs([0.2, 0.8], [0.2, 0.8])).values["rmse"] == 0.0
    clipped = RegressionMetrics({"clip_predictions": True}).compute(_pairs([1.5, -1.0], [1.0, 0.0]))
    assert clipped.values["mae"] == 0.0


def test_no_pairs_gives_nan_and_bad_input_is_named() -> None:
    assert np.isnan(RegressionMetrics().compute(_pairs([], [])).values["rmse"])
    with pytest.raises(ValueError, match="regression.*not finite"):
        RegressionMetrics().compute(_pairs([np.nan, 0.1], [0.0, 0.1]))
    with pytest.raises(ValueError, match="regression.*2 predictions but 1 targets"):
        RegressionMetrics().compute(_pairs([0.1, 0.2], [0.1]))
