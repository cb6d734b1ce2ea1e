"""``demo``: a deterministic synthetic music world (see :mod:`demo_world`)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from pydantic import Field, model_validator

from hybridrec_core.interfaces import DataSource, PluginConfig, SourceData
from hybridrec_plugins.sources.demo_world import END_EPOCH, Catalogue, genre_names, simulate_interactions, zipf_weights

# Audio features in [0, 1] except loudness (dB) and tempo (BPM), mapped from unit space.
_UNIT_FEATURES = ("danceability", "energy", "speechiness", "acousticness", "instrumentalness", "liveness", "valence")
# User flags come from their own stream (seeded by (seed, this)), so flagging users never shifts
# the draws behind the catalogue and the interactions.
_FLAG_STREAM = 0xF1A65


class DemoSource(DataSource):
    """Synthetic users, artists, genres, tracks with audio features, and taste-driven plays."""

    name = "demo"
    description = "Deterministic synthetic music world (seeded numpy): tastes, power-law popularity, timestamps."

    class Config(PluginConfig):
        n_users: int = Field(1500, ge=1, le=100_000_000, description="Number of users.")
        n_tracks: int = Field(2000, ge=1, le=100_000_000, description="Catalogue size.")
        n_artists: int = Field(400, ge=1, le=10_000_000, description="Number of artists.")
        n_genres: int = Field(12, ge=1, le=500, description="Number of genres.")
        n_interactions: int = Field(60_000, ge=1, le=2_000_000_000, description="Listening draws in total.")
        interactions_per_user: float | None = Field(
            None, gt=0, le=1_000_000, description="If set, overrides n_interactions as n_users * this."
        )
        cold_user_share: float = Field(0.1, ge=0.0, le=1.0, description="Share of users with only 1-4 draws.")
        missing_feature_share: float = Field(
            0.02, ge=0.0, le=1.0, description="Share of tracks with one audio feature missing (imputed later)."
        )
        span_days: int = Field(730, ge=31, le=36_500, description="Days of listening history before 2024-01-01.")
        dirty_fraction: float = Field(
            0.0, ge=0.0, le=0.5, description="Share of deliberately broken rows (for validation demos/tests)."
        )
        no_explicit_share: float = Field(
            0.05, ge=0.0, le=1.0,
            description="Share of users flagged no_explicit in user_flags (a separate seeded stream; 0 = no flags).",
        )
        seed: int = Field(42, ge=0, description="Seed of the world.")

        @model_validator(mode="after")
        def _sizes(self) -> "DemoSource.Config":
            if self.n_artists > self.n_tracks:
                raise ValueError(f"n_artists ({self.n_artists}) must be <= n_tracks ({self.n_tracks})")
            return self

    @property
    def total_interactions(self) -> int:
        c = self.config
        return int(round(c.n_users * c.interactions_per_user)) if c.interactions_per_user else c.n_interactions

    def load(self) -> SourceData:
        c = self.config
        rng = np.random.default_rng(c.seed)
        tracks, cat = _make_catalogue(c, rng)
        inter = simulate_interactions(
            cat, c.n_users, self.total_interactions, rng, cold_user_share=c.cold_user_share, span_days=c.span_days
        )
        interactions = pa.table({
            "user_id": inter["user"], "track_id": inter["track"],
            "plays": inter["plays"], "timestamp": inter["timestamp"],
        })
        users = pa.table({"user_id": np.arange(c.n_users, dtype=np.int64)})
        if c.dirty_fraction > 0:
            tracks, interactions = _make_dirty(tracks, interactions, c.dirty_fraction, rng)
        where = f"demo(seed={c.seed})"
        flags = _make_flags(c)
        return SourceData(
            tracks=tracks, interactions=interactions, users=users,
            origin={"tracks": where, "interactions": where, "users": where,
                    **({"user_flags": where} if flags is not None else {})},
            metadata={"generator": "demo", "seed": c.seed, "end_epoch": END_EPOCH, "genres": genre_names(c.n_genres)},
            user_flags=flags,
        )


def _make_flags(c: DemoSource.Config) -> pa.Table | None:
    """``user_id, no_explicit`` for every user, a ``no_explicit_share`` of them true (None at 0)."""
    if c.no_explicit_share <= 0:
        return None
    rng = np.random.default_rng([c.seed, _FLAG_STREAM])
    return pa.table({
        "user_id": np.arange(c.n_users, dtype=np.int64),
        "no_explicit": rng.random(c.n_users) < c.no_explicit_share,
    })


def _make_catalogue(c: DemoSource.Config, rng: np.random.Generator) -> tuple[pa.Table, Catalogue]:
    """Artists own a primary genre; tracks inherit it, audio features cluster by genre."""
    names = np.array(genre_names(c.n_genres), dtype=object)
    genre_pop = rng.dirichlet(np.full(c.n_genres, 2.0))
    artist_genre = rng.choice(c.n_genres, size=c.n_artists, p=genre_pop)
    artist_pop = zipf_weights(c.n_artists, 0.8, rng)
    # every artist gets one track, the rest follow artist popularity
    extra = rng.choice(c.n_artists, size=c.n_tracks - c.n_artists, p=artist_pop / artist_pop.sum())
    track_artist = rng.permutation(np.concatenate([np.arange(c.n_artists), extra]))
    primary = artist_genre[track_artist]

    centre = rng.uniform(0.15, 0.85, size=(c.n_genres, 9))
    unit = np.clip(centre[primary] + rng.normal(0.0, 0.12, size=(c.n_tracks, 9)), 0.0, 1.0)
    cols: dict[str, np.ndarray] = {}
    for j, f in enumerate(_UNIT_FEATURES):
        cols[f] = unit[:, j] ** (2.0 if f in {"speechiness", "instrumentalness", "liveness"} else 1.0)
    cols["loudness"] = -30.0 + 28.0 * unit[:, 7]
    cols["tempo"] = 60.0 + 140.0 * unit[:, 8]
    missing = rng.random(c.n_tracks) < c.missing_feature_share
    which = rng.integers(0, 9, size=c.n_tracks)
    feature_names = list(_UNIT_FEATURES) + ["loudness", "tempo"]
    arrays = {}
    for j, f in enumerate(feature_names):
        arrays[f] = pa.array(cols[f], mask=missing & (which == j))

    second = rng.integers(0, c.n_genres, size=c.n_tracks)
    has_second = (rng.random(c.n_tracks) < 0.3) & (second != primary)
    genres = np.where(has_second, names[primary] + "|" + names[second], names[primary])
    explicit_rate = rng.beta(1.0, 4.0, size=c.n_genres)
    ids = np.arange(c.n_tracks, dtype=np.int64)
    table = pa.table({
        "track_id": ids,
        "title": pa.array(np.char.add("Track ", ids.astype(str)).astype(object)),
        "artist_id": track_artist.astype(np.int64),
        "artist_name": pa.array(np.char.add("Artist ", track_artist.astype(str)).astype(object)),
        "genres": pa.array(genres.astype(object)),
        **arrays,
        "explicit": rng.random(c.n_tracks) < explicit_rate[primary],
        "mode": (rng.random(c.n_tracks) < 0.6).astype(np.int64),
        "year": np.clip(np.round(2023 - rng.exponential(10.0, size=c.n_tracks)), 1950, 2023).astype(np.int64),
        "duration_ms": np.clip(rng.normal(210_000, 45_000, size=c.n_tracks), 60_000, 600_000).round(),
    })
    cat = Catalogue(
        primary_genre=primary.astype(np.int64),
        audio_pref_dims=np.stack([cols["energy"], cols["valence"]], axis=1).astype(np.float32),
        popularity=zipf_weights(c.n_tracks, 0.9, rng) * np.sqrt(artist_pop[track_artist]),
        quality=rng.normal(0.0, 1.0, size=c.n_tracks),
        n_genres=c.n_genres,
    )
    return table, cat


def _make_dirty(tracks: pa.Table, inter: pa.Table, frac: float, rng: np.random.Generator) -> tuple[pa.Table, pa.Table]:
    """Append broken rows of every kind the ingest engine must catch (one kind per block)."""
    n_bad = max(6, int(round(frac * inter.num_rows)))
    take = rng.integers(0, inter.num_rows, size=n_bad)
    bad = inter.take(pa.array(take)).to_pandas()
    kind = np.arange(n_bad) % 6
    bad["user_id"] = bad["user_id"].astype("Int64")
    bad.loc[kind == 0, "user_id"] = None  # missing user id
    bad.loc[kind == 1, "plays"] = -3.0  # negative plays
    bad.loc[kind == 2, "plays"] = np.nan  # non-finite / missing plays
    bad.loc[kind == 3, "plays"] = np.inf
    bad.loc[kind == 4, "track_id"] = (-1 - np.arange(int((kind == 4).sum()))).astype(np.int32)  # not in catalogue
    # kind 5 stays valid: an exact duplicate of an existing pair, merged at ingest
    dirty_inter = pa.concat_tables([inter, pa.Table.from_pandas(bad, preserve_index=False).cast(inter.schema)])
    n_bad_t = max(2, int(round(frac * tracks.num_rows)))
    bad_t = tracks.slice(0, n_bad_t).to_pandas()
    bad_t["track_id"] = 10**13 + np.arange(n_bad_t)
    bad_t["danceability"] = 7.5  # far outside [0, 1]
    dirty_tracks = pa.concat_tables([tracks, pa.Table.from_pandas(bad_t, preserve_index=False).cast(tracks.schema)])
    return dirty_tracks, dirty_inter
