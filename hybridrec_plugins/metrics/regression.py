"""Pointwise regression metrics on the normalized play-count target, as in the reference design.

Computed over every held-out (user, track) pair of the evaluated users, only for models whose
predictions live on the target scale (``Model.predicts_target``). sklearn does the arithmetic.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from hybridrec_core.interfaces import EvalInput, Metric, MetricResult, PluginConfig


def require_pointwise(data: EvalInput, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """``(predictions, targets)`` as float64 or a clear error naming the metric plugin."""
    if data.predictions is None or data.targets is None:
        raise ValueError(f"metric plugin {metric!r} needs EvalInput.predictions and EvalInput.targets")
    pred = np.asarray(data.predictions, dtype=np.float64).ravel()
    target = np.asarray(data.targets, dtype=np.float64).ravel()
    if pred.shape != target.shape:
        raise ValueError(f"metric plugin {metric!r}: {pred.size} predictions but {target.size} targets")
    if not np.isfinite(pred).all():
        raise ValueError(f"metric plugin {metric!r}: {int((~np.isfinite(pred)).sum())} predictions are not finite")
    return pred, target


class RegressionMetrics(Metric):
    """RMSE, MAE and R² between predicted and actual normalized interaction strength."""

    name = "regression"
    description = "RMSE, MAE and R2 on the normalized play-count target (pointwise, target-scale models)."
    needs = "pointwise"
    requires_target_scale = True  # read by the evaluation engine: skip models that rank only

    class Config(PluginConfig):
        clip_predictions: bool = Field(
            False, description="Clip predictions to the target range [0, 1] before scoring."
        )

    def compute(self, data: EvalInput) -> MetricResult:
        pred, target = require_pointwise(data, self.name)
        if pred.size == 0:
            return MetricResult({"rmse": float("nan"), "mae": float("nan"), "r2": float("nan")})
        if self.config.clip_predictions:
            pred = np.clip(pred, 0.0, 1.0)
        r2 = float(r2_score(target, pred)) if pred.size >= 2 else float("nan")
        return MetricResult(
            {
                "rmse": float(np.sqrt(mean_squared_error(target, pred))),
                "mae": float(mean_absolute_error(target, pred)),
                "r2": r2,
            }
        )
