"""``music_info``: the "Music Info.csv" + "User Listening History.csv" layout
(Million Song Dataset tracks with Spotify audio features and Last.fm tags).

``Music Info.csv``: track_id, name, artist, spotify_preview_url, spotify_id, tags, genre, year,
duration_ms, danceability, energy, key, loudness, mode, speechiness, acousticness,
instrumentalness, liveness, valence, tempo, time_signature. ``User Listening History.csv``:
track_id, user_id, playcount. Genres = ``genre`` (when set) followed by the comma-separated
``tags``. No timestamps.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from hybridrec_core.interfaces import DataSource, PluginConfig, SourceData
from hybridrec_core.fileio import concat_quarantine, query_arrow, read_delimited


class MusicInfoSource(DataSource):
    """Music Info catalogue (audio features, tags, genre) + per-user play counts."""

    name = "music_info"
    description = "'Music Info.csv' + 'User Listening History.csv' (tracks with audio features, user play counts)."

    class Config(PluginConfig):
        path: str = Field(..., min_length=1, description="Folder holding both files.")
        tracks_file: str = Field("Music Info.csv", min_length=1, description="Catalogue file name inside path.")
        history_file: str = Field("User Listening History.csv", min_length=1, description="Play-count file name inside path.")

    def load(self) -> SourceData:
        base = Path(self.config.path)
        tf, hf = base / self.config.tracks_file, base / self.config.history_file
        info, q1 = read_delimited(tf, "tracks", expected=["track_id", "name", "artist"])
        hist, q2 = read_delimited(hf, "interactions", expected=["track_id", "user_id", "playcount"])
        cols = set(info.column_names)
        genre = "NULLIF(trim(genre), '')" if "genre" in cols else "NULL"
        tags = "NULLIF(trim(tags), '')" if "tags" in cols else "NULL"
        keep = [c for c in ("danceability", "energy", "loudness", "speechiness", "acousticness", "instrumentalness",
                            "liveness", "valence", "tempo", "mode", "year", "duration_ms") if c in cols]
        tracks = query_arrow(
            f"""SELECT track_id, name AS title, NULL::VARCHAR AS artist_id, artist AS artist_name,
                       concat_ws(',', {genre}, {tags}) AS genres{''.join(', ' + c for c in keep)} FROM t""",
            {"t": info})
        inter = query_arrow("SELECT user_id, track_id, playcount AS plays FROM h", {"h": hist})
        return SourceData(
            tracks=tracks, interactions=inter, origin={"tracks": str(tf), "interactions": str(hf)},
            quarantine=concat_quarantine([q1, q2]), metadata={"dataset": "music-info"},
        )
