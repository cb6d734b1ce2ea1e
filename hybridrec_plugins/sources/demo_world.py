"""The synthetic music world behind the ``demo`` source (and ``spotify_tracks`` simulation).

Everything is vectorized numpy driven by one seeded ``Generator``: the same parameters give the
same world, and 10M+ interactions are generated in seconds. The world has structure a model can
learn: users have latent tastes over genres and preferences over two audio dimensions (energy,
valence); which tracks they play *and how often* follow those tastes, on top of power-law
popularity. Play counts are therefore predictable from (user, genre, audio) -- not noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GENRE_NAMES: tuple[str, ...] = (
    "pop", "rock", "hip hop", "electronic", "jazz", "classical", "metal", "folk", "r&b",
    "country", "latin", "blues", "reggae", "punk", "soul", "indie", "ambient", "techno",
    "house", "k-pop",
)
END_EPOCH = 1_704_067_200  # 2024-01-01T00:00:00Z: the demo world's "now"
# Evening-heavy listening: probability of each hour of the day.
_HOUR_WEIGHTS = np.array(
    [2, 1, 1, 1, 1, 1, 2, 4, 6, 5, 4, 4, 5, 5, 4, 4, 5, 7, 9, 10, 10, 9, 7, 4], dtype=np.float64
)


def genre_names(n: int) -> list[str]:
    """Readable genre names, falling back to ``genre_NN`` beyond the built-in list."""
    return [GENRE_NAMES[i] if i < len(GENRE_NAMES) else f"genre_{i:02d}" for i in range(n)]


@dataclass
class Catalogue:
    """Track-side facts the interaction simulator needs (row i = track i)."""

    primary_genre: np.ndarray  # int64 (n_tracks,), genre index in [0, n_genres)
    audio_pref_dims: np.ndarray  # float32 (n_tracks, 2): energy, valence in [0, 1]
    popularity: np.ndarray  # float64 (n_tracks,), positive weights (power law)
    quality: np.ndarray  # float64 (n_tracks,), latent appeal that drives plays
    n_genres: int

    def __post_init__(self) -> None:
        order = np.argsort(self.primary_genre, kind="stable")
        bounds = np.searchsorted(self.primary_genre[order], np.arange(self.n_genres + 1))
        self._members = []
        for g in range(self.n_genres):  # per genre: its tracks and their popularity CDF
            members = order[bounds[g]:bounds[g + 1]]
            if members.size == 0:  # empty genre: draw from the whole catalogue
                members = np.arange(self.primary_genre.shape[0])
            self._members.append((members, np.cumsum(self.popularity[members])))

    def genre_members(self, g: int) -> tuple[np.ndarray, np.ndarray]:
        return self._members[g]


def zipf_weights(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Power-law weights over ``n`` things in a random order."""
    w = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** exponent
    return w[rng.permutation(n)]


def sample_from(weights_cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF sampling: indices for uniforms ``u`` given a cumulative (unnormalized) CDF."""
    return np.minimum(np.searchsorted(weights_cdf, u * weights_cdf[-1], side="right"), len(weights_cdf) - 1)


def simulate_interactions(
    cat: Catalogue,
    n_users: int,
    n_interactions: int,
    rng: np.random.Generator,
    cold_user_share: float = 0.1,
    span_days: int = 730,
    chunk_rows: int = 500_000,
) -> dict[str, np.ndarray]:
    """Users with tastes -> about ``n_interactions`` distinct (user, track, plays, timestamp) rows.

    Each draw picks a genre from the user's taste, then ``K`` popularity-weighted candidates of
    that genre, and keeps the one closest to the user's audio preference. Plays grow with the
    user's affinity for the track's genre and audio, and with the track's latent quality.
    Repeated (user, track) draws are folded into one row (plays summed, latest time kept); a
    small pilot run calibrates how many draws give ``n_interactions`` distinct rows. Users are
    processed in chunks, so memory stays bounded at any size.
    """
    world = _Users.sample(cat, n_users, rng, cold_user_share, span_days)
    activity = rng.lognormal(0.0, 1.0, size=n_users)
    target = np.maximum(1.0, n_interactions * activity / activity.sum())
    cold = rng.random(n_users) < cold_user_share
    target[cold] = rng.integers(1, 5, size=int(cold.sum()))
    # pilot users drawn in proportion to their draws, so the pilot's repeat rate is the world's
    pilot_users = np.unique(rng.choice(n_users, size=min(n_users, 2000), p=target / target.sum()))
    want = float(np.round(target[pilot_users]).sum())
    scale = 1.0
    for _ in range(2):  # two rounds: more draws also repeat more
        pilot = world.draw(cat, pilot_users, np.round(target[pilot_users] * scale).astype(np.int64), rng)
        scale *= min(5.0, max(1.0, want / max(1.0, float(pilot["user"].shape[0]))))
    draws = np.maximum(1, np.round(target * scale)).astype(np.int64)
    draws[cold] = np.round(target[cold]).astype(np.int64)

    parts: list[dict[str, np.ndarray]] = []
    ends = np.searchsorted(np.cumsum(draws), np.arange(chunk_rows, int(draws.sum()) + chunk_rows, chunk_rows), side="right")
    lo = 0
    for hi in np.unique(np.concatenate([ends, [n_users]])):
        if hi > lo:
            users = np.arange(lo, hi, dtype=np.int64)
            parts.append(world.draw(cat, users, draws[lo:hi], rng))
            lo = hi
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


@dataclass
class _Users:
    """Latent user side: genre taste, audio preference, play level, active window."""

    taste: np.ndarray
    taste_cdf: np.ndarray
    audio_pref: np.ndarray
    level: np.ndarray
    start_day: np.ndarray
    length: np.ndarray
    span_days: int

    @classmethod
    def sample(cls, cat: Catalogue, n: int, rng: np.random.Generator, cold_share: float, span_days: int) -> "_Users":
        g = cat.n_genres
        genre_share = rng.dirichlet(np.full(g, 2.0))
        taste = 0.85 * rng.dirichlet(np.full(g, 0.3), size=n) + 0.15 * genre_share
        start_day = rng.integers(0, max(1, span_days - 30), size=n)
        length = np.minimum(rng.integers(30, max(31, span_days), size=n), span_days - start_day)
        return cls(
            taste=taste.astype(np.float32), taste_cdf=np.cumsum(taste, axis=1).astype(np.float32),
            audio_pref=rng.uniform(0.0, 1.0, size=(n, 2)).astype(np.float32),
            level=rng.normal(0.0, 0.4, size=n).astype(np.float32),
            start_day=start_day, length=length, span_days=span_days,
        )

    def draw(self, cat: Catalogue, users: np.ndarray, counts: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Distinct (user, track) rows for ``users`` with ``counts`` draws each."""
        g, k = cat.n_genres, 3
        u = np.repeat(users, counts)
        m = u.shape[0]
        genre = np.minimum((self.taste_cdf[u] < rng.random(m, dtype=np.float32)[:, None]).sum(axis=1), g - 1)
        cand = np.empty((m, k), dtype=np.int64)
        for gi in range(g):  # one vectorized pass per genre (genres are few)
            rows = np.flatnonzero(genre == gi)
            if rows.size:
                members, cdf = cat.genre_members(gi)
                cand[rows] = members[sample_from(cdf, rng.random((rows.size, k)))]
        diff = cat.audio_pref_dims[cand] - self.audio_pref[u][:, None, :]
        dist = np.sqrt((diff * diff).sum(axis=2))
        pick = np.argmin(dist + rng.gumbel(0.0, 0.15, size=dist.shape).astype(np.float32), axis=1)
        track = cand[np.arange(m), pick]

        n_tracks = cat.popularity.shape[0]
        uniq, n_draws = np.unique(u * n_tracks + track, return_counts=True)
        uu, tt = uniq // n_tracks, uniq % n_tracks
        genre_aff = np.clip(np.log(g * self.taste[uu, cat.primary_genre[tt]]), -3.0, 2.0)
        d = cat.audio_pref_dims[tt] - self.audio_pref[uu]
        audio_aff = -np.sqrt((d * d).sum(axis=1))
        rate = np.exp(0.8 + 0.45 * genre_aff + 1.5 * audio_aff + 0.35 * cat.quality[tt] + self.level[uu])
        plays = n_draws + rng.poisson(rate * n_draws)
        day = self.start_day[uu] + (rng.random(uu.shape[0]) * self.length[uu]).astype(np.int64)
        hour = sample_from(np.cumsum(_HOUR_WEIGHTS), rng.random(uu.shape[0]))
        ts = END_EPOCH - self.span_days * 86_400 + day * 86_400 + hour * 3600 + rng.integers(0, 3600, size=uu.shape[0])
        # compact dtypes: ids fit int32, plays float32 (exact for counts < 2**24)
        return {"user": uu.astype(np.int32), "track": tt.astype(np.int32), "plays": plays.astype(np.float32),
                "timestamp": ts.astype(np.int64)}
