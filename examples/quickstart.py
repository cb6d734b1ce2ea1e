"""hybridrec's core API without Dagster, start to finish, in a notebook-sized script.

Run:  .venv/bin/python examples/quickstart.py [--out DIR]

It loads a small demo world, builds features, trains the hybrid model and the popularity
baseline, evaluates both (full ranking, train items excluded), recommends for a few users with the
MMR diversity re-ranker, then saves and reloads the hybrid model and checks it scores the same.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from hybridrec_core import api
from hybridrec_core.artifacts import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=None, help="working folder (default: a temporary one)")
    args = parser.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="hybridrec-quickstart-"))

    # 1. A pipeline config: a small seeded demo world, two models, one re-ranker.
    cfg = api.default_config(
        seed=7,
        source={"name": "demo", "params": {"n_users": 600, "n_tracks": 800, "n_interactions": 20_000}},
        models=[
            {"name": "hybrid", "params": {"epochs": 6, "early_stopping_patience": 3}},
            {"name": "popularity"},
        ],
        rerankers=[{"name": "mmr_diversity", "params": {"lambda": 0.7}}],
        storage={"database": str(out / "hybridrec.duckdb"), "artifacts_dir": str(out / "artifacts")},
    )

    # 2. Data: validate into raw_* tables (bad rows go to `quarantine`), then encode + split.
    store = api.open_store(cfg)
    report = api.ingest(cfg, store)
    print("ingest:", report.to_dict()["tables"]["interactions"])
    features = api.build_features(cfg, store)
    print(f"features: {features.n_users - 1} users, {features.n_items - 1} tracks, "
          f"{len(features.train)} training interactions")

    # 3. Train (artifacts are written under storage.artifacts_dir/models/<name>).
    trained = api.train(cfg, features)
    hist = trained["hybrid"].history
    print(f"hybrid: {len(hist.epochs)} epochs, best {hist.monitor}={hist.best_metric:.4f} on {hist.device}")

    # 4. Evaluate against popularity: full ranking, test split, train items excluded.
    result = api.evaluate(cfg, features, trained, report_dir=out / "report")
    for name in ("hybrid", "popularity"):
        print(f"{name:>10}: NDCG@10 {result.get(name, 'ndcg@10'):.4f}  Recall@10 {result.get(name, 'recall@10'):.4f}")
    print("report:", out / "report" / "report.md")

    # 5. Recommend for a few users, re-ranked for diversity.
    some_users = list(features.users.ids[1:4])
    recs = api.recommend(cfg, features, trained["hybrid"].model, users=some_users, k=5)
    print(recs[["user_id", "rank", "title", "artist", "genres", "score"]].to_string(index=False))

    # 6. Save/load: the artifact reloads with its weights and scores exactly the same.
    model, _ = load_model(trained["hybrid"].artifact, features)
    users = np.arange(1, 6)
    same = np.allclose(model.score_items(users).numpy(), trained["hybrid"].model.score_items(users).numpy())
    print("reloaded model scores identically:", same)
    if not same:
        raise SystemExit("artifact round trip changed the scores")


if __name__ == "__main__":
    main()
