"""``standard_scaler``: impute (train median/mean) + standardize (train mean/std) + missing flags."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field
from sklearn.preprocessing import StandardScaler

from hybridrec_core.interfaces import PluginConfig
from hybridrec_core.state import State
from hybridrec_plugins.encoders._base import BaseEncoder, HybridrecError


class StandardScalerEncoder(BaseEncoder):
    """Numeric columns -> (scaled float32 with imputed values, float32 missing indicators)."""

    name = "standard_scaler"
    role = "numeric"
    description = "scikit-learn StandardScaler fitted on training rows, with imputation and missing indicators."

    class Config(PluginConfig):
        impute: Literal["median", "mean"] = Field("median", description="Training statistic that fills missing values.")
        clip: float = Field(10.0, gt=0, le=1e6, description="Scaled values are clipped to [-clip, clip].")

    def fit(self, data: Any) -> "StandardScalerEncoder":
        x, self._columns = _matrix(data)
        x = np.where(np.isfinite(x), x, np.nan)
        d = x.shape[1]
        with np.errstate(all="ignore"), _quiet():  # all-missing columns warn; they fall back to 0 / 1
            scaler = StandardScaler().fit(x) if x.shape[0] else None  # sklearn ignores NaN when fitting
            mean = np.nan_to_num(scaler.mean_, nan=0.0) if scaler is not None else np.zeros(d)
            scale = np.nan_to_num(scaler.scale_, nan=1.0) if scaler is not None else np.ones(d)
            fill = np.nanmedian(x, axis=0) if self.config.impute == "median" else np.nanmean(x, axis=0)
        fill = np.where(np.isfinite(fill), fill, mean) if x.shape[0] else mean
        self._mean, self._scale, self._fill = mean.astype(np.float64), np.where(scale > 0, scale, 1.0), fill.astype(np.float64)
        return self._done()

    def transform(self, data: Any) -> tuple[np.ndarray, np.ndarray]:
        self._check()
        x, cols = _matrix(data)
        if self._columns and cols and cols != self._columns:
            raise HybridrecError(f"standard_scaler was fitted on columns {self._columns}, got {cols}")
        if x.shape[1] != self._mean.shape[0]:
            raise HybridrecError(f"standard_scaler expects {self._mean.shape[0]} columns, got {x.shape[1]}")
        missing = ~np.isfinite(x)
        filled = np.where(missing, self._fill, x)
        scaled = np.clip((filled - self._mean) / self._scale, -self.config.clip, self.config.clip)
        return scaled.astype(np.float32), missing.astype(np.float32)

    def _meta(self) -> dict[str, Any]:
        return {"columns": list(self._columns)}

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"mean": self._mean, "scale": self._scale, "fill": self._fill}

    def _load(self, state: State) -> None:
        self._columns = list(state.meta.get("columns", []))
        self._mean = np.asarray(state.arrays["mean"], np.float64)
        self._scale = np.asarray(state.arrays["scale"], np.float64)
        self._fill = np.asarray(state.arrays["fill"], np.float64)


def _matrix(data: Any) -> tuple[np.ndarray, list[str]]:
    if isinstance(data, pd.DataFrame):
        return data.to_numpy(dtype=np.float64, na_value=np.nan), [str(c) for c in data.columns]
    x = np.asarray(data, dtype=np.float64)
    return (x.reshape(-1, 1) if x.ndim == 1 else x), []


class _quiet:
    """Silence numpy's 'All-NaN slice' warnings (an all-missing column falls back to the mean)."""

    def __enter__(self) -> None:
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc: Any) -> None:
        self._w.__exit__(*exc)
