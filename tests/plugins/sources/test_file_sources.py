"""csv / parquet sources and the real-format adapters, on fixture files the tests write."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from fixtures.datasets import (
    write_canonical_csv, write_lastfm, write_movielens_100k, write_movielens_1m, write_movielens_latest,
    write_music_info, write_spotify,
)
from hybridrec_core.errors import DataError
from hybridrec_core.ingest import ingest
from hybridrec_core.storage import Store
from hybridrec_core.testing import SourceTests
from hybridrec_plugins.sources.lastfm_hetrec import LastfmHetrecSource
from hybridrec_plugins.sources.movielens import MovieLensSource
from hybridrec_plugins.sources.music_info import MusicInfoSource
from hybridrec_plugins.sources.spotify_tracks import SpotifyTracksSource
from hybridrec_plugins.sources.tabular import CsvSource, ParquetSource


class TestCsvSource(SourceTests):
    plugin_class = CsvSource

    def source_params(self, tmp_path: Path) -> dict[str, Any]:
        write_canonical_csv(tmp_path / "csv")
        return {"path": str(tmp_path / "csv")}

    def missing_params(self, tmp_path: Path) -> tuple[dict[str, Any], str]:
        p = tmp_path / "nope" / "interactions.csv"
        return {"interactions": str(p)}, str(p)

    def broken_params(self, tmp_path: Path) -> tuple[dict[str, Any], str]:
        write_canonical_csv(tmp_path / "semi", delimiter=";")
        return {"path": str(tmp_path / "semi")}, str(tmp_path / "semi" / "interactions.csv")


class TestParquetSource(SourceTests):
    plugin_class = ParquetSource

    def source_params(self, tmp_path: Path) -> dict[str, Any]:
        write_canonical_csv(tmp_path / "csv")
        out = tmp_path / "pq"
        out.mkdir(exist_ok=True)
        con = duckdb.connect()
        for t in ("interactions", "tracks"):
            con.execute(f"COPY (SELECT * FROM read_csv('{tmp_path / 'csv' / t}.csv')) TO '{out / t}.parquet' (FORMAT parquet)")
        con.close()
        return {"path": str(out)}

    def missing_params(self, tmp_path: Path) -> tuple[dict[str, Any], str]:
        p = tmp_path / "none.parquet"
        return {"interactions": str(p)}, str(p)


class TestLastfm(SourceTests):
    plugin_class = LastfmHetrecSource
    example_params = {"path": "."}

    def source_params(self, tmp_path: Path) -> dict[str, Any]:
        write_lastfm(tmp_path / "lfm")
        return {"path": str(tmp_path / "lfm")}

    def missing_params(self, tmp_path: Path) -> tuple[dict[str, Any], str]:
        return {"path": str(tmp_path / "empty")}, str(tmp_path / "empty" / "user_artists.dat")

    def broken_params(self, tmp_path: Path) -> tuple[dict[str, Any], str]:
        write_lastfm(tmp_path / "commas")
        f = tmp_path / "commas" / "user_artists.dat"
        f.write_text(f.read_text().replace("\t", ","))  # wrong delimiter
        return {"path": str(tmp_path / "commas")}, str(f)


class TestMovieLens100k(SourceTests):
    plugin_class = MovieLensSource
    example_params = {"path": "."}

    def source_params(self, tmp_path: Path) -> dict[str, Any]:
        write_movielens_100k(tmp_path / "ml")
        return {"path": str(tmp_path / "ml")}

    def missing_params(self, tmp_path: Path) -> tuple[dict[str, Any], str]:
        (tmp_path / "e").mkdir()
        return {"path": str(tmp_path / "e")}, str(tmp_path / "e")


class TestSpotify(SourceTests):
    plugin_class = SpotifyTracksSource
    example_params = {"path": "."}

    def source_params(self, tmp_path: Path) -> dict[str, Any]:
        write_spotify(tmp_path / "sp")
        return {"path": str(tmp_path / "sp"), "simulate_users": 40, "interactions_per_user": 8}

    def missing_params(self, tmp_path: Path) -> tuple[dict[str, Any], str]:
        p = tmp_path / "x" / "songs_normalize.csv"
        return {"path": str(p), "simulate_users": 5}, str(p)


class TestMusicInfo(SourceTests):
    plugin_class = MusicInfoSource
    example_params = {"path": "."}

    def source_params(self, tmp_path: Path) -> dict[str, Any]:
        write_music_info(tmp_path / "mi")
        return {"path": str(tmp_path / "mi")}

    def missing_params(self, tmp_path: Path) -> tuple[dict[str, Any], str]:
        return {"path": str(tmp_path / "z")}, str(tmp_path / "z" / "Music Info.csv")


def test_csv_column_mapping(tmp_path: Path) -> None:
    write_canonical_csv(tmp_path)
    text = (tmp_path / "interactions.csv").read_text().replace("plays", "listen_count", 1)
    (tmp_path / "interactions.csv").write_text(text)
    with pytest.raises(DataError, match="plays"):
        CsvSource({"path": str(tmp_path)}).load()
    data = CsvSource({"path": str(tmp_path), "columns": {"interactions": {"plays": "listen_count"}}}).load()
    assert "plays" in data.interactions.column_names


def test_csv_wrong_delimiter_names_file_expected_and_found(tmp_path: Path) -> None:
    write_canonical_csv(tmp_path, delimiter="\t")
    with pytest.raises(DataError) as info:
        CsvSource({"path": str(tmp_path)}).load()
    msg = str(info.value)
    assert str(tmp_path / "interactions.csv") in msg and "expected" in msg and "found" in msg


def test_csv_unparseable_lines_are_quarantined_with_their_line(tmp_path: Path) -> None:
    write_canonical_csv(tmp_path)
    with open(tmp_path / "interactions.csv", "a") as fh:
        fh.write("u1,t1\nu1,t2,3,1600000000,extra\n")
    report = ingest(CsvSource({"path": str(tmp_path)}), Store(tmp_path / "db.duckdb"))
    inter = report.tables["interactions"]
    assert inter.balanced and inter.quarantined == 2
    q = Store(tmp_path / "db.duckdb").query_df("SELECT * FROM quarantine WHERE reason LIKE 'unparseable%'")
    assert sorted(q["raw"]) == ["u1,t1", "u1,t2,3,1600000000,extra"]
    assert (q["source"] == "csv").all()


def test_lastfm_tags_become_genres_and_latin1_is_decoded(tmp_path: Path) -> None:
    facts = write_lastfm(tmp_path)
    data = LastfmHetrecSource({"path": str(tmp_path), "min_tag_users": 1}).load()
    tracks = data.tracks.to_pandas().set_index("track_id")
    assert len(tracks) == facts["artists"]
    assert tracks.loc["5", "genres"] == "música latina"  # tag 6 for artist 5, read as latin-1
    assert tracks.loc["3", "title"] == 'Björk "live"'  # quotes are literal in the tab files
    assert data.interactions.num_rows == facts["interactions"]


@pytest.mark.parametrize("writer,layout", [
    (write_movielens_100k, "100k"), (write_movielens_1m, "1m"), (write_movielens_latest, "latest"),
])
def test_movielens_layouts_are_detected(tmp_path: Path, writer: Any, layout: str) -> None:
    facts = writer(tmp_path)
    src = MovieLensSource({"path": str(tmp_path)})
    assert src.layout() == layout
    data = src.load()
    tracks = data.tracks.to_pandas()
    assert len(tracks) == facts["movies"] and data.interactions.num_rows == facts["interactions"]
    assert tracks["year"].notna().all()
    assert tracks["genres"].str.len().gt(0).any()
    report = ingest(src, Store(tmp_path / "db.duckdb"))
    assert report.tables["interactions"].accepted == facts["interactions"] and report.has_timestamps


def test_movielens_100k_genre_flags_and_latin1_titles(tmp_path: Path) -> None:
    write_movielens_100k(tmp_path)
    tracks = MovieLensSource({"path": str(tmp_path)}).load().tracks.to_pandas().set_index("track_id")
    assert tracks.loc["5", "title"] == "Café Society (1995)"
    assert tracks.loc["6", "genres"] == "unknown|Crime|Musical|Western"  # flags k with (6 + k) % 6 == 0


def test_spotify_needs_plays_or_simulation(tmp_path: Path) -> None:
    write_spotify(tmp_path)
    with pytest.raises(DataError, match="plays_file"):
        SpotifyTracksSource({"path": str(tmp_path)}).load()


def test_spotify_duplicates_share_an_id_and_are_merged(tmp_path: Path) -> None:
    facts = write_spotify(tmp_path)
    report = ingest(SpotifyTracksSource({"path": str(tmp_path), "simulate_users": 30}), Store(tmp_path / "db.duckdb"))
    t = report.tables["tracks"]
    assert t.rows_read == facts["rows"] and t.accepted == facts["distinct"] and t.merged == 1


def test_spotify_with_plays_file(tmp_path: Path) -> None:
    write_spotify(tmp_path)
    data = SpotifyTracksSource({"path": str(tmp_path), "simulate_users": 5}).load()
    ids = data.tracks.column("track_id").to_pylist()[:3]
    plays = tmp_path / "plays.csv"
    plays.write_text("user_id,track_id,plays\n" + "".join(f"u{k},{t},{k + 1}\n" for k, t in enumerate(ids)))
    data = SpotifyTracksSource({"path": str(tmp_path), "plays_file": str(plays)}).load()
    assert data.interactions.num_rows == 3


def test_music_info_genre_and_tags_are_combined(tmp_path: Path) -> None:
    write_music_info(tmp_path)
    tracks = MusicInfoSource({"path": str(tmp_path)}).load().tracks.to_pandas().set_index("track_id")
    assert tracks.loc["TR0000ABC", "genres"] == "Rock,electronic, dance"
    assert tracks.loc["TR0001ABC", "genres"] == "rock, alternative, indie"
