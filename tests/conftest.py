"""Suite-wide settings and fixtures (kept small: area fixtures live in tests/<area>/conftest.py)."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Callable, Iterator

import pytest

TESTPLUGINS = Path(__file__).parent / "testplugins"

# Quiet progress bars and deterministic plugin loading for every test, whatever the shell says.
os.environ.setdefault("HYBRIDREC_PROGRESS", "0")
os.environ.setdefault("TQDM_DISABLE", "1")


@pytest.fixture(autouse=True)
def _plugin_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests start with all plugins loadable and non-strict loading, unless they set otherwise."""
    monkeypatch.delenv("HYBRIDREC_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("HYBRIDREC_STRICT_PLUGINS", raising=False)


@pytest.fixture
def data_dir() -> Path:
    """The public datasets folder (``HYBRIDREC_DATA_DIR``); skips when unset or missing."""
    raw = os.environ.get("HYBRIDREC_DATA_DIR")
    if not raw or not Path(raw).is_dir():
        pytest.skip("HYBRIDREC_DATA_DIR is not set (public datasets not available)")
    return Path(raw)


@pytest.fixture
def tmp_db(tmp_path: Path) -> Path:
    """Path of a fresh DuckDB file (not yet created) in the test's temporary folder."""
    return tmp_path / "hybridrec.duckdb"


@pytest.fixture
def install_test_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Path]]:
    """Install a package from ``tests/testplugins`` as a real distribution for this test.

    Writes ``<name>-<version>.dist-info`` with ``METADATA`` and ``entry_points.txt`` into a
    temporary site folder on ``sys.path``, so ``importlib.metadata`` finds its ``hybridrec`` entry
    points like a pip-installed plugin's. Undone after the test (sys.path, module cache).
    """
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(TESTPLUGINS))
    before = set(sys.modules)

    def install(dist: str, entry_points: dict[str, str], version: str = "1.0.0") -> Path:
        info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        eps = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
        (info / "entry_points.txt").write_text(f"[hybridrec]\n{eps}")
        importlib.invalidate_caches()
        return info

    yield install
    for name in set(sys.modules) - before:
        if name.startswith("hrtest_"):
            del sys.modules[name]
    importlib.invalidate_caches()
