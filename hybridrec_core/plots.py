"""Evaluation plots (matplotlib, Agg backend): one PNG per figure, titled and labelled.

Every function draws one figure into ``path`` and returns it. The regression target is the
normalized interaction strength (log-scaled plays mapped to [0, 1]), so its axes say so.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

from hybridrec_core.interfaces import TrainingHistory  # noqa: E402

if TYPE_CHECKING:
    from hybridrec_core.evaluation import EvaluationResult

TARGET_LABEL = "normalized play strength (0-1)"
DPI = 110
_NOT_VALIDATION = {"epoch", "loss", "lr", "seconds"}


def metric_unit(metric: str) -> str:
    """Axis label with the metric's unit."""
    if metric.startswith("novelty"):
        return f"{metric} (bits)"
    if metric.startswith("avg_popularity"):
        return f"{metric} (training interactions)"
    if metric in {"rmse", "mae"}:
        return f"{metric} (strength units, 0-1 scale)"
    if metric == "r2":
        return "r2 (1 = perfect, 0 = mean predictor)"
    return f"{metric} (0-1)"


def _save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def training_curves(model: str, history: TrainingHistory, path: Path) -> Path | None:
    """Loss, validation metric(s) and learning rate per epoch; None when there are no epochs."""
    if not history.epochs:
        return None
    epochs = [r.get("epoch", i + 1) for i, r in enumerate(history.epochs)]
    val_keys = sorted({k for r in history.epochs for k in r if k not in _NOT_VALIDATION})
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    axes[0].plot(epochs, [r.get("loss", math.nan) for r in history.epochs], marker=".", color="C0")
    axes[0].set(title=f"{model}: training loss", xlabel="epoch", ylabel="mean training loss per example")
    for i, key in enumerate(val_keys):
        axes[1].plot(epochs, [r.get(key, math.nan) for r in history.epochs], marker=".", color=f"C{i + 1}", label=key)
    if history.best_epoch is not None:
        axes[1].axvline(history.best_epoch, color="grey", ls="--", lw=1, label=f"best epoch {history.best_epoch}")
    axes[1].set(title=f"{model}: validation ({history.monitor or 'metric'})", xlabel="epoch", ylabel="validation value")
    if val_keys or history.best_epoch is not None:
        axes[1].legend(fontsize=8)
    axes[2].plot(epochs, [r.get("lr", math.nan) for r in history.epochs], marker=".", color="C5")
    axes[2].set(title=f"{model}: learning rate", xlabel="epoch", ylabel="learning rate")
    if any(r.get("lr", 0) > 0 for r in history.epochs):
        axes[2].set_yscale("log")
    for ax in axes:
        ax.grid(alpha=0.3)
    return _save(fig, path)


def predicted_vs_actual(model: str, pred: np.ndarray, target: np.ndarray, path: Path) -> Path:
    """Density (hexbin) of predicted against actual strength, with the y = x line."""
    fig, ax = plt.subplots(figsize=(5.5, 4.8))
    hb = ax.hexbin(target, pred, gridsize=35, cmap="viridis", mincnt=1, bins="log")
    fig.colorbar(hb, ax=ax, label="held-out pairs per cell (log)")
    lo, hi = float(min(target.min(), pred.min())), float(max(target.max(), pred.max()))
    ax.plot([lo, hi], [lo, hi], color="red", lw=1, label="perfect prediction")
    ax.set(title=f"{model}: predicted vs actual (n={pred.size})", xlabel=f"actual {TARGET_LABEL}",
           ylabel=f"predicted {TARGET_LABEL}")
    ax.legend(loc="upper left", fontsize=8)
    return _save(fig, path)


def error_distribution(model: str, pred: np.ndarray, target: np.ndarray, path: Path) -> Path:
    """Histogram of residuals (predicted - actual) with mean and standard deviation."""
    resid = pred - target
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.hist(resid, bins=50, color="C0", alpha=0.8)
    ax.axvline(0, color="black", lw=1)
    ax.axvline(resid.mean(), color="red", ls="--", lw=1, label=f"mean {resid.mean():+.3f}, sd {resid.std():.3f}")
    ax.set(title=f"{model}: error distribution", xlabel="residual: predicted - actual (strength units)",
           ylabel="held-out pairs")
    ax.legend(fontsize=8)
    return _save(fig, path)


def residual_qq(model: str, pred: np.ndarray, target: np.ndarray, path: Path) -> Path:
    """Normal Q-Q plot of residuals (scipy.stats.probplot): tails show where errors are not Gaussian."""
    fig, ax = plt.subplots(figsize=(5, 4.5))
    stats.probplot(pred - target, dist="norm", plot=ax)
    ax.set(title=f"{model}: Q-Q plot of residuals", xlabel="theoretical normal quantiles",
           ylabel="ordered residuals (strength units)")
    return _save(fig, path)


def residuals_vs_predicted(model: str, pred: np.ndarray, target: np.ndarray, path: Path) -> Path:
    """Residual against prediction (hexbin): a trend or funnel means biased or heteroscedastic errors."""
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    hb = ax.hexbin(pred, pred - target, gridsize=35, cmap="magma", mincnt=1, bins="log")
    fig.colorbar(hb, ax=ax, label="held-out pairs per cell (log)")
    ax.axhline(0, color="cyan", lw=1)
    ax.set(title=f"{model}: residuals vs predicted", xlabel=f"predicted {TARGET_LABEL}",
           ylabel="residual: predicted - actual")
    return _save(fig, path)


def _grouped_bars(ax: plt.Axes, groups: list[str], series: dict[str, list[float]]) -> None:
    width = 0.8 / max(len(series), 1)
    x = np.arange(len(groups))
    for i, (label, vals) in enumerate(series.items()):
        bars = ax.bar(x + (i - (len(series) - 1) / 2) * width, np.nan_to_num(vals), width, label=label)
        ax.bar_label(bars, labels=["n/a" if not np.isfinite(v) else f"{v:.3g}" for v in vals], fontsize=7)
    ax.set_xticks(x, groups, rotation=15)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)


def metric_by_segment(result: "EvaluationResult", metric: str, segments: list[str], path: Path) -> Path:
    """One metric per cold-start segment (history buckets, cold users, cold tracks), models side by side."""
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(segments) + 2), 4.2))
    series = {
        m: [result.values[m].get(s, {}).get(metric, math.nan) for s in segments] for m in result.models
    }
    _grouped_bars(ax, [f"{s}\n(n={result.segments.get(s, {}).get('n_users', '?')} users)" for s in segments], series)
    ax.set(title=f"{metric} by cold-start segment", xlabel="segment", ylabel=metric_unit(metric))
    return _save(fig, path)


def models_side_by_side(result: "EvaluationResult", metrics: list[str], path: Path, segment: str = "overall") -> Path:
    """Key metrics of every model on one segment, one panel per metric (scales differ)."""
    n = len(metrics)
    cols = min(n, 4)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.2 * rows), squeeze=False)
    for ax, metric in zip(axes.ravel(), metrics):
        vals = [result.values[m].get(segment, {}).get(metric, math.nan) for m in result.models]
        bars = ax.bar(range(len(vals)), np.nan_to_num(vals), color=[f"C{i}" for i in range(len(vals))])
        ax.bar_label(bars, labels=["n/a" if not np.isfinite(v) else f"{v:.3g}" for v in vals], fontsize=7)
        ax.set_xticks(range(len(vals)), result.models, rotation=30, ha="right", fontsize=8)
        ax.set(title=metric, ylabel=metric_unit(metric))
        ax.grid(axis="y", alpha=0.3)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    fig.suptitle(f"Models side by side ({segment}, split {result.protocol.get('split')}, k={result.protocol.get('k')})")
    return _save(fig, path)
