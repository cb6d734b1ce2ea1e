"""Conformance tests for data source plugins.

Usage::

    class TestMySource(SourceTests):
        plugin_class = MySource

        def source_params(self, tmp_path):        # write fixture files, return params
            write_my_files(tmp_path)
            return {"path": str(tmp_path)}

Checks: canonical columns, deterministic loads, a clean ingest into a real DuckDB file with the
row identity (read == accepted + quarantined + merged), and a DataError naming the file for a
missing file (``missing_params``) and for unusable input (``broken_params``, optional).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hybridrec_core.errors import DataError
from hybridrec_core.interfaces import DataSource
from hybridrec_core.interfaces.source import INTERACTION_REQUIRED, TRACK_REQUIRED
from hybridrec_core.storage import Store
from hybridrec_core.testing.base import PluginTests


def _columns(table: Any) -> list[str]:
    return list(table.column_names) if hasattr(table, "column_names") else list(table.columns)


def _rows(table: Any) -> int:
    return int(table.num_rows) if hasattr(table, "num_rows") else len(table)


class SourceTests(PluginTests):
    """Behaviour every source must show on good, empty and broken input."""

    def source_params(self, tmp_path: Path) -> dict[str, Any]:
        """Params for a small, valid dataset (write fixture files under ``tmp_path``)."""
        return dict(self.example_params)

    def missing_params(self, tmp_path: Path) -> tuple[dict[str, Any], str] | None:
        """Params pointing at a file that does not exist, and the path the error must name."""
        return None

    def broken_params(self, tmp_path: Path) -> tuple[dict[str, Any], str] | None:
        """Params for unusable input (wrong columns/delimiter), and the path the error must name."""
        return None

    def source(self, tmp_path: Path) -> DataSource:
        return self.plugin_class(self.source_params(tmp_path))

    def test_load_gives_canonical_tables(self, tmp_path: Path) -> None:
        data = self.source(tmp_path).load()
        cols = _columns(data.interactions)
        assert set(INTERACTION_REQUIRED) <= set(cols), cols
        assert _rows(data.interactions) > 0
        if data.tracks is not None:
            assert set(TRACK_REQUIRED) <= set(_columns(data.tracks))

    def test_load_is_deterministic(self, tmp_path: Path) -> None:
        a, b = self.source(tmp_path).load(), self.source(tmp_path).load()
        for name in ("interactions", "tracks"):
            x, y = getattr(a, name), getattr(b, name)
            if x is None:
                assert y is None
                continue
            assert _columns(x) == _columns(y)
            fx = x.to_pandas() if hasattr(x, "to_pandas") else x
            fy = y.to_pandas() if hasattr(y, "to_pandas") else y
            assert fx.equals(fy), f"{name} differs between two loads"

    def test_ingest_accounts_for_every_row(self, tmp_path: Path) -> None:
        from hybridrec_core.ingest import ingest

        store = Store(tmp_path / "conformance.duckdb")
        report = ingest(self.source(tmp_path), store)
        for table, rep in report.tables.items():
            assert rep.rows_read == rep.accepted + rep.quarantined + rep.merged, (table, rep)
        assert report.tables["interactions"].accepted > 0
        assert store.row_count("raw_interactions") == report.tables["interactions"].accepted
        assert store.row_count("quarantine") == report.quarantined

    def test_missing_file_is_a_data_error(self, tmp_path: Path) -> None:
        case = self.missing_params(tmp_path)
        if case is None:
            pytest.skip("source reads no files")
        params, path = case
        with pytest.raises(DataError, match=_pattern(path)):
            self.plugin_class(params).load()

    def test_broken_input_is_a_data_error(self, tmp_path: Path) -> None:
        case = self.broken_params(tmp_path)
        if case is None:
            pytest.skip("no broken-input case for this source")
        params, path = case
        with pytest.raises(DataError, match=_pattern(path)) as info:
            self.plugin_class(params).load()
        assert "expected" in str(info.value) or "found" in str(info.value) or "none of" in str(info.value)


def _pattern(path: str) -> str:
    import re

    return re.escape(str(path))
