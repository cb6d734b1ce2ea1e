"""``log_strength``: play counts -> interaction strength in [0, 1] (the regression target)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from hybridrec_core.interfaces import PluginConfig
from hybridrec_core.state import State
from hybridrec_plugins.encoders._base import BaseEncoder


class LogStrength(BaseEncoder):
    """``log1p(plays)`` scaled to [0, 1] with training min/max (``minmax``), or with each user's
    own training min/max (``per_user``; users without a usable training range fall back to the
    global scaling). Values outside the training range are clipped."""

    name = "log_strength"
    role = "strength"
    description = "log1p(plays) with min-max (global or per-user) scaling fitted on the training split."

    class Config(PluginConfig):
        scaling: Literal["minmax", "per_user"] = Field("minmax", description="Global or per-user min-max scaling.")

    def fit(self, data: Any, users: np.ndarray | None = None) -> "LogStrength":
        x = np.log1p(np.maximum(np.asarray(data, dtype=np.float64).reshape(-1), 0.0))
        self._lo = float(x.min()) if x.size else 0.0
        self._hi = float(x.max()) if x.size else 1.0
        self._user_lo = self._user_hi = np.zeros(0, np.float64)
        if self.config.scaling == "per_user" and users is not None and x.size:
            u = np.asarray(users, dtype=np.int64).reshape(-1)
            n = int(u.max()) + 1
            lo = np.full(n, np.inf)
            hi = np.full(n, -np.inf)
            np.minimum.at(lo, u, x)
            np.maximum.at(hi, u, x)
            self._user_lo, self._user_hi = lo, hi
        return self._done()

    def transform(self, data: Any, users: np.ndarray | None = None) -> np.ndarray:
        self._check()
        x = np.log1p(np.maximum(np.asarray(data, dtype=np.float64).reshape(-1), 0.0))
        lo = np.full(x.shape, self._lo)
        hi = np.full(x.shape, self._hi)
        if self.config.scaling == "per_user" and users is not None and self._user_lo.size:
            u = np.asarray(users, dtype=np.int64).reshape(-1)
            known = (u >= 0) & (u < self._user_lo.size)
            ulo = np.where(known, self._user_lo[np.where(known, u, 0)], np.inf)
            uhi = np.where(known, self._user_hi[np.where(known, u, 0)], -np.inf)
            own = uhi > ulo
            lo, hi = np.where(own, ulo, lo), np.where(own, uhi, hi)
        span = np.where(hi > lo, hi - lo, 1.0)
        return np.clip((x - lo) / span, 0.0, 1.0).astype(np.float32)

    def _meta(self) -> dict[str, Any]:
        return {"min": self._lo, "max": self._hi}

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"user_min": self._user_lo, "user_max": self._user_hi}

    def _load(self, state: State) -> None:
        self._lo, self._hi = float(state.meta["min"]), float(state.meta["max"])
        self._user_lo = np.asarray(state.arrays.get("user_min", np.zeros(0)), np.float64)
        self._user_hi = np.asarray(state.arrays.get("user_max", np.zeros(0)), np.float64)
