"""Training speed and quality: the engine against the reference loop, same model, same data.

Prints ONE JSON object. In one process, with one thread count, on demo data:

- throughput on ``--tput-users`` x ``--tput-tracks`` with ``--tput-interactions`` interactions
  (default 1M, 50k users, 20k tracks): ``--steps`` steady-state steps (after ``--warmup``) of the
  reference loop (Dataset of dicts, DataLoader batch 256, dense Adam) and of the engine at batch
  256 and at the hybrid plugin's default batch (regression objective for both);
- quality after ONE full epoch each on ``--quality-interactions`` (default 200k, 20k users,
  10k tracks): validation RMSE of the reference and of the engine (default batch);
- ``engine_gflops`` (analytic FLOPs per sample x samples/s) next to ``matmul_peak_gflops``
  (float32 ``torch.mm`` measured in the same run).

``--smoke`` shrinks everything so the test suite can run the script in seconds. Figures taken
while other processes share the CPU are noisy; ``load_avg_1m`` is reported with them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hybridrec_core import api  # noqa: E402
from hybridrec_core.device import resolve_device  # noqa: E402
from hybridrec_core.interfaces import FitContext  # noqa: E402
from hybridrec_core.training import TrainSettings, TrainTask, fit_module  # noqa: E402
from hybridrec_plugins.models.hybrid import HybridMusicRecommender  # noqa: E402
from reference_design import reference_predict, reference_train  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tput-users", type=int, default=50_000)
    p.add_argument("--tput-tracks", type=int, default=20_000)
    p.add_argument("--tput-interactions", type=int, default=1_000_000)
    p.add_argument("--quality-users", type=int, default=20_000)
    p.add_argument("--quality-tracks", type=int, default=10_000)
    p.add_argument("--quality-interactions", type=int, default=200_000)
    p.add_argument("--steps", type=int, default=150, help="Timed steps per throughput measurement.")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--engine-batch", type=int, default=None, help="Engine default batch (default: the plugin's).")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--skip-quality", action="store_true")
    p.add_argument("--smoke", action="store_true", help="Tiny sizes: checks the script, not the speed.")
    args = p.parse_args(argv)
    if args.smoke:
        args.tput_users, args.tput_tracks, args.tput_interactions = 300, 200, 6000
        args.quality_users, args.quality_tracks, args.quality_interactions = 200, 150, 4000
        args.steps, args.warmup = 4, 1
    return args


def log(msg: str) -> None:
    print(f"[bench_train {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def demo_features(users: int, tracks: int, interactions: int, seed: int, device: str, workdir: Path):
    """Demo data -> FeatureSet through the public API (ingest, then features)."""
    cfg = api.default_config(
        seed=seed,
        device=device,
        source={"name": "demo", "params": {
            "n_users": users, "n_tracks": tracks, "n_artists": max(1, tracks // 5),
            "n_interactions": interactions, "seed": seed,
        }},
        storage={"database": str(workdir / f"bench_{users}_{tracks}.duckdb"), "artifacts_dir": str(workdir / "artifacts")},
    )
    store = api.open_store(cfg)
    api.ingest(cfg, store)
    return api.build_features(cfg, store)


def regression_model(features, device: torch.device, batch: int, seed: int) -> HybridMusicRecommender:
    # The reference design's network on both sides: no bias terms and no closed-form bias warm start
    # (the plugin's regression default), which would change the model, not the training loop.
    model = HybridMusicRecommender({"objective": "regression", "batch_size": batch, "warm_start": "none"})
    torch.manual_seed(seed)
    model._build(features, device)
    with torch.no_grad():  # the plugin's fit() starts regression at the mean target; so do both loops here
        model.net.out.bias.fill_(float(np.mean(features.train.target)))
    return model


def flops_per_sample(net) -> float:
    """Forward + backward FLOPs of one (user, track) sample: 3 x (2 x multiply-adds)."""
    macs = sum(m.in_features * m.out_features for m in net.modules() if isinstance(m, torch.nn.Linear))
    return 6.0 * macs


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def engine_run(model: HybridMusicRecommender, features, device: torch.device, batch: int, n_samples: int, seed: int, epochs: int = 1):
    """Train through the engine on the first ``n_samples`` rows of a seeded shuffle of train."""
    train = features.train
    sel = np.random.default_rng(seed).permutation(len(train))[:n_samples]
    tu = torch.as_tensor(train.user[sel], device=device)
    ti = torch.as_tensor(train.item[sel], device=device)
    tt = torch.as_tensor(train.target[sel], device=device)
    task = TrainTask(model.net, len(sel), model._regression_loss(tu, ti, tt), validate=None)
    settings = TrainSettings(epochs=epochs, batch_size=batch, learning_rate=model.config.learning_rate,
                             weight_decay=model.config.weight_decay, max_grad_norm=model.config.max_grad_norm,
                             sparse_learning_rate=model.embedding_lr)
    sync(device)
    t = time.perf_counter()
    fit_module(task, settings, FitContext(seed=seed, device=str(device)))
    sync(device)
    return time.perf_counter() - t


def engine_throughput(features, device: torch.device, batch: int, args) -> float:
    model = regression_model(features, device, batch, args.seed)
    engine_run(model, features, device, batch, batch * args.warmup, args.seed)  # warm-up (allocations, kernels)
    seconds = engine_run(model, features, device, batch, batch * args.steps, args.seed + 1)
    return batch * args.steps / seconds


def reference_throughput(features, device: torch.device, args) -> float:
    model = regression_model(features, device, 256, args.seed)
    net = _dense_copy(model, features, device)
    out = reference_train(net, features.train, features, max_steps=args.steps, warmup_steps=args.warmup,
                          device=str(device), seed=args.seed)
    return out["samples"] / out["seconds"]


def _dense_copy(model: HybridMusicRecommender, features, device: torch.device):
    """The same network with dense embedding tables (the reference's dense Adam needs them)."""
    dense = HybridMusicRecommender({**model.config.model_dump(), "sparse_embeddings": False})
    torch.manual_seed(0)
    dense._build(features, device)
    dense.net.load_state_dict(model.net.state_dict())
    return dense.net


def rmse(pred: np.ndarray, target: np.ndarray) -> float:
    return float(np.sqrt(np.mean((pred.astype(np.float64) - target.astype(np.float64)) ** 2)))


def matmul_peak_gflops(device: torch.device, n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    best = float("inf")
    for _ in range(repeats + 1):
        sync(device)
        t = time.perf_counter()
        torch.mm(a, b)
        sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    default_batch = args.engine_batch or HybridMusicRecommender.Config().batch_size
    result: dict = {"device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
                    "threads": args.threads, "engine_default_batch": default_batch}
    with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
        big = demo_features(args.tput_users, args.tput_tracks, args.tput_interactions, args.seed, args.device, Path(tmp))
        log(f"throughput data: {big.n_users - 1} users x {big.n_items - 1} tracks, {len(big.train)} train rows")
        result["throughput_train_rows"] = len(big.train)
        ref = reference_throughput(big, device, args)
        log(f"reference: {ref:.0f} samples/s")
        e256 = engine_throughput(big, device, 256, args)
        log(f"engine batch 256: {e256:.0f} samples/s")
        edef = engine_throughput(big, device, default_batch, args)
        log(f"engine batch {default_batch}: {edef:.0f} samples/s")
        fps = flops_per_sample(regression_model(big, torch.device("cpu"), 256, args.seed).net)
        del big
        result.update({
            "reference_samples_per_s": round(ref, 1),
            "engine_samples_per_s_batch256": round(e256, 1),
            "engine_samples_per_s_default": round(edef, 1),
            "ratio_batch256": round(e256 / ref, 2),
            "ratio_default": round(edef / ref, 2),
            "flops_per_sample": fps,
            "engine_gflops": round(edef * fps / 1e9, 2),
        })
        if not args.skip_quality:
            small = demo_features(args.quality_users, args.quality_tracks, args.quality_interactions, args.seed, args.device, Path(tmp))
            valid = small.valid
            log(f"quality data: {len(small.train)} train rows, {len(valid)} valid rows")
            ref_model = regression_model(small, device, 256, args.seed)
            ref_net = _dense_copy(ref_model, small, device)
            reference_train(ref_net, small.train, small, device=str(device), seed=args.seed)
            result["reference_val_rmse"] = round(rmse(reference_predict(ref_net, valid, small, str(device)), valid.target), 5)
            eng = regression_model(small, device, default_batch, args.seed)
            engine_run(eng, small, device, default_batch, len(small.train), args.seed)
            eng._cache = None
            result["engine_val_rmse"] = round(rmse(eng.score(valid.user, valid.item), valid.target), 5)
            result["target_std_valid"] = round(float(np.std(valid.target)), 5)
            log(f"val RMSE reference {result['reference_val_rmse']} engine {result['engine_val_rmse']}")
    result["matmul_peak_gflops"] = round(matmul_peak_gflops(device), 1)
    result["engine_peak_fraction"] = round(result["engine_gflops"] / result["matmul_peak_gflops"], 3)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    result["load_avg_1m"] = round(os.getloadavg()[0], 2)
    return result


if __name__ == "__main__":
    print(json.dumps(main()))
