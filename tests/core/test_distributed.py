"""Data-parallel training under torchrun: 2 gloo ranks on CPU against one process.

What equality to expect (also in docs/distributed.md):

- Engine level, a model with no randomness (no dropout, no BatchNorm, no sampling): 2 ranks with
  global batch B match one process with batch B to float reduction order (atol 1e-5 after 6
  epochs), for full-batch steps against the plain single-process engine and for several steps per
  epoch (uneven shards included) against a 1-rank process group. This pins the sharding, the DDP
  gradient average and the hand-made sparse-gradient all-gather. With per-rank shards of unequal
  size (2:1), full-batch steps still match one process to atol 1e-5 (the loss scaling makes the
  gradient the global-batch mean), and with several steps per epoch every rank covers exactly its
  shard once per epoch in the same number of steps.
- The hybrid model on demo data, each rank reading only its shard of the training split: batch
  composition (per-rank shuffles of per-user shards) and random streams (negatives, id masking,
  dropout) are per rank and BatchNorm sees per-rank batches, so 2 ranks agree with one process
  statistically: per-epoch training loss within 2% (relative), the sampled validation NDCG@10
  early stopping watches within 0.02 and the full-ranking test NDCG@10 within 0.05. Measured over
  training seeds 7-12 on this data (160 users, split of seed 7): at most 1.1%, 0.008 and 0.022;
  one process alone spans 0.032 in test NDCG@10 across those seeds, so the test bound is about
  the seed-to-seed noise, not a sign of bias. The artifact's history must record that each rank
  trained on exactly its users' rows.
- A failing rank ends the job with a non-zero exit and an error naming it; a hanging rank is
  caught by the process-group timeout. Every subprocess has a timeout, so no test can hang.

This file is also the worker script torchrun runs for the engine-level test (see ``__main__``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import yaml
from torch import nn

from hybridrec_core.artifacts import FingerprintWarning
from hybridrec_core.dataset import TrainShard
from hybridrec_core.distributed import DistributedContext, init_distributed, shard_bounds, shard_step_cuts, shutdown
from hybridrec_core.errors import ConfigError
from hybridrec_core.interfaces import FitContext
from hybridrec_core.seeding import seed_everything
from hybridrec_core.training import TrainSettings, TrainTask, fit_module

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
RUN_TIMEOUT_S = 120  # subprocess limit: a hang fails the test instead of blocking the suite
ENGINE_SAMPLES = 400
ENGINE_ATOL = 1e-5
SHARDED_BATCH = 60  # 7 steps per epoch over the engine's 400 samples
LOSS_REL_TOL = 0.02
VAL_NDCG_TOL = 0.02
TEST_NDCG_TOL = 0.05

torch.set_num_threads(1)


def child_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HYBRIDREC_PROGRESS": "0", "TQDM_DISABLE": "1", **extra}
    for key in ("HYBRIDREC_FAIL_RANK", "HYBRIDREC_FAIL_EPOCH", "HYBRIDREC_FAIL_MODE"):
        if key not in extra:
            env.pop(key, None)
    return env


def torchrun(args: list[str], **env: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    proc = subprocess.run(
        [*TORCHRUN, *args], capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=child_env(**env),
        cwd=Path(__file__).resolve().parents[2],
    )
    return proc, time.monotonic() - started


# -- engine level: a deterministic model ---------------------------------------------------------
class Plain(nn.Module):
    """Sparse embedding + linear head, nothing random: only float reduction order differs."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(50, 4, sparse=True)
        self.lin = nn.Linear(4, 1)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.lin(self.emb(idx))[:, 0]


def shard_rows(rank: int) -> torch.Tensor:
    """Unequal shards of the engine's samples (2:1): rank 1 holds every third one, rank 0 the rest."""
    i = torch.arange(ENGINE_SAMPLES)
    return i[(i % 3 == 0) == (rank == 1)]


def engine_run(batch_size: int, distributed: DistributedContext | None, sharded: bool = False) -> dict:
    """Train ``Plain`` on 400 fixed samples; ``sharded``: this rank holds only ``shard_rows(rank)``.
    ``batches`` lists the global sample ids of every step, in order."""
    seed_everything(5)
    module = Plain()
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 50, (ENGINE_SAMPLES,), generator=g)
    y = (x % 5).float()
    rows = shard_rows(distributed.rank) if sharded and distributed is not None else torch.arange(ENGINE_SAMPLES)
    xs, ys = x[rows], y[rows]
    batches: list[list[int]] = []

    def loss(idx: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        batches.append(rows[idx].tolist())
        return ((module(xs[idx]) - ys[idx]) ** 2).mean()

    def val() -> dict[str, float]:
        return {"val_mse": float(((module(x) - y) ** 2).mean())}

    shard = None
    if sharded and distributed is not None:
        shard = TrainShard(distributed.rank, distributed.world_size, ENGINE_SAMPLES, "engine", np.zeros(1))
    task = TrainTask(module=module, n_samples=len(rows), batch_loss=loss, validate=val, monitor="val_mse")
    settings = TrainSettings(epochs=6, batch_size=batch_size, learning_rate=0.05, lr_patience=1, early_stopping_patience=3)
    context = FitContext(seed=5, device="cpu", distributed=distributed, train_shard=shard)
    history = fit_module(task, settings, context)
    return {"state": {k: v.clone() for k, v in module.state_dict().items()}, "history": history.to_dict(), "batches": batches}


def one_rank_group(batch_size: int) -> dict:
    """The data-parallel path with a world of one, in this process (the multi-step reference)."""
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        ctx = DistributedContext(rank=0, world_size=1, local_rank=0, backend="gloo", device=torch.device("cpu"), timeout_s=30)
        return engine_run(batch_size, ctx)
    finally:
        dist.destroy_process_group()


def assert_same_run(got: dict, want: dict, atol: float) -> None:
    for key, value in want["state"].items():
        torch.testing.assert_close(got["state"][key], value, rtol=0, atol=atol, msg=key)
    assert [e["epoch"] for e in got["history"]["epochs"]] == [e["epoch"] for e in want["history"]["epochs"]]
    assert got["history"]["best_epoch"] == want["history"]["best_epoch"]
    for a, b in zip(got["history"]["epochs"], want["history"]["epochs"]):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5, abs=1e-6)
        assert a["val_mse"] == pytest.approx(b["val_mse"], rel=1e-5, abs=1e-6)
        assert a["lr"] == b["lr"]


def test_shards_are_disjoint_and_cover_every_batch() -> None:
    for m in (2, 7, 60, 64, 401):
        for world in (1, 2, 3, 8):
            bounds = [shard_bounds(m, world, r) for r in range(world)]
            assert bounds[0][0] == 0 and bounds[-1][1] == m
            assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
            sizes = [hi - lo for lo, hi in bounds]
            assert max(sizes) - min(sizes) <= 1


def test_shard_step_cuts_cover_each_shard_once_in_the_same_number_of_steps() -> None:
    for counts in ([2, 2], [266, 134], [1000, 3], [5, 7, 9], [401], [1024, 1024, 1023, 2]):
        for batch_size in (1, 2, 60, 256, 5000):
            cuts = shard_step_cuts(counts, batch_size)
            steps = len(cuts) - 1
            assert steps == max(1, min(-(-sum(counts) // batch_size), min(counts) // 2)), (counts, batch_size)
            assert cuts[0].tolist() == [0] * len(counts) and cuts[-1].tolist() == counts
            sizes = np.diff(cuts, axis=0)
            assert sizes.min() >= 2  # every rank trains at every step, with a BatchNorm-safe share
            assert (sizes.max(0) - sizes.min(0)).max() <= 1
            assert (sizes.max(0) == -(-np.asarray(counts) // steps)).all()  # local batch = ceil(rows / steps)
    assert len(shard_step_cuts([500, 500], 256)) - 1 == 4  # balanced shards: ceil(1000 / 256) steps
    with pytest.raises(ValueError, match="at least two"):
        shard_step_cuts([10, 1], 4)


def test_a_shard_must_belong_to_the_training_rank() -> None:
    shard = TrainShard(1, 2, ENGINE_SAMPLES, "engine", np.zeros(1))
    task = TrainTask(module=Plain(), n_samples=10, batch_loss=lambda idx, gen: torch.zeros(()))
    with pytest.raises(ConfigError, match="shard 1 of 2.*not set"):
        fit_module(task, TrainSettings(epochs=1), FitContext(device="cpu", train_shard=shard))
    ctx = DistributedContext(rank=0, world_size=2, local_rank=0, backend="gloo", device=torch.device("cpu"))
    with pytest.raises(ConfigError, match="shard 1 of 2.*rank 0 of 2"):
        fit_module(task, TrainSettings(epochs=1), FitContext(device="cpu", distributed=ctx, train_shard=shard))


@pytest.fixture(scope="module")
def engine_ranks(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], float]:
    """The torchrun worker's results of both ranks (whole-split and sharded engine runs)."""
    out = tmp_path_factory.mktemp("engine")
    proc, seconds = torchrun([__file__, str(out)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(2)], seconds


def test_two_ranks_equal_one_process_on_a_deterministic_model(engine_ranks: tuple[list[dict], float]) -> None:
    ranks, seconds = engine_ranks
    for key in (ENGINE_SAMPLES, 60, f"shard{ENGINE_SAMPLES}", f"shard{SHARDED_BATCH}"):
        for name, value in ranks[0][key]["state"].items():  # every rank ends with the same weights
            torch.testing.assert_close(ranks[1][key]["state"][name], value, rtol=0, atol=0, msg=name)
        assert ranks[0][key]["history"]["extra"]["world_size"] == 2
    # whole split on every rank: full batch, and 7 steps per epoch with a short last one
    assert_same_run(ranks[0][ENGINE_SAMPLES], engine_run(ENGINE_SAMPLES, None), ENGINE_ATOL)
    assert_same_run(ranks[0][60], one_rank_group(60), ENGINE_ATOL)
    # unequal shards (266 and 134 rows), one full-batch step per epoch: still the one-process run
    assert_same_run(ranks[0][f"shard{ENGINE_SAMPLES}"], engine_run(ENGINE_SAMPLES, None), ENGINE_ATOL)
    assert seconds < 60


def test_sharded_ranks_cover_only_their_rows_once_per_epoch_in_lockstep(engine_ranks: tuple[list[dict], float]) -> None:
    runs = [rank[f"shard{SHARDED_BATCH}"] for rank in engine_ranks[0]]
    counts = [len(shard_rows(r)) for r in range(2)]
    steps = -(-ENGINE_SAMPLES // SHARDED_BATCH)
    for rank, run in enumerate(runs):
        extra = run["history"]["extra"]
        assert extra["train_sharded"] is True and extra["rank_samples"] == counts and extra["steps_per_epoch"] == steps
        epochs = len(run["history"]["epochs"])
        assert epochs >= 2 and len(run["batches"]) == epochs * steps  # no rank skips a step
        orders = []
        for e in range(epochs):
            batches = run["batches"][e * steps : (e + 1) * steps]
            assert max(map(len, batches)) == -(-counts[rank] // steps)
            seen = [i for b in batches for i in b]
            assert sorted(seen) == shard_rows(rank).tolist()  # its own rows, each exactly once
            orders.append(seen)
        assert orders[0] != orders[1]  # reshuffled every epoch


# -- the real entry point on demo data -------------------------------------------------------------
# warm_start "none": the ALS backbone needs the whole split, so sharded runs of an "auto" ranking
# model train without it; pinning it makes the single-process comparison like for like.
HYBRID = {"embedding_dim": 16, "hidden_layers": [32], "epochs": 4, "batch_size": 256, "learning_rate": 0.01, "warm_start": "none",
          "valid_protocol": "sampled"}  # full-ranking validation on a shard sees only rank 0's users


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A small demo store (4000 plays) with built features, and its config file."""
    from hybridrec_core import api

    tmp = tmp_path_factory.mktemp("distributed")
    data = {
        "seed": 7,
        "device": "cpu",
        "source": {"name": "demo", "params": {
            "n_users": 160, "n_tracks": 150, "n_artists": 30, "n_genres": 5, "n_interactions": 4000, "seed": 7,
        }},
        "models": [{"name": "hybrid", "params": HYBRID}, {"name": "popularity"}],
        "metrics": [{"name": "ranking"}],
        "storage": {"database": str(tmp / "hybridrec.duckdb"), "artifacts_dir": str(tmp / "single")},
    }
    path = tmp / "pipeline.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    cfg = api.load_config(path)
    store = api.open_store(cfg)
    api.ingest(cfg, store)
    features = api.build_features(cfg, store)
    return {"tmp": tmp, "config_path": path, "config": cfg, "features": features}


def entry(demo: dict, artifacts: Path, *extra: str, **env: str) -> tuple[subprocess.CompletedProcess[str], float]:
    return torchrun(
        ["-m", "hybridrec_core.distributed_train", "--config", str(demo["config_path"]), "--models", "hybrid",
         "--artifacts-dir", str(artifacts), "--backend", "gloo", *extra],
        **env,
    )


def test_two_ranks_match_single_process_training(demo: dict) -> None:
    from hybridrec_core import api

    cfg, features = demo["config"], demo["features"]
    trained = api.train(cfg, features, models=["hybrid", "popularity"])
    single = trained["hybrid"]
    proc, seconds = entry(demo, demo["tmp"] / "dp", "--timeout-s", "60", "--models", "popularity")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("trained hybrid") == 1  # rank 0 reports and saves; rank 1 stays quiet
    dp_cfg = cfg.model_copy(update={"storage": cfg.storage.model_copy(update={"artifacts_dir": str(demo["tmp"] / "dp")})})
    with warnings.catch_warnings():
        warnings.simplefilter("error", FingerprintWarning)  # saved from a shard, the whole split's fingerprint
        loaded = api.load_trained(dp_cfg, features, "hybrid")  # the artifact loads like a single-process one
        popularity = api.load_trained(dp_cfg, features, "popularity")
    h, s = loaded.history, single.history
    assert h.extra["world_size"] == 2 and h.extra["backend"] == "gloo" and len(h.epochs) == len(s.epochs) == 4
    # each rank trained on exactly its users' rows: counts from the whole split, per user_idx % 2
    per_rank = np.bincount(features.train.user % 2, minlength=2).tolist()
    assert h.extra["train_sharded"] is True and h.extra["rank_samples"] == per_rank and sum(per_rank) == len(features.train)
    assert h.extra["steps_per_epoch"] == -(-len(features.train) // HYBRID["batch_size"])
    assert f"rank 0 read {per_rank[0]} of {len(features.train)} training rows" in proc.stderr
    # a model that needs the whole split was given it (and refused a shard)
    assert "popularity needs the whole training split" in proc.stderr
    torch.testing.assert_close(popularity.model.score_items(np.array([1])), trained["popularity"].model.score_items(np.array([1])))
    for a, b in zip(h.epochs, s.epochs):
        assert a["loss"] == pytest.approx(b["loss"], rel=LOSS_REL_TOL), (a, b)
    assert abs(h.best_metric - s.best_metric) < VAL_NDCG_TOL, (h.best_metric, s.best_metric)
    result = api.evaluate(cfg, features, {"single": single.model, "dp": loaded.model})
    frame = result.to_frame()
    ndcg = frame[(frame.segment == "overall") & (frame.metric == "ndcg@10")].set_index("model")["value"]
    assert abs(ndcg["dp"] - ndcg["single"]) < TEST_NDCG_TOL, ndcg.to_dict()
    assert ndcg["dp"] > 0.1
    print(f"\nsingle vs 2 ranks: val {s.best_metric:.4f} vs {h.best_metric:.4f}, "
          f"test ndcg@10 {ndcg['single']:.4f} vs {ndcg['dp']:.4f}, torchrun {seconds:.1f}s")


def test_sharded_regression_warm_start_fits_the_whole_splits_biases(demo: dict) -> None:
    """The regression warm start sums over training rows; on shards those sums are all-reduced, so
    the 2-rank model holds exactly the biases one process fits on the whole split."""
    from hybridrec_core import api
    from hybridrec_plugins.models.hybrid import HybridMusicRecommender

    params = {**HYBRID, "objective": "regression", "epochs": 1, "warm_start": "auto"}  # auto: bias
    data = yaml.safe_load(demo["config_path"].read_text(encoding="utf-8"))
    data["models"] = [{"name": "hybrid", "params": params}]
    path = demo["tmp"] / "regression.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    artifacts = demo["tmp"] / "dp_regression"
    proc, _ = torchrun(["-m", "hybridrec_core.distributed_train", "--config", str(path), "--artifacts-dir",
                        str(artifacts), "--backend", "gloo", "--timeout-s", "60"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cfg = api.load_config(path)
    cfg = cfg.model_copy(update={"storage": cfg.storage.model_copy(update={"artifacts_dir": str(artifacts)})})
    features = demo["features"]
    loaded = api.load_trained(cfg, features, "hybrid")
    assert loaded.history.extra["train_sharded"] is True
    whole = HybridMusicRecommender(params)
    whole._build(features, torch.device("cpu"))
    whole._bias_warm_start(features)
    for name in ("user_bias", "item_bias"):
        torch.testing.assert_close(getattr(loaded.model.net, name).weight, getattr(whole.net, name).weight, atol=1e-6, rtol=0)


def test_a_failing_rank_ends_the_run_is_named_and_the_rerun_resumes(demo: dict) -> None:
    from hybridrec_core import api

    out = demo["tmp"] / "fail"
    proc, seconds = entry(demo, out, "--timeout-s", "30", HYBRIDREC_FAIL_RANK="1")
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0 and seconds < 60
    assert "rank 1 of 2 failed at epoch 0: injected failure after epoch 0" in text, text[-3000:]
    root_cause = text[text.index("Root Cause"):]
    assert re.search(r"rank\s*:\s*1 \(local_rank: 1\)", root_cause), root_cause  # torchrun's summary
    art = out / "models" / "hybrid"
    assert not (art / "model.json").exists()  # nothing half-trained was published...
    assert (art / "checkpoints" / "last.pt").exists()  # ...but rank 0 left its crash checkpoint

    proc, _ = entry(demo, out, "--timeout-s", "30")  # both ranks resume from rank 0's checkpoint
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cfg = demo["config"]
    cfg = cfg.model_copy(update={"storage": cfg.storage.model_copy(update={"artifacts_dir": str(out)})})
    history = api.load_trained(cfg, demo["features"], "hybrid").history
    assert history.extra["resumed_from_epoch"] == 1 and len(history.epochs) == 4
    assert not (art / "checkpoints" / "last.pt").exists()


def test_a_hanging_rank_is_caught_by_the_process_group_timeout(demo: dict) -> None:
    out = demo["tmp"] / "hang"
    # The timeout bounds every collective from the rendezvous on: at 5 s a rank that starts or
    # loads its shard slowly on a busy machine (the suite runs two workers on two cores) can trip
    # it before epoch 1, and the run then fails at the wrong place.
    proc, seconds = entry(demo, out, "--timeout-s", "15", HYBRIDREC_FAIL_RANK="1", HYBRIDREC_FAIL_MODE="hang")
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "rank 0 of 2 failed at epoch 1" in text and "15s process-group timeout" in text, text[-3000:]
    assert re.search(r"rank\s*:\s*1 \(local_rank: 1\)\s*\n\s*exitcode\s*:\s*-15", text)  # the hung rank, stopped
    assert not (out / "models" / "hybrid" / "model.json").exists()
    assert 15 <= seconds < 90


if __name__ == "__main__":  # torchrun worker for test_two_ranks_equal_one_process_on_a_deterministic_model
    out_dir = Path(sys.argv[1])
    ctx = init_distributed("gloo", timeout_s=30, device="cpu")
    try:
        results: dict = {bs: engine_run(bs, ctx) for bs in (ENGINE_SAMPLES, 60)}
        results.update({f"shard{bs}": engine_run(bs, ctx, sharded=True) for bs in (ENGINE_SAMPLES, SHARDED_BATCH)})
    finally:
        shutdown()
    torch.save(results, out_dir / f"rank{ctx.rank}.pt")
