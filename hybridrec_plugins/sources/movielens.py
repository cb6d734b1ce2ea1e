"""``movielens``: MovieLens 100K, 1M and latest-small; movies are the items, ratings the plays.

The layout is detected from the files present:
- 100K: ``u.data`` (tab: user, item, rating, timestamp; no header), ``u.item`` (``|``, latin-1:
  id, title, release date, video date, url, 19 genre flags) and ``u.genre`` (name|index);
- 1M: ``ratings.dat`` (``UserID::MovieID::Rating::Timestamp``), ``movies.dat``
  (``MovieID::Title::Genres``, latin-1, genres ``|``-separated);
- latest-small: ``ratings.csv`` (userId, movieId, rating, timestamp), ``movies.csv``
  (movieId, title, genres ``|``-separated).
The release year is parsed from the title's trailing ``(YYYY)``. Ratings become ``plays``, so
the strength encoder turns them into targets in [0, 1].
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pyarrow as pa
from pydantic import Field

from hybridrec_core.errors import DataError
from hybridrec_core.interfaces import DataSource, PluginConfig, SourceData
from hybridrec_core.fileio import concat_quarantine, query_arrow, read_delimited

_LAYOUTS = {"100k": ("u.data", "u.item"), "1m": ("ratings.dat", "movies.dat"), "latest": ("ratings.csv", "movies.csv")}
_YEAR = r"TRY_CAST(regexp_extract(trim(title), '\((\d{4})\)$', 1) AS INTEGER) AS year"


class MovieLensSource(DataSource):
    """MovieLens ratings as interaction strength, movie genres as genres (layout auto-detected)."""

    name = "movielens"
    description = "MovieLens 100K / 1M / latest-small (auto-detected); ratings as plays, genres, years."

    class Config(PluginConfig):
        path: str = Field(..., min_length=1, description="Folder of one MovieLens release.")
        layout: Literal["auto", "100k", "1m", "latest"] = Field("auto", description="File layout; auto-detect by file names.")

    def layout(self) -> str:
        base = Path(self.config.path)
        if self.config.layout != "auto":
            return self.config.layout
        for name, (ratings, _) in _LAYOUTS.items():
            if (base / ratings).exists():
                return name
        found = sorted(p.name for p in base.iterdir()) if base.is_dir() else []
        raise DataError(
            f"movielens source: {base} holds none of u.data (100K), ratings.dat (1M), ratings.csv (latest-small); found {found}"
        )

    def load(self) -> SourceData:
        base = Path(self.config.path)
        layout = self.layout()
        ratings_file, movies_file = (base / f for f in _LAYOUTS[layout])
        tracks, inter, rejects = getattr(self, f"_load_{layout}")(ratings_file, movies_file, base)
        return SourceData(
            tracks=tracks, interactions=inter, origin={"tracks": str(movies_file), "interactions": str(ratings_file)},
            quarantine=concat_quarantine(rejects), metadata={"dataset": f"movielens-{layout}", "plays": "rating"},
        )

    def _load_100k(self, rf: Path, mf: Path, base: Path) -> tuple[pa.Table, pa.Table, list]:
        r_names = ["user_id", "item_id", "rating", "timestamp"]
        ratings, q1 = read_delimited(rf, "interactions", expected=r_names, delimiter="\t", header=False, names=r_names)
        genre_file = base / "u.genre"
        if genre_file.exists():
            g, _ = read_delimited(genre_file, "genres", expected=["name", "idx"], delimiter="|", header=False, names=["name", "idx"])
            genres = [n for n in g.column("name").to_pylist() if n]
        else:
            genres = [f"genre_{i}" for i in range(19)]
        m_names = ["movie_id", "title", "release", "video", "url"] + [f"g{i}" for i in range(len(genres))]
        movies, q2 = read_delimited(mf, "tracks", expected=m_names[:2], delimiter="|", header=False, names=m_names,
                                    encoding="latin-1", quote=None)
        flags = ", ".join(f"CASE WHEN g{i} = '1' THEN '{n.replace(chr(39), '')}' END" for i, n in enumerate(genres))
        tracks = query_arrow(f"SELECT movie_id AS track_id, title, concat_ws('|', {flags}) AS genres, {_YEAR} FROM m", {"m": movies})
        inter = query_arrow("SELECT user_id, item_id AS track_id, rating AS plays, timestamp FROM r", {"r": ratings})
        return tracks, inter, [q1, q2]

    def _load_1m(self, rf: Path, mf: Path, base: Path) -> tuple[pa.Table, pa.Table, list]:
        r_names = ["user_id", "movie_id", "rating", "timestamp"]
        ratings, q1 = read_delimited(rf, "interactions", expected=r_names, delimiter="::", header=False, names=r_names)
        movies, q2 = read_delimited(mf, "tracks", expected=["movie_id", "title", "genres"], delimiter="::", header=False,
                                    names=["movie_id", "title", "genres"], encoding="latin-1", quote=None)
        tracks = query_arrow(f"SELECT movie_id AS track_id, title, genres, {_YEAR} FROM m", {"m": movies})
        inter = query_arrow("SELECT user_id, movie_id AS track_id, rating AS plays, timestamp FROM r", {"r": ratings})
        return tracks, inter, [q1, q2]

    def _load_latest(self, rf: Path, mf: Path, base: Path) -> tuple[pa.Table, pa.Table, list]:
        ratings, q1 = read_delimited(rf, "interactions", expected=["userId", "movieId", "rating", "timestamp"])
        movies, q2 = read_delimited(mf, "tracks", expected=["movieId", "title", "genres"])
        tracks = query_arrow(f"SELECT movieId AS track_id, title, genres, {_YEAR} FROM m", {"m": movies})
        inter = query_arrow("SELECT userId AS user_id, movieId AS track_id, rating AS plays, timestamp FROM r", {"r": ratings})
        return tracks, inter, [q1, q2]
