"""The model asset trains data-parallel through dagster-pipes: torchrun with 2 gloo ranks in a
subprocess, the child's logs and metadata in the run, and the artifact the in-process path writes;
a failing rank fails the step with an error that names it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from dagster import DagsterInstance, materialize

from dagster_project.resources import default_resources
from hybridrec_core import api

from dagster_testkit import make_definitions, materialization_metadata, materialize_all, materialized_keys, small_config

UPSTREAM = ["raw_tracks", "raw_users", "raw_interactions", "quarantine", "user_flags", "feature_tables", "splits"]


def train_hybrid(world: dict):
    """Materialize only model_hybrid (not its model check, which also needs the popularity artifact)."""
    return materialize(list(world["defs"].assets), instance=world["instance"], resources=world["defs"].resources,
                       selection=["model_hybrid"], run_config=launch(), raise_on_error=False)


def launch(**extra: object) -> dict:
    """Run config of the hybrid model asset: 2 CPU ranks, a short collective timeout."""
    config = {"distributed": True, "world_size": 2, "backend": "gloo", "timeout_s": 60, "threads_per_rank": 1, **extra}
    return {"ops": {"model_hybrid": {"config": config}}}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("dagster_ddp")
    config = small_config()
    definitions = make_definitions(tmp, config)
    with DagsterInstance.ephemeral() as instance:
        upstream = materialize_all(definitions, instance=instance, selection=UPSTREAM)
        assert upstream.success
        yield {"tmp": tmp, "config": config, "defs": definitions, "instance": instance}


def test_default_resources_carry_a_pipes_client() -> None:
    assert "pipes_subprocess_client" in default_resources("x.duckdb", "art")


def test_model_asset_trains_with_two_ranks_through_pipes(world, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HYBRIDREC_FAIL_RANK", raising=False)
    result = train_hybrid(world)
    assert result.success and materialized_keys(result) == {"model_hybrid"}

    meta = materialization_metadata(result, "model_hybrid")
    # reported by rank 0 through pipes
    assert meta["world_size"].value == 2 and meta["backend"].value == "gloo" and meta["data_parallel"].value is True
    assert meta["epochs"].value == 4 and meta["training_seconds"].value > 0
    assert 0.0 < meta["best_validation_metric"].value <= 1.0 and meta["monitor"].value.startswith("val_")
    # added by the step from the artifact's manifest
    assert meta["parameters"].value["embedding_dim"] == 16 and meta["version"].value and "history" in meta

    messages = [e.user_message for e in world["instance"].all_logs(result.run_id)]
    assert any("epoch 3:" in m for m in messages), "rank 0's epoch log lines arrive through pipes"

    cfg = world["config"]
    cfg = cfg.model_copy(update={"storage": cfg.storage.model_copy(update={
        "database": str(world["tmp"] / "hybridrec.duckdb"), "artifacts_dir": str(world["tmp"] / "artifacts")})})
    features = api.load_features(cfg)
    loaded = api.load_trained(cfg, features, "hybrid")
    assert Path(meta["artifact"].value) == loaded.artifact
    assert loaded.history.extra["world_size"] == 2 and loaded.history.best_metric == pytest.approx(
        meta["best_validation_metric"].value)
    scores = loaded.model.score_items(np.array([1, 2]))
    assert tuple(scores.shape) == (2, features.n_items) and bool(scores.isfinite().all())


def test_a_failing_rank_fails_the_step_and_names_the_rank(world, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYBRIDREC_FAIL_RANK", "1")  # test hook, inherited by torchrun's ranks
    result = train_hybrid(world)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    text = str(failure.step_failure_data.error)
    assert "rank 1 of 2 failed at epoch 0" in text and "injected failure" in text, text
