"""Cost of the evaluation engine itself at scale; prints ONE JSON object.

    python benchmarks/bench_evaluation.py --users 10000 --items 20000 --k 10

Builds a synthetic FeatureSet (vectorized, seeded: power-law item popularity, ``--per-user``
interactions per user, 80/10/10 random split), fits ``popularity`` and ``mf`` (few ALS sweeps),
and times :func:`hybridrec_core.evaluation.evaluate` with every built-in metric. Shows that full
ranking over the catalogue is chunked: peak RSS stays far below ``users * items`` floats per model.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np

from hybridrec_core.config import EvaluationConfig
from hybridrec_core.dataset import FeatureSet, InteractionSet, ItemFeatures, Vocab
from hybridrec_core.evaluation import evaluate
from hybridrec_core.interfaces import FitContext
from hybridrec_core.plugins import get_plugin_manager


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def synthetic_features(n_users: int, n_items: int, per_user: int, seed: int) -> FeatureSet:
    """Users 1..n_users-1 each play ``per_user`` distinct power-law-popular items (no Python loop per user)."""
    rng = np.random.default_rng(seed)
    n_genres, n_artists = 21, max(2, n_items // 10)
    weights = 1.0 / np.arange(1, n_items) ** 0.8
    draws = rng.choice(np.arange(1, n_items), size=(n_users - 1, per_user * 2), p=weights / weights.sum())
    user = np.repeat(np.arange(1, n_users), draws.shape[1])
    pair = np.unique(user.astype(np.int64) * n_items + draws.ravel())
    user, item = pair // n_items, pair % n_items
    plays = rng.integers(1, 50, size=pair.size).astype(np.float32)
    target = (np.log1p(plays) / np.log1p(plays).max()).astype(np.float32)
    which = rng.random(pair.size)
    full = InteractionSet(user, item, plays, target)
    splits = {"train": full.subset(which < 0.8), "valid": full.subset((which >= 0.8) & (which < 0.9)),
              "test": full.subset(which >= 0.9)}
    tu, ti = np.zeros(n_users, bool), np.zeros(n_items, bool)
    tu[splits["train"].user], ti[splits["train"].item] = True, True
    numeric = rng.normal(size=(n_items, 9)).astype(np.float32)
    return FeatureSet(
        users=Vocab(np.array(["<unk>"] + [f"u{i}" for i in range(1, n_users)], dtype=object)),
        items=Vocab(np.array(["<unk>"] + [f"t{i}" for i in range(1, n_items)], dtype=object)),
        artists=Vocab(np.array(["<unk>"] + [f"a{i}" for i in range(1, n_artists)], dtype=object)),
        genres=Vocab(np.array(["<unk>"] + [f"g{i}" for i in range(1, n_genres)], dtype=object)),
        item_features=ItemFeatures(
            artist=rng.integers(1, n_artists, size=n_items).astype(np.int64),
            genre_indptr=np.arange(n_items + 1, dtype=np.int64),
            genre_indices=rng.integers(1, n_genres, size=n_items).astype(np.int64),
            numeric=numeric, numeric_missing=np.zeros_like(numeric),
            binary=(rng.random((n_items, 2)) < 0.2).astype(np.float32),
        ),
        splits=splits, train_user_mask=tu, train_item_mask=ti,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", type=int, default=10_000)
    p.add_argument("--items", type=int, default=20_000)
    p.add_argument("--per-user", type=int, default=30)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--batch-users", type=int, default=1024)
    p.add_argument("--seed", type=int, default=42)
    args = p.parse_args(argv)

    t0 = time.perf_counter()
    features = synthetic_features(args.users, args.items, args.per_user, args.seed)
    build_s = time.perf_counter() - t0
    pm = get_plugin_manager()
    models = {"popularity": pm.create("model", "popularity"), "mf": pm.create("model", "mf", {"factors": 32, "iterations": 3})}
    t0 = time.perf_counter()
    for model in models.values():
        model.fit(features, FitContext(seed=args.seed, device="cpu"))
    fit_s = time.perf_counter() - t0
    rss_before = _peak_rss_mb()
    metrics = [pm.create("metric", n) for n in ("ranking", "regression", "beyond_accuracy", "reference_ndcg")]
    t0 = time.perf_counter()
    result = evaluate(features, models, metrics, EvaluationConfig(k=args.k, batch_users=args.batch_users), seed=args.seed)
    eval_s = time.perf_counter() - t0
    print(json.dumps({
        "users": args.users, "items": args.items, "k": args.k, "batch_users": args.batch_users,
        "train_interactions": len(features.train), "test_interactions": len(features.test),
        "users_evaluated": result.protocol["n_users_evaluated"],
        "build_seconds": round(build_s, 3), "fit_seconds": round(fit_s, 3),
        "evaluate_seconds": round(eval_s, 3),
        "evaluate_seconds_per_model": {m: round(s, 3) for m, s in result.seconds.items()},
        "dense_score_matrix_mb": round(args.users * args.items * 4 / 2**20, 1),
        "peak_rss_mb_before_evaluate": round(rss_before, 1), "peak_rss_mb": round(_peak_rss_mb(), 1),
        "ndcg@k": {m: result.get(m, f"ndcg@{args.k}") for m in result.models},
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
