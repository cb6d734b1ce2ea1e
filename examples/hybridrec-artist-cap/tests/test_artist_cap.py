"""artist_cap: conformance kit plus the rule itself."""

from __future__ import annotations

import numpy as np
import pytest

from hybridrec_core.interfaces import Candidates, RerankContext
from hybridrec_core.testing import RerankerTests, toy_feature_set, toy_pool

from hybridrec_artist_cap import ArtistCap


class TestArtistCapConformance(RerankerTests):
    plugin_class = ArtistCap
    example_params = {"max_per_artist": 1}


def _artist_counts(items: np.ndarray, item_artist: np.ndarray) -> np.ndarray:
    """Largest number of tracks by one (known) artist per row."""
    out = []
    for row in items:
        artists = item_artist[row[row >= 0]]
        artists = artists[artists > 0]
        out.append(np.bincount(artists).max(initial=0))
    return np.array(out)


@pytest.mark.parametrize("cap", [1, 2, 3])
def test_cap_holds_whenever_the_pool_allows(cap: int) -> None:
    fs = toy_feature_set()
    pool = toy_pool(fs, pool=30)
    out = ArtistCap({"max_per_artist": cap, "strict": True}).rerank(pool, 10, RerankContext(fs))
    assert (_artist_counts(out.items, fs.item_features.artist) <= cap).all()
    # strict lists are as long as the pool's capped supply allows
    supply = [
        sum(min(cap, c) for c in np.bincount(fs.item_features.artist[r[r > 0]])[1:])
        + int((fs.item_features.artist[r[r > 0]] == 0).sum())
        for r in pool.items
    ]
    np.testing.assert_array_equal((out.items >= 0).sum(axis=1), np.minimum(supply, 10))


def test_keeps_model_order_and_scores() -> None:
    fs = toy_feature_set()
    artist = fs.item_features.artist
    a = np.flatnonzero(artist == artist[1])[:2]
    others = np.flatnonzero((artist != artist[1]) & (artist > 0))
    b = others[np.unique(artist[others], return_index=True)[1]][:3]  # three different artists
    items = np.array([[a[0], a[1], b[0], b[1], b[2]]])
    scores = np.array([[5.0, 4.0, 3.0, 2.0, 1.0]], dtype=np.float32)
    out = ArtistCap({"max_per_artist": 1}).rerank(Candidates(np.array([1]), items, scores), 4, RerankContext(fs))
    # a[1] (same artist as a[0]) is capped out; the next artists move up in model order
    assert out.items[0].tolist() == [a[0], b[0], b[1], b[2]]
    assert out.scores[0].tolist() == [5.0, 3.0, 2.0, 1.0]


def test_relaxes_rather_than_shortens_by_default() -> None:
    fs = toy_feature_set()
    same = np.flatnonzero(fs.item_features.artist == fs.item_features.artist[1])[:3]
    pool = Candidates(np.array([1]), same[None, :], np.array([[3.0, 2.0, 1.0]], dtype=np.float32))
    relaxed = ArtistCap({"max_per_artist": 1}).rerank(pool, 3, RerankContext(fs))
    strict = ArtistCap({"max_per_artist": 1, "strict": True}).rerank(pool, 3, RerankContext(fs))
    assert relaxed.items[0].tolist() == same.tolist()
    assert strict.items[0].tolist() == [same[0], -1, -1]
