"""``spotify_tracks``: Spotify top-hits style track tables (``songs_normalize.csv``).

The file is a *catalogue*: artist, song, duration_ms, explicit, year, popularity, the nine audio
features, key, mode and a genre string ("rock, pop"; ``set()`` = none). It has no ids and no
listening data, so:
- ``track_id`` is derived from the normalized (artist, song) pair (``sp_`` + 16 hex of md5); the
  same song listed twice gets the same id and is merged by ingest (first row kept);
- interactions come from ``plays_file`` (canonical csv: user_id, track_id, plays[, timestamp])
  when given; else, with ``simulate_users > 0``, from the demo world's taste simulator run over
  this real catalogue (its genres, energy/valence and popularity), flagged in the metadata;
  otherwise loading raises a DataError explaining both options.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
from pydantic import Field

from hybridrec_core.errors import DataError
from hybridrec_core.interfaces import DataSource, PluginConfig, SourceData
from hybridrec_core.fileio import concat_quarantine, query_arrow, read_delimited
from hybridrec_plugins.sources.demo_world import Catalogue, simulate_interactions

_COLUMNS = ["artist", "song", "duration_ms", "explicit", "year", "popularity", "danceability", "energy", "key",
            "loudness", "mode", "speechiness", "acousticness", "instrumentalness", "liveness", "valence", "tempo", "genre"]


class SpotifyTracksSource(DataSource):
    """A Spotify audio-feature catalogue, with plays from a file or from the taste simulator."""

    name = "spotify_tracks"
    description = "Spotify top-hits track table (audio features, explicit, genres); plays from a file or simulated."

    class Config(PluginConfig):
        path: str = Field(..., min_length=1, description="songs_normalize.csv, or the folder holding it.")
        plays_file: str | None = Field(None, description="Optional canonical interactions csv (user_id, track_id, plays[, timestamp]).")
        simulate_users: int = Field(0, ge=0, le=10_000_000, description="Without plays_file: simulate this many users (0 = error).")
        interactions_per_user: float = Field(30.0, gt=0, le=100_000, description="Simulated distinct tracks per user (mean).")
        seed: int = Field(42, ge=0, description="Seed of the simulation.")

    def load(self) -> SourceData:
        p = Path(self.config.path)
        p = p / "songs_normalize.csv" if p.is_dir() else p
        raw, q = read_delimited(p, "tracks", expected=["artist", "song"])
        tracks = query_arrow(
            """SELECT 'sp_' || substr(md5(lower(trim(artist)) || chr(31) || lower(trim(song))), 1, 16) AS track_id,
                      song AS title, NULL::VARCHAR AS artist_id, artist AS artist_name, genre AS genres,
                      * EXCLUDE (artist, song, genre)
               FROM t""", {"t": raw})
        origin = {"tracks": str(p)}
        metadata: dict = {"dataset": "spotify-top-hits"}
        if self.config.plays_file:
            inter, q2 = read_delimited(self.config.plays_file, "interactions", expected=["user_id", "track_id", "plays"])
            origin["interactions"] = self.config.plays_file
            q = concat_quarantine([q, q2])
        elif self.config.simulate_users > 0:
            inter = self._simulate(tracks)
            origin["interactions"] = f"simulated(seed={self.config.seed}, users={self.config.simulate_users})"
            metadata["interactions"] = "simulated by the demo taste model over this catalogue"
        else:
            raise DataError(
                f"spotify_tracks: {p} is a track catalogue without listening data; set plays_file to a "
                "csv of (user_id, track_id, plays) or simulate_users > 0 to simulate listeners"
            )
        return SourceData(tracks=tracks, interactions=inter, origin=origin, quarantine=q, metadata=metadata)

    def _simulate(self, tracks: pa.Table) -> pa.Table:
        """Taste-driven plays over the real catalogue (first genre token = primary genre)."""
        c = self.config
        rng = np.random.default_rng(c.seed)
        ids = np.asarray(tracks.column("track_id").to_pylist(), dtype=object)
        _, first = np.unique(ids, return_index=True)  # duplicates share an id: simulate each id once
        first.sort()
        t = tracks.take(pa.array(first))
        g = np.asarray([(s or "").split(",")[0].strip().lower() for s in t.column("genres").to_pylist()], dtype=object)
        names, primary = np.unique(g, return_inverse=True)

        def num(col: str, default: float) -> np.ndarray:
            v = np.asarray(t.column(col).to_pylist(), dtype=object)
            out = np.array([float(x) if x not in (None, "") else np.nan for x in v])
            return np.where(np.isfinite(out), out, default)

        pop = num("popularity", 50.0)
        cat = Catalogue(
            primary_genre=primary.astype(np.int64),
            audio_pref_dims=np.stack([num("energy", 0.5), num("valence", 0.5)], axis=1).astype(np.float32),
            popularity=np.exp(np.clip(pop, 0, 100) / 20.0), quality=rng.normal(0.0, 1.0, size=len(first)),
            n_genres=len(names),
        )
        sim = simulate_interactions(cat, c.simulate_users, int(c.simulate_users * c.interactions_per_user), rng)
        return pa.table({"user_id": sim["user"], "track_id": pa.array(ids[first][sim["track"]], pa.string()),
                         "plays": sim["plays"], "timestamp": sim["timestamp"]})
