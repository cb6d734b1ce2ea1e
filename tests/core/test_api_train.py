"""api.train: every model's history carries its training time, baselines included; a FeatureSet
holding one rank's shard of the training split is refused wherever the whole split is needed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from hybridrec_core import api
from hybridrec_core.artifacts import read_manifest
from hybridrec_core.dataset import FeatureSet, TrainShard, WholeTrainRequired
from hybridrec_core.errors import ConfigError
from hybridrec_core.interfaces import FitContext, PluginKind
from hybridrec_core.plugins import get_plugin_manager
from hybridrec_core.testing import toy_feature_set


def test_baselines_get_wall_clock_training_seconds(tmp_path: Path) -> None:
    cfg = api.default_config(models=[{"name": "popularity"}, {"name": "item_knn"}],
                             storage={"database": str(tmp_path / "db.duckdb"), "artifacts_dir": str(tmp_path / "art")})
    trained = api.train(cfg, toy_feature_set())
    for name, t in trained.items():
        assert t.history.seconds > 0, name
        assert read_manifest(t.artifact)["history"]["seconds"] == t.history.seconds


def shard_of(fs: FeatureSet, rank: int, world: int) -> FeatureSet:
    """What load_features(shard=(rank, world)) returns, made in memory from a whole FeatureSet."""
    facts = TrainShard(rank, world, len(fs.train), fs.fingerprint(), fs.item_popularity())
    return dataclasses.replace(fs, splits={**fs.splits, "train": fs.train.subset(fs.train.user % world == rank)},
                               train_shard=facts)


def config(tmp_path: Path, *models: str) -> api.PipelineConfig:
    return api.default_config(models=[{"name": m} for m in models], device="cpu",
                              storage={"database": str(tmp_path / "db.duckdb"), "artifacts_dir": str(tmp_path / "art")})


def test_a_shard_answers_for_the_whole_split() -> None:
    whole = toy_feature_set()
    part = shard_of(whole, 1, 2)
    assert 0 < len(part.train) < len(whole.train) and part.train_rows == whole.train_rows == len(whole.train)
    assert part.fingerprint() == whole.fingerprint()
    np.testing.assert_array_equal(part.item_popularity(), whole.item_popularity())
    assert part.item_popularity() is not part.train_shard.item_popularity  # callers may modify their copy


@pytest.mark.parametrize("model", ["popularity", "item_knn", "mf"])
def test_models_that_need_the_whole_split_refuse_a_shard(tmp_path: Path, model: str) -> None:
    part = shard_of(toy_feature_set(), 0, 2)
    with pytest.raises(WholeTrainRequired, match=f"model '{model}' needs the whole training split.*shard 0 of 2"):
        api.train(config(tmp_path, model), part)
    with pytest.raises(WholeTrainRequired, match="shard 0 of 2"):  # fitted directly, too
        get_plugin_manager().create(PluginKind.MODEL, model).fit(part, FitContext(device="cpu"))
    assert not (tmp_path / "art" / "models" / model).exists()


def test_a_shard_trains_only_on_its_own_rank(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"training split is shard 1 of 2 .*, but training runs as one process"):
        api.train(config(tmp_path, "hybrid"), shard_of(toy_feature_set(), 1, 2))


def test_evaluation_and_seen_item_exclusion_need_the_whole_split(tmp_path: Path) -> None:
    whole = toy_feature_set()
    cfg = config(tmp_path, "popularity")
    model = api.train(cfg, whole)["popularity"].model
    part = shard_of(whole, 0, 2)
    with pytest.raises(WholeTrainRequired, match="evaluation"):
        api.evaluate(cfg, part, {"popularity": model})
    with pytest.raises(WholeTrainRequired, match="exclude_seen"):
        api.recommend(cfg, part, model, k=5)
    assert len(api.recommend(cfg, whole, model, k=5)) > 0
