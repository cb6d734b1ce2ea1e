"""genre_balance: caps each genre's share of the list; effect measured against the model's lists."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from hybridrec_core.errors import PluginConfigError, PluginError
from hybridrec_core.interfaces import Candidates, RerankContext
from hybridrec_core.testing import RerankerTests
from hybridrec_plugins.rerankers.genre_balance import GenreBalance

K = 10  # list length (the pool fixture holds 50 candidates)


def head(pool, k: int = K) -> np.ndarray:
    """The un-reranked top-k lists (what the model alone would recommend)."""
    return pool.items[:, :k]


def genre_counts(fs, items: np.ndarray) -> np.ndarray:
    """(B, n_genres) genre counts per list (toy tracks carry exactly one genre)."""
    g = fs.item_features.genre_indices[np.clip(items, 0, None)]
    counts = np.zeros((items.shape[0], fs.n_genres), dtype=np.int64)
    np.add.at(counts, (np.repeat(np.arange(items.shape[0]), items.shape[1]), g.ravel()), (items >= 0).ravel())
    return counts


class TestGenreBalanceConformance(RerankerTests):
    plugin_class = GenreBalance
    example_params = {"max_share": 0.3}


def test_caps_the_largest_genre_share(toy, pool) -> None:
    before = genre_counts(toy, head(pool)).max(axis=1) / K
    out = GenreBalance({"max_share": 0.3}).rerank(pool, K, RerankContext(toy))
    after = genre_counts(toy, out.items).max(axis=1) / K
    assert before.mean() > 0.35, "the personalized lists lean on one genre before balancing (4 genres: 0.25 even)"
    assert (before > 0.3).mean() > 0.5
    # The cap is reachable when the pool holds K tracks within 3 per genre; elsewhere it relaxes
    # (test_relaxes_rather_than_shortening) instead of returning a short list.
    feasible = np.minimum(genre_counts(toy, pool.items), int(0.3 * K)).sum(axis=1) >= K
    assert feasible.mean() > 0.8
    assert (after[feasible] <= 0.3 + 1e-9).all()
    assert (after[~feasible] < before[~feasible] + 1e-9).all()
    assert (out.items >= 0).all()
    # Balancing keeps what it can: a list already within the cap is left exactly as it was.
    ok = before <= 0.3
    np.testing.assert_array_equal(out.items[ok], head(pool)[ok])


def test_relaxes_rather_than_shortening(toy, pool) -> None:
    """With 4 genres a 0.1 share allows at most 4 tracks: the rest of the list is still filled."""
    out = GenreBalance({"max_share": 0.1}).rerank(pool, K, RerankContext(toy))
    assert (out.items >= 0).all()
    first4 = genre_counts(toy, out.items[:, :4])
    all_genres = (genre_counts(toy, pool.items)[:, 1:] > 0).all(axis=1)  # genre 0 is the unknown genre
    assert all_genres.mean() > 0.5
    assert (first4[all_genres].max(axis=1) == 1).all(), "the first picks are one per genre while the caps allow"


def test_target_mix_is_met_exactly(toy, pool) -> None:
    mix = {"genre0": 0.5, "genre1": 0.3, "genre2": 0.2, "genre3": 0.0}
    out = GenreBalance({"target_mix": mix}).rerank(pool, K, RerankContext(toy))
    counts = genre_counts(toy, out.items)
    index = {g: i for i, g in enumerate(toy.genres.ids.tolist())}
    enough = (genre_counts(toy, pool.items)[:, [index[g] for g in mix]] >= 5).all(axis=1)
    assert enough.sum() > 100, "most pools can meet the mix"
    for g, share in mix.items():
        assert (counts[enough, index[g]] == round(share * K)).all(), g


def test_unknown_genre_in_mix_names_it(toy, pool) -> None:
    with pytest.raises(PluginError, match="no-such-genre"):
        GenreBalance({"target_mix": {"no-such-genre": 0.5}}).rerank(pool, K, RerankContext(toy))


@pytest.mark.parametrize("bad", [{"max_share": 0}, {"max_share": 1.5}, {"target_mix": {"a": 0.8, "b": 0.4}}])
def test_config_validation(bad) -> None:
    with pytest.raises(PluginConfigError, match="genre_balance"):
        GenreBalance(bad)


def test_tracks_without_genre_are_not_capped(toy) -> None:
    f = toy.item_features
    genre_less = np.arange(1, 6)
    keep = ~np.isin(np.arange(f.genre_indices.size), genre_less)  # toy: one genre per track
    counts = np.diff(f.genre_indptr)
    counts[genre_less] = 0
    indptr = np.concatenate([[0], np.cumsum(counts)])
    fs = replace(toy, item_features=replace(f, genre_indptr=indptr, genre_indices=f.genre_indices[keep]))
    same_genre = np.flatnonzero(f.genre_indices == 1)[:6]
    items = np.concatenate([genre_less, same_genre])[None, :]
    pool = Candidates(np.array([1]), items, -np.arange(items.shape[1], dtype=np.float32)[None, :])
    out = GenreBalance({"max_share": 0.1}).rerank(pool, 6, RerankContext(fs))
    np.testing.assert_array_equal(out.items[0], np.concatenate([genre_less, same_genre[:1]]))
