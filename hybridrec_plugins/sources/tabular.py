"""``csv`` and ``parquet``: the canonical schema from files, with an optional column mapping."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
from pydantic import Field, field_validator

from hybridrec_core.errors import DataError
from hybridrec_core.interfaces import DataSource, PluginConfig, SourceData
from hybridrec_core.interfaces.source import INTERACTION_REQUIRED, TRACK_REQUIRED, USER_REQUIRED
from hybridrec_core.fileio import concat_quarantine, read_delimited, read_parquet, rename_columns

_REQUIRED = {"interactions": INTERACTION_REQUIRED, "tracks": TRACK_REQUIRED, "users": USER_REQUIRED}


class _FileConfig(PluginConfig):
    path: str | None = Field(
        None, description="Folder holding interactions/tracks/users files with the default names (optional)."
    )
    interactions: str | None = Field(None, description="Interactions file (default: <path>/interactions.<ext>).")
    tracks: str | None = Field(None, description="Track catalogue file (default: <path>/tracks.<ext> if present).")
    users: str | None = Field(None, description="Users file (default: <path>/users.<ext> if present).")
    columns: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Per table, canonical column -> column in the file, e.g. {'interactions': {'plays': 'count'}}.",
    )

    @field_validator("columns")
    @classmethod
    def _tables(cls, v: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        bad = sorted(set(v) - set(_REQUIRED))
        if bad:
            raise ValueError(f"columns has unknown table(s) {bad}; use interactions, tracks, users")
        return v


class _FileSource(DataSource):
    extension: str = ""

    def _paths(self) -> dict[str, Path]:
        c = self.config
        base = Path(c.path) if c.path else None
        if base is not None and not base.is_dir():
            raise DataError(f"{self.name} source: path {base} is not a folder")
        out: dict[str, Path] = {}
        for table in ("interactions", "tracks", "users"):
            explicit = getattr(c, table)
            if explicit:
                out[table] = Path(explicit)
            elif base is not None:
                found = self._default(base, table)
                if found is not None:
                    out[table] = found
                elif table == "interactions":
                    out[table] = base / f"{table}.{self.extension}"  # reported as missing by the reader
        if "interactions" not in out:
            raise DataError(f"{self.name} source needs an interactions file: set 'interactions' or 'path'")
        return out

    def _default(self, base: Path, table: str) -> Path | None:
        p = base / f"{table}.{self.extension}"
        return p if p.exists() else None

    def _read(self, path: Path, table: str) -> tuple[pa.Table, pd.DataFrame | None]:
        raise NotImplementedError

    def load(self) -> SourceData:
        frames: dict[str, pa.Table] = {}
        rejects = []
        paths = self._paths()
        for table, p in paths.items():
            tbl, q = self._read(p, table)
            tbl = rename_columns(tbl, self.config.columns.get(table, {}), table, str(p))
            missing = [col for col in _REQUIRED[table] if col not in tbl.column_names]
            if missing:
                raise DataError(
                    f"{table} file {p} lacks required column(s) {missing}: expected {list(_REQUIRED[table])}, "
                    f"found {tbl.column_names} (map columns with the 'columns' parameter)"
                )
            frames[table] = tbl
            rejects.append(q)
        return SourceData(
            tracks=frames.get("tracks"), interactions=frames["interactions"], users=frames.get("users"),
            origin={t: str(p) for t, p in paths.items()}, quarantine=concat_quarantine(rejects),
        )


class CsvSource(_FileSource):
    """Canonical tables from delimited text files (header row; columns mapped if needed)."""

    name = "csv"
    description = "Canonical interactions / tracks / users from CSV (or other delimited) files."
    extension = "csv"

    class Config(_FileConfig):
        delimiter: str = Field(",", min_length=1, max_length=4, description="Field delimiter.")
        encoding: str = Field("utf-8", pattern=r"^(utf-8|utf8|latin-1|latin1|utf-16)$", description="Text encoding.")

    def _read(self, path: Path, table: str) -> tuple[pa.Table, pd.DataFrame | None]:
        mapping = self.config.columns.get(table, {})
        expected = [mapping.get(c, c) for c in _REQUIRED[table]]
        return read_delimited(path, table, expected=expected, delimiter=self.config.delimiter, encoding=self.config.encoding)


class ParquetSource(_FileSource):
    """Canonical tables from parquet files (or folders of parquet files), types preserved."""

    name = "parquet"
    description = "Canonical interactions / tracks / users from parquet files or folders."
    extension = "parquet"

    class Config(_FileConfig):
        pass

    def _default(self, base: Path, table: str) -> Path | None:
        for p in (base / f"{table}.parquet", base / table):  # a file, or a folder of parquet parts
            if p.exists():
                return p
        return None

    def _read(self, path: Path, table: str) -> tuple[pa.Table, pd.DataFrame | None]:
        mapping = self.config.columns.get(table, {})
        expected = [mapping.get(c, c) for c in _REQUIRED[table]]
        return read_parquet(path, table, expected=expected), None
