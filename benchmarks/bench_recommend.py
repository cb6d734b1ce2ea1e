"""Recommendation speed: batched exhaustive and two-stage top-10 against the per-user reference.

Prints ONE JSON object. On demo data (default 20k users x 10k tracks) it trains the hybrid model
briefly, then times, in the same process and thread count:

- ``reference_users_per_s``: the reference design's ``generate_recommendations`` (one user at a
  time through the full model, no split first layer) on a seeded sample of users;
- ``exhaustive_users_per_s``: :func:`hybridrec_core.recommend.recommend` over every user (exact
  scores for the whole catalogue, seen tracks excluded), and ``exhaustive_gflops`` from the
  model's per-(user, track) multiply-adds after the split first layer;
- ``two_stage_users_per_s`` with ``two_stage_overlap_at_10`` (share of the exhaustive top-10 that
  two-stage mode keeps, over warm users);
- ``mmr_users_per_s``: MMR from a 100-candidate pool to 10 items for every user (re-ranking only);
- ``matmul_peak_gflops``: float32 ``torch.mm`` peak measured in the same run.

``--smoke`` shrinks everything to seconds (for the test suite). Figures measured while other
processes share the CPU are noisy: ``load_avg_1m`` is reported next to them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hybridrec_core import api  # noqa: E402
from hybridrec_core.config import RecommendConfig  # noqa: E402
from hybridrec_core.interfaces import Candidates, FitContext, RerankContext  # noqa: E402
from hybridrec_core.plugins import create  # noqa: E402
from hybridrec_core.ranking import batched  # noqa: E402
from hybridrec_core.recommend import candidate_pools, recommend, run_chain  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--users", type=int, default=20_000)
    p.add_argument("--tracks", type=int, default=10_000)
    p.add_argument("--artists", type=int, default=2_000)
    p.add_argument("--genres", type=int, default=20)
    p.add_argument("--interactions-per-user", type=float, default=30.0)
    p.add_argument("--epochs", type=int, default=3, help="Hybrid training epochs (brief training is fine for speed).")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--pool", type=int, default=100, help="MMR candidate pool.")
    p.add_argument("--retrieval", type=int, default=200, help="Two-stage retrieval candidates.")
    p.add_argument("--batch-users", type=int, default=512)
    p.add_argument("--reference-users", type=int, default=60, help="Users timed through the reference loop.")
    p.add_argument(
        "--eval-users", type=int, default=0, help="Time generation on a seeded sample of this many users (0 = all)."
    )
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--workdir", default=None, help="Where the DuckDB file goes (default: a temp dir).")
    p.add_argument("--smoke", action="store_true", help="Tiny sizes: checks the script, not the speed.")
    args = p.parse_args(argv)
    if args.smoke:
        args.users, args.tracks, args.artists, args.genres = 300, 400, 80, 6
        args.interactions_per_user, args.epochs, args.reference_users = 12.0, 1, 5
        args.pool, args.retrieval, args.batch_users = 30, 60, 64
    return args


def build(args: argparse.Namespace, workdir: Path):
    """Demo data -> FeatureSet through the public API (ingest, then features)."""
    cfg = api.default_config(
        seed=args.seed,
        device=args.device,
        source={
            "name": "demo",
            "params": {
                "n_users": args.users, "n_tracks": args.tracks, "n_artists": args.artists,
                "n_genres": args.genres, "interactions_per_user": args.interactions_per_user, "seed": args.seed,
            },
        },
        storage={"database": str(workdir / "bench.duckdb"), "artifacts_dir": str(workdir / "artifacts")},
    )
    store = api.open_store(cfg)
    api.ingest(cfg, store)
    return cfg, api.build_features(cfg, store)


def matmul_peak_gflops(device: torch.device, n: int = 2048, repeats: int = 5) -> float:
    """Best of ``repeats`` float32 (n x n) @ (n x n) products."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    best = float("inf")
    for _ in range(repeats + 1):
        _sync(device)
        t = time.perf_counter()
        torch.mm(a, b)
        _sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def pair_macs(model) -> int:
    """Multiply-adds per (user, track) pair once the first layer's item half is cached: the
    broadcast add, then every later Linear (and residual projection), the output and dot head."""
    net = model.net
    macs = 0
    for block in net.blocks:
        macs += block.linear.in_features * block.linear.out_features
        if block.residual is not None:
            macs += block.residual.in_features * block.residual.out_features
    macs += net.out.in_features
    if net.dot_proj is not None:
        macs += net.dot_proj.out_features
    return macs


def log(msg: str) -> None:
    """Progress on stderr (stdout carries only the JSON result)."""
    print(f"[bench_recommend {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    with tempfile.TemporaryDirectory(prefix="bench_recommend_") as tmp:
        workdir = Path(args.workdir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        (cfg, fs), build_s = timed(lambda: build(args, workdir))
        log(f"demo data: {fs.n_users - 1} users x {fs.n_items - 1} tracks, {len(fs.train)} train rows ({build_s:.0f}s)")
        model = create("model", "hybrid", {"epochs": args.epochs, "early_stopping_patience": max(1, args.epochs)})
        history, train_s = timed(lambda: model.fit(fs, FitContext(seed=args.seed, device=args.device)))
        log(f"hybrid trained: {len(history.epochs)} epochs in {train_s:.0f}s")
    device = model.device
    users = np.arange(1, fs.n_users, dtype=np.int64)
    if 0 < args.eval_users < users.size:
        users = np.sort(np.random.default_rng(args.seed + 1).choice(users, size=args.eval_users, replace=False))
    warm = fs.train_user_mask[users]
    rc = RecommendConfig(k=args.k, batch_users=args.batch_users, pool_size=args.pool)
    recommend(model, fs, rc, [], users=users[:8])  # warm-up: builds the item cache

    from reference_design import reference_generate_recommendations

    rng = np.random.default_rng(args.seed)
    sample = rng.choice(users[warm], size=min(args.reference_users, int(warm.sum())), replace=False)
    def run_reference() -> None:
        # no_grad is a courtesy to the reference (it does not ask for it): the ratio stays conservative.
        with torch.no_grad():
            for u in sample:
                reference_generate_recommendations(model, int(u), args.k, fs)

    with torch.no_grad():
        reference_generate_recommendations(model, int(sample[0]), args.k, fs)  # warm-up
    _, ref_s = timed(run_reference)
    reference_ups = len(sample) / ref_s
    log(f"reference: {reference_ups:.1f} users/s")

    exhaustive, ex_s = timed(lambda: recommend(model, fs, rc, [], users=users))
    log(f"exhaustive: {users.size / ex_s:.1f} users/s")
    two_cfg = rc.model_copy(update={"two_stage": True, "retrieval_candidates": args.retrieval})
    two, two_s = timed(lambda: recommend(model, fs, two_cfg, [], users=users))
    ex_top, two_top = exhaustive.items[warm], two.items[warm]
    overlap = (ex_top[:, :, None] == two_top[:, None, :]).any(axis=2) & (ex_top >= 0)
    overlap_at_k = float(overlap.sum() / max(1, (ex_top >= 0).sum()))

    log(f"two-stage: {users.size / two_s:.1f} users/s, overlap@{args.k} {overlap_at_k:.3f}")
    items, scores, _, _ = candidate_pools(model, fs, users, rc, args.pool)
    mmr = create("reranker", "mmr_diversity", {"lambda": 0.7})
    ctx = RerankContext(fs, item_vectors=model.item_embeddings())

    def run_mmr() -> None:
        for chunk in batched(np.arange(users.size), args.batch_users):
            run_chain(Candidates(users[chunk], items[chunk], scores[chunk]), [mmr], args.k, ctx)

    run_mmr()  # warm-up (caches unit vectors)
    _, mmr_s = timed(run_mmr)

    n_warm = int(warm.sum())
    macs = pair_macs(model)
    result = {
        "device": str(device),
        "threads": torch.get_num_threads(),
        "n_users": int(fs.n_users - 1),
        "n_users_timed": int(users.size),
        "n_warm_users": n_warm,
        "n_items": int(fs.n_items),
        "n_train_interactions": int(len(fs.train)),
        "k": args.k,
        "train_epochs": len(history.epochs),
        "train_seconds": round(train_s, 2),
        "reference_users_timed": int(len(sample)),
        "reference_users_per_s": round(reference_ups, 2),
        "exhaustive_users_per_s": round(users.size / ex_s, 2),
        "two_stage_users_per_s": round(users.size / two_s, 2),
        "ratio_exhaustive": round(users.size / ex_s / reference_ups, 2),
        "ratio_two_stage": round(users.size / two_s / reference_ups, 2),
        "two_stage_mode": two.mode,
        "two_stage_retrieval_candidates": args.retrieval,
        "two_stage_overlap_at_10": round(overlap_at_k, 4),
        "mmr_pool": args.pool,
        "mmr_users_per_s": round(users.size / mmr_s, 2),
        "pair_macs": macs,
        "exhaustive_gflops": round(2 * macs * n_warm * fs.n_items / ex_s / 1e9, 2),
        "matmul_peak_gflops": round(matmul_peak_gflops(device), 2),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "torch": torch.__version__,
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
