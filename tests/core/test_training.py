"""The training engine: optimisation, early stopping, sparse updates, checkpoints and resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from hybridrec_core.device import autocast_dtype, resolve_device
from hybridrec_core.interfaces import FitContext
from hybridrec_core.seeding import seed_everything
from hybridrec_core.training import CHECKPOINT_NAME, TrainSettings, TrainTask, fit_module, split_parameters

torch.set_num_threads(1)  # tiny steps; avoid OpenMP spin-waits on shared CI cores


class Tiny(nn.Module):
    def __init__(self, n: int = 50) -> None:
        super().__init__()
        self.emb = nn.Embedding(n, 4, sparse=True)
        self.lin = nn.Linear(4, 1)
        self.drop = nn.Dropout(0.1)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.lin(self.drop(self.emb(idx)))[:, 0]


def _task(module: Tiny, validate=None, **kw) -> TrainTask:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 50, (400,), generator=g)
    y = (x % 5).float()

    def loss(idx: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        return ((module(x[idx]) - y[idx]) ** 2).mean()

    def val() -> dict[str, float]:
        return {"val_mse": float(((module(x) - y) ** 2).mean())}

    return TrainTask(module=module, n_samples=400, batch_loss=loss, validate=validate or val, monitor="val_mse", **kw)


def _fit(task: TrainTask, tmp=None, **settings) -> object:
    s = TrainSettings(**{"epochs": 6, "batch_size": 64, "learning_rate": 0.05, **settings})
    return fit_module(task, s, FitContext(seed=5, device="cpu", checkpoint_dir=tmp))


def test_training_reduces_loss_and_records_history() -> None:
    seed_everything(0)
    model = Tiny()
    history = _fit(_task(model))
    assert len(history.epochs) == 6
    assert history.epochs[-1]["loss"] < history.epochs[0]["loss"] * 0.5
    assert {"epoch", "loss", "val_mse", "lr", "seconds"} <= set(history.epochs[0])
    assert history.monitor == "val_mse" and history.best_epoch is not None and history.device == "cpu"


def test_sparse_tables_touch_only_batch_rows() -> None:
    model = Tiny()
    sparse, dense = split_parameters(model)
    assert [p is model.emb.weight for p in sparse] == [True] and len(dense) == 2
    before = model.emb.weight.detach().clone()
    rows = torch.tensor([3, 7])
    task = TrainTask(model, 2, lambda idx, gen: model(rows[idx]).pow(2).mean(), validate=None)
    fit_module(task, TrainSettings(epochs=1, batch_size=2), FitContext(device="cpu"))
    changed = (model.emb.weight.detach() != before).any(dim=1).nonzero().flatten().tolist()
    assert changed == [3, 7]


def test_early_stopping_restores_best_weights() -> None:
    model = Tiny()
    values = iter([3.0, 1.0, 2.0, 2.5, 2.6, 2.7, 2.8])
    snapshots: dict[int, dict[str, torch.Tensor]] = {}

    def keep(epoch: int, record: dict[str, float]) -> None:
        snapshots[epoch] = {k: v.clone() for k, v in model.state_dict().items()}

    history = _fit(_task(model, validate=lambda: {"val_mse": next(values)}, on_epoch_end=keep), early_stopping_patience=2)
    assert history.best_epoch == 1 and history.best_metric == 1.0
    assert len(history.epochs) == 4  # epochs 2 and 3 did not improve -> stop
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, snapshots[1][k])


def test_checkpoint_resume_matches_uninterrupted_run(tmp_path) -> None:
    seed_everything(1)
    ref = Tiny()
    init = {k: v.clone() for k, v in ref.state_dict().items()}
    _fit(_task(ref), lr_patience=0)

    crashed = Tiny()
    crashed.load_state_dict(init)

    def crash(epoch: int, record: dict[str, float]) -> None:
        if epoch == 2:
            raise KeyboardInterrupt("simulated crash")

    with pytest.raises(KeyboardInterrupt):
        _fit(_task(crashed, signature="s1", on_epoch_end=crash), tmp_path, lr_patience=0)
    ckpt = tmp_path / CHECKPOINT_NAME
    payload = torch.load(ckpt, weights_only=True)  # plain tensors/dicts only
    assert payload["epoch"] == 2 and len(payload["history"]["epochs"]) == 3

    resumed = Tiny()
    history = _fit(_task(resumed, signature="s1"), tmp_path, lr_patience=0)
    assert history.extra["resumed_from_epoch"] == 3 and len(history.epochs) == 6
    for k, v in ref.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[k], v)
    assert not ckpt.exists(), "a finished run removes its crash checkpoint"


def test_foreign_checkpoint_is_ignored(tmp_path) -> None:
    def crash(epoch: int, record: dict[str, float]) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _fit(_task(Tiny(), signature="a", on_epoch_end=crash), tmp_path)
    history = _fit(_task(Tiny(), signature="b"), tmp_path)
    assert "resumed_from_epoch" not in history.extra and len(history.epochs) == 6


def test_same_seed_same_weights() -> None:
    out = []
    for _ in range(2):
        seed_everything(3)
        m = Tiny()
        _fit(_task(m))
        out.append(m.state_dict())
    for k in out[0]:
        torch.testing.assert_close(out[0][k], out[1][k], rtol=0, atol=0)


def test_resolve_device() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="gpu0"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda:0")
    assert autocast_dtype(torch.device("cpu")) is None


def test_seed_everything_repeats_numpy_and_torch() -> None:
    seed_everything(11)
    a = (np.random.rand(3), torch.rand(3))
    seed_everything(11)
    b = (np.random.rand(3), torch.rand(3))
    assert np.array_equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_validate_at_start_keeps_the_starting_weights_when_no_epoch_beats_them() -> None:
    """A warm-started model whose training only makes validation worse ends with its starting
    weights, and the history says so (best_epoch -1, the initial metrics recorded)."""
    model = Tiny()
    start = {k: v.clone() for k, v in model.state_dict().items()}
    values = iter([1.0, 2.0, 3.0, 4.0])
    history = _fit(_task(model, validate=lambda: {"val_mse": next(values)}, validate_at_start=True), epochs=3)
    assert history.extra["initial_validation"] == {"val_mse": 1.0}
    assert history.best_epoch == -1 and history.best_metric == 1.0
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, start[k])
    # Without the flag the first epoch is the best one.
    values = iter([2.0, 3.0, 4.0])
    assert _fit(_task(Tiny(), validate=lambda: {"val_mse": next(values)}), epochs=3).best_epoch == 0


class WithNorm(nn.Module):
    """Inputs far from unit variance: BatchNorm's running averages (starting at 0 / 1) lag."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 8)
        self.norm = nn.BatchNorm1d(8)
        self.out = nn.Linear(8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.norm(self.lin(x)))[:, 0]


def test_bn_recalibration_matches_training_mode_statistics() -> None:
    """With bn_recalibration_batches the statistics used in eval mode are the plain average over
    training batches of the current weights, so eval-mode outputs match training-mode ones; the
    lagging running averages (momentum 0.1, a few steps) do not."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(512, 3, generator=g) * 0.01 + 5.0
    y = torch.randn(512, generator=g)

    def run(batches: int) -> tuple[WithNorm, float]:
        torch.manual_seed(0)
        module = WithNorm()
        task = TrainTask(
            module, 512, lambda idx, gen: ((module(x[idx]) - y[idx]) ** 2).mean(),
            validate=lambda: {"val_mse": float(((module(x) - y) ** 2).mean())}, monitor="val_mse",
        )
        fit_module(task, TrainSettings(epochs=1, batch_size=128, bn_recalibration_batches=batches), FitContext(seed=0, device="cpu"))
        module.train()
        with torch.no_grad():
            batch_out = module(x)  # training mode: normalized by this batch's (= the data's) statistics
        module.eval()
        with torch.no_grad():
            gap = float((module(x) - batch_out).abs().max())
        return module, gap

    recal, gap = run(4)
    lagging, lag_gap = run(0)
    h = recal.lin(x).detach()
    torch.testing.assert_close(recal.norm.running_mean, h.mean(0), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(recal.norm.running_var, h.var(0), rtol=0.02, atol=1e-8)  # mean of per-batch variances
    assert recal.norm.momentum == 0.1  # restored after the recalibration
    assert gap < 0.01 < 0.5 < lag_gap, (gap, lag_gap)
