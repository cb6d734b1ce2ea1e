"""Data source plugins turn files or generators into canonical tables."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pandas as pd

from hybridrec_core.interfaces.base import Plugin, PluginKind

# Canonical columns (see README "Data model"). Optional columns may be absent or null.
TRACK_COLUMNS: tuple[str, ...] = (
    "track_id", "title", "artist_id", "artist_name", "genres",
    "danceability", "energy", "loudness", "speechiness", "acousticness",
    "instrumentalness", "liveness", "valence", "tempo",
    "explicit", "mode", "year", "duration_ms",
)
TRACK_REQUIRED: tuple[str, ...] = ("track_id",)
USER_REQUIRED: tuple[str, ...] = ("user_id",)
INTERACTION_COLUMNS: tuple[str, ...] = ("user_id", "track_id", "plays", "timestamp")
INTERACTION_REQUIRED: tuple[str, ...] = ("user_id", "track_id", "plays")


@dataclass
class SourceData:
    """Canonical tables as a source read them, before validation.

    ``tracks`` / ``interactions`` / ``users`` are anything DuckDB can scan (pandas DataFrame or
    pyarrow Table). ``origin`` names where each table came from (file path), for error messages.
    ``quarantine`` holds rows the source itself could not parse, with columns
    ``table, row_number, reason, raw`` (the ingest engine adds its own).
    ``user_flags`` (optional) is ``user_id`` plus one boolean column per flag (e.g. ``no_explicit``),
    validated into the ``user_flags`` table that re-rankers see as ``RerankContext.user_flags``; a
    ``user_flags.path`` file in the pipeline config replaces it.
    """

    tracks: Any
    interactions: Any
    users: Any | None = None
    origin: dict[str, str] = field(default_factory=dict)
    quarantine: pd.DataFrame | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    user_flags: Any | None = None


class DataSource(Plugin):
    """Reads one dataset layout into :class:`SourceData`."""

    kind: ClassVar[PluginKind] = PluginKind.SOURCE

    @abstractmethod
    def load(self) -> SourceData:
        """Read the data. Raise :class:`hybridrec_core.errors.DataError` naming the file when a
        file cannot be used at all."""
