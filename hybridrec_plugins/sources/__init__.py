"""Built-in sources (entry point `sources` of the `hybridrec` group)."""

from hybridrec_core.hookspecs import Register, hookimpl
from hybridrec_plugins.sources.demo import DemoSource
from hybridrec_plugins.sources.lastfm_hetrec import LastfmHetrecSource
from hybridrec_plugins.sources.movielens import MovieLensSource
from hybridrec_plugins.sources.music_info import MusicInfoSource
from hybridrec_plugins.sources.spotify_tracks import SpotifyTracksSource
from hybridrec_plugins.sources.tabular import CsvSource, ParquetSource

SOURCES: tuple[type, ...] = (
    DemoSource, CsvSource, ParquetSource, LastfmHetrecSource, MovieLensSource, SpotifyTracksSource, MusicInfoSource,
)


@hookimpl
def register_sources(register: Register) -> None:
    """Register the built-in sources."""
    for cls in SOURCES:
        register(cls)
