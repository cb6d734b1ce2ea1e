"""artist_diversity: conformance kit plus hand-checked values."""

from __future__ import annotations

import numpy as np

from hybridrec_core.interfaces import EvalInput
from hybridrec_core.testing import MetricTests, toy_feature_set

from hybridrec_artist_cap import ArtistDiversity


class TestArtistDiversityConformance(MetricTests):
    plugin_class = ArtistDiversity


def test_values_by_hand() -> None:
    fs = toy_feature_set()
    artist = fs.item_features.artist
    same = np.flatnonzero(artist == artist[1])[:2]
    other = np.flatnonzero((artist != artist[1]) & (artist > 0))
    other = other[np.unique(artist[other], return_index=True)[1]][:2]
    topk = np.array([
        [same[0], same[1], -1, -1],          # 1 artist / 2 tracks = 0.5
        [other[0], other[1], same[0], -1],   # 3 / 3 = 1.0
        [-1, -1, -1, -1],                    # empty list: not counted
    ])
    res = ArtistDiversity().compute(EvalInput(np.array([1, 2, 3]), 4, fs, topk=topk))
    assert res.values == {"artist_diversity@4": 0.75}
    np.testing.assert_allclose(res.per_user["artist_diversity@4"], [0.5, 1.0, np.nan])
