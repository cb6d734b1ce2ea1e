"""``temporal``: hour of day, weekday and recency (days before the last training interaction)."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from hybridrec_core.interfaces import PluginConfig
from hybridrec_core.state import State
from hybridrec_plugins.encoders._base import BaseEncoder


class TemporalEncoder(BaseEncoder):
    """Epoch seconds -> {hour, weekday (Mon=0), recency_days}. The reference time is the latest
    *training* timestamp, so no later (test) time leaks in. Without timestamps it returns None."""

    name = "temporal"
    role = "temporal"
    description = "Hour, weekday and recency features from interaction timestamps (when they exist)."

    class Config(PluginConfig):
        utc_offset_hours: int = Field(0, ge=-12, le=14, description="Local time offset applied before hour/weekday.")

    def fit(self, data: Any) -> "TemporalEncoder":
        ts = None if data is None else np.asarray(data, dtype=np.float64).reshape(-1)
        ts = None if ts is None else ts[np.isfinite(ts)]
        self._reference = float(ts.max()) if ts is not None and ts.size else None
        return self._done()

    def transform(self, data: Any) -> dict[str, np.ndarray] | None:
        self._check()
        if data is None or self._reference is None:
            return None
        ts = np.asarray(data, dtype=np.int64).reshape(-1)
        local = ts + 3600 * self.config.utc_offset_hours
        return {
            "hour": ((local // 3600) % 24).astype(np.int8),
            "weekday": (((local // 86_400) + 3) % 7).astype(np.int8),  # 1970-01-01 was a Thursday
            "recency_days": np.maximum(0.0, (self._reference - ts) / 86_400.0).astype(np.float32),
        }

    @property
    def reference(self) -> float | None:
        return self._reference

    def _meta(self) -> dict[str, Any]:
        return {"reference": self._reference}

    def _load(self, state: State) -> None:
        self._reference = state.meta.get("reference")
