"""``id_index``: external ids -> dense indices, index 0 reserved for unknown ids."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from hybridrec_core.dataset import UNKNOWN_INDEX, UNKNOWN_TOKEN, Vocab
from hybridrec_core.interfaces import PluginConfig
from hybridrec_core.state import State
from hybridrec_plugins.encoders._base import BaseEncoder


class IdIndexEncoder(BaseEncoder):
    """Vocabulary of string ids (sorted or first-seen order); unseen ids map to index 0."""

    name = "id_index"
    role = "ids"
    description = "Id -> dense index with index 0 reserved for unknown users/tracks/artists."

    class Config(PluginConfig):
        order: Literal["sorted", "first_seen"] = Field(
            "sorted", description="Index order: sorted ids (stable across runs) or order of first appearance."
        )

    def fit(self, data: Any) -> "IdIndexEncoder":
        ids = pd.Series(np.asarray(data, dtype=object).reshape(-1)).dropna().astype(str)
        uniq = ids.drop_duplicates()
        if self.config.order == "sorted":
            uniq = uniq.sort_values(kind="stable")
        uniq = uniq[uniq != UNKNOWN_TOKEN]
        self._ids = np.concatenate([np.array([UNKNOWN_TOKEN], dtype=object), uniq.to_numpy(dtype=object)])
        self._index = pd.Index(self._ids)
        return self._done()

    def transform(self, data: Any) -> np.ndarray:
        """int64 indices; None / unknown ids -> 0 (vectorized hash lookup)."""
        self._check()
        vals = pd.Series(np.asarray(data, dtype=object).reshape(-1)).astype(object)
        idx = self._index.get_indexer(vals.where(vals.isna(), vals.astype(str)))
        idx[idx < 0] = UNKNOWN_INDEX
        return idx.astype(np.int64)

    @property
    def vocab(self) -> Vocab:
        self._check()
        return Vocab(self._ids)

    def _meta(self) -> dict[str, Any]:
        return {"ids": self._ids.tolist()}

    def _load(self, state: State) -> None:
        self._ids = np.array(state.meta["ids"], dtype=object)
        self._index = pd.Index(self._ids)
