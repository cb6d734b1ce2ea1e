"""api.train: every model's history carries its training time, baselines included."""

from __future__ import annotations

from pathlib import Path

from hybridrec_core import api
from hybridrec_core.artifacts import read_manifest
from hybridrec_core.testing import toy_feature_set


def test_baselines_get_wall_clock_training_seconds(tmp_path: Path) -> None:
    cfg = api.default_config(models=[{"name": "popularity"}, {"name": "item_knn"}],
                             storage={"database": str(tmp_path / "db.duckdb"), "artifacts_dir": str(tmp_path / "art")})
    trained = api.train(cfg, toy_feature_set())
    for name, t in trained.items():
        assert t.history.seconds > 0, name
        assert read_manifest(t.artifact)["history"]["seconds"] == t.history.seconds
