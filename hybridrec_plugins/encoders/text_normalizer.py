"""``text_normalizer``: canonical form of artist names and titles (vectorized pandas str ops)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from hybridrec_core.interfaces import PluginConfig
from hybridrec_core.state import State
from hybridrec_plugins.encoders._base import BaseEncoder


class TextNormalizer(BaseEncoder):
    """Unicode NFKC, casefold, punctuation stripped, whitespace collapsed; None stays None.

    Stateless (nothing to learn) but a fitted encoder like the others, so pipelines treat every
    role alike. The feature engine keys artists without an id by their normalized name.
    """

    name = "text_normalizer"
    role = "text"
    description = "NFKC + casefold + strip punctuation + collapse spaces for artist names and titles."

    class Config(PluginConfig):
        strip_punctuation: bool = Field(True, description="Replace punctuation and symbols by spaces.")
        strip_accents: bool = Field(False, description="Also drop combining accents (café -> cafe).")

    def fit(self, data: Any = None) -> "TextNormalizer":
        return self._done()

    def transform(self, data: Any) -> np.ndarray:
        self._check()
        s = pd.Series(np.asarray(data, dtype=object).reshape(-1), dtype=object)
        present = s.notna()
        t = s[present].astype(str).str.normalize("NFKC").str.casefold()
        if self.config.strip_accents:
            t = t.str.normalize("NFKD").str.replace(r"[\u0300-\u036f]", "", regex=True)
        if self.config.strip_punctuation:
            t = t.str.replace(r"[^\w\s]|_", " ", regex=True)
        t = t.str.replace(r"\s+", " ", regex=True).str.strip()
        out = np.full(len(s), None, dtype=object)
        out[present.to_numpy()] = t.where(t != "", None).to_numpy(dtype=object)
        return out

    def _load(self, state: State) -> None:
        pass
