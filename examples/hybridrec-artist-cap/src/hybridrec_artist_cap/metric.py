"""``artist_diversity``: distinct artists / list length, mean over users."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from hybridrec_core.interfaces import EvalInput, Metric, MetricResult, PluginConfig

from hybridrec_artist_cap._artists import artist_codes


class ArtistDiversity(Metric):
    """Share of distinct artists in each top-k list (1.0 = every track by a different artist),
    averaged over users with a non-empty list. Empty slots (``-1``) do not count towards the
    length; tracks of unknown artist count as distinct artists."""

    name: ClassVar[str] = "artist_diversity"
    description: ClassVar[str] = "Distinct artists / list length in each top-k list, mean over users."
    needs: ClassVar[str] = "ranking"

    class Config(PluginConfig):
        pass

    def compute(self, data: EvalInput) -> MetricResult:
        key = f"artist_diversity@{data.k}"
        topk = np.asarray(data.topk)[:, : data.k]
        fs = data.features
        codes = artist_codes(topk, fs.item_features.artist, fs.n_artists)
        srt = np.sort(codes, axis=1)  # -1 (empty) sorts first
        new = np.ones_like(srt, dtype=bool)
        new[:, 1:] = srt[:, 1:] != srt[:, :-1]
        distinct = (new & (srt >= 0)).sum(axis=1)
        length = (codes >= 0).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            per_user = np.where(length > 0, distinct / np.maximum(length, 1), np.nan)
        value = float(np.nanmean(per_user)) if np.isfinite(per_user).any() else 0.0
        return MetricResult({key: value}, per_user={key: per_user})
