"""Opt-in tier: every adapter on the real public datasets (``HYBRIDREC_DATA_DIR``, -m realdata).

Row counts are the ones documented in each dataset folder's README.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hybridrec_core.config import PipelineConfig
from hybridrec_core.features import build_features
from hybridrec_core.ingest import ingest
from hybridrec_core.plugins import get_plugin_manager
from hybridrec_core.storage import Store

pytestmark = pytest.mark.realdata


@pytest.fixture
def data_root(data_dir: Path) -> Path:
    """The suite-wide ``data_dir`` fixture (skips when HYBRIDREC_DATA_DIR is unset)."""
    return data_dir


CASES = [
    # (source, folder, extra params, interactions accepted, tracks accepted)
    ("lastfm_hetrec", "hetrec2011-lastfm-2k", {}, 92_834, 17_632),
    ("movielens", "movielens-100k", {}, 100_000, 1_682),
    ("movielens", "movielens-latest-small", {}, 100_836, 9_742),
]


@pytest.mark.parametrize("source,folder,params,n_inter,n_tracks", CASES, ids=[c[1] for c in CASES])
def test_real_dataset_ingests_cleanly(data_root: Path, tmp_path: Path, source: str, folder: str, params: dict,
                                      n_inter: int, n_tracks: int) -> None:
    path = data_root / folder
    if not path.is_dir():
        pytest.skip(f"{path} not present")
    src = get_plugin_manager().create("source", source, {"path": str(path), **params})
    store = Store(tmp_path / "real.duckdb")
    report = ingest(src, store)
    inter, tracks = report.tables["interactions"], report.tables["tracks"]
    for rep in report.tables.values():
        assert rep.rows_read == rep.accepted + rep.quarantined + rep.merged
    assert inter.accepted == n_inter and inter.quarantined == 0
    assert tracks.accepted == n_tracks
    fs = build_features(store, PipelineConfig())
    assert fs.n_items == n_tracks + 1 and len(fs.train) > 0.6 * n_inter
    assert fs.n_genres > 10


def test_spotify_top_hits_catalogue(data_root: Path, tmp_path: Path) -> None:
    path = data_root / "spotify-top-hits-2000-2019"
    if not path.is_dir():
        pytest.skip(f"{path} not present")
    src = get_plugin_manager().create("source", "spotify_tracks", {"path": str(path), "simulate_users": 300})
    report = ingest(src, Store(tmp_path / "real.duckdb"))
    t = report.tables["tracks"]
    assert t.rows_read == 2000 and t.quarantined == 0
    # README: 1,926 distinct (artist, song) pairs; ids are case-insensitive, which merges one more pair
    assert t.accepted == 1925 and t.merged == 75
