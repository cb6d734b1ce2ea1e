"""``multi_hot_genres``: genre strings -> normalized tokens -> CSR multi-hot rows."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from hybridrec_core.dataset import UNKNOWN_TOKEN
from hybridrec_core.interfaces import PluginConfig
from hybridrec_core.state import State
from hybridrec_plugins.encoders._base import BaseEncoder


class MultiHotGenres(BaseEncoder):
    """Splits on the separators, NFKC + casefold, '-'/'_' -> space, drops placeholder tokens,
    keeps tokens seen on at least ``min_count`` training tracks. Index 0 is never used."""

    name = "multi_hot_genres"
    role = "genres"
    description = "Genre tokenization + normalization into a multi-hot vocabulary (min count on training tracks)."

    class Config(PluginConfig):
        separators: str = Field(",|;/", min_length=1, max_length=16, description="Characters that split genre strings.")
        min_count: int = Field(1, ge=1, le=1_000_000, description="Keep tokens on at least this many training tracks.")
        max_genres: int = Field(2000, ge=1, le=100_000, description="Keep at most this many most frequent tokens.")
        drop_tokens: list[str] = Field(
            default_factory=lambda: ["set()", "(no genres listed)", "unknown", "none", "nan"],
            description="Placeholder tokens (after normalization) that mean 'no genre'.",
        )

        @field_validator("separators")
        @classmethod
        def _no_space(cls, v: str) -> str:
            if any(ch.isspace() or ch.isalnum() for ch in v):
                raise ValueError("separators must be punctuation characters")
            return v

    def tokenize(self, data: Any) -> tuple[np.ndarray, np.ndarray]:
        """(row index, normalized token) pairs, one per distinct token of each row."""
        s = pd.Series(np.asarray(data, dtype=object).reshape(-1), dtype=object)
        s = s[s.notna()].astype(str)
        pattern = "[" + re.escape(self.config.separators) + "]"
        tok = s.str.normalize("NFKC").str.casefold().str.split(pattern, regex=True).explode()
        tok = tok.str.replace(r"[-_]", " ", regex=True).str.replace(r"\s+", " ", regex=True).str.strip()
        drop = {t.casefold() for t in self.config.drop_tokens} | {"", UNKNOWN_TOKEN}
        tok = tok[tok.notna() & ~tok.isin(drop)]
        pairs = pd.DataFrame({"row": tok.index.to_numpy(dtype=np.int64), "tok": tok.to_numpy(dtype=object)})
        pairs = pairs.drop_duplicates()
        return pairs["row"].to_numpy(np.int64), pairs["tok"].to_numpy(object)

    def fit(self, data: Any) -> "MultiHotGenres":
        _, toks = self.tokenize(data)
        counts = pd.Series(toks, dtype=object).value_counts()
        counts = counts[counts >= self.config.min_count]
        # most frequent first, ties by name; then the kept vocabulary is sorted by name
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: self.config.max_genres]
        self._vocab = np.array([UNKNOWN_TOKEN] + sorted(k for k, _ in ranked), dtype=object)
        self._index = pd.Index(self._vocab)
        return self._done()

    def transform(self, data: Any) -> tuple[np.ndarray, np.ndarray]:
        """CSR (indptr, indices) over the input rows; unknown tokens are dropped."""
        self._check()
        n = np.asarray(data, dtype=object).reshape(-1).shape[0]
        rows, toks = self.tokenize(data)
        idx = self._index.get_indexer(toks)
        keep = idx > 0
        rows, idx = rows[keep], idx[keep].astype(np.int64)
        order = np.lexsort((idx, rows))
        rows, idx = rows[order], idx[order]
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
        return indptr, idx

    @property
    def vocab(self) -> np.ndarray:
        self._check()
        return self._vocab

    def _meta(self) -> dict[str, Any]:
        return {"vocab": self._vocab.tolist()}

    def _load(self, state: State) -> None:
        self._vocab = np.array(state.meta["vocab"], dtype=object)
        self._index = pd.Index(self._vocab)
