"""The quickstart on the real Last.fm HetRec 2011 data (artists as items, top tags as genres).

Run:  .venv/bin/python examples/lastfm_real_data.py --data-dir ../shared/data/hetrec2011-lastfm-2k

The data is not shipped with hybridrec (non-commercial terms): point --data-dir at your copy.
Protocol: random 80/10/10 split of interactions, full ranking over all artists, train items
excluded, test split — the protocol of the published HetRec figures.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from hybridrec_core import api


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", required=True, help="folder with user_artists.dat, artists.dat, tags.dat")
    parser.add_argument("--out", default=None, help="working folder (default: a temporary one)")
    parser.add_argument("--epochs", type=int, default=30, help="max epochs of the hybrid model")
    args = parser.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="hybridrec-lastfm-"))

    cfg = api.default_config(
        source={"name": "lastfm_hetrec", "params": {"path": args.data_dir}},
        split={"method": "random", "valid_fraction": 0.1, "test_fraction": 0.1,
               "cold_user_fraction": 0.0, "cold_item_fraction": 0.0},
        models=[{"name": "hybrid", "params": {"epochs": args.epochs}}, {"name": "mf"},
                {"name": "item_knn"}, {"name": "popularity"}],
        storage={"database": str(out / "lastfm.duckdb"), "artifacts_dir": str(out / "artifacts")},
    )
    store = api.open_store(cfg)
    print(api.ingest(cfg, store).to_dict()["tables"]["interactions"])
    features = api.build_features(cfg, store)
    trained = api.train(cfg, features, progress=True)
    result = api.evaluate(cfg, features, trained, report_dir=out / "report")
    frame = result.to_frame()
    overall = frame[(frame.segment == "overall") & frame.metric.isin(["ndcg@10", "recall@10", "coverage@10"])]
    print(overall.pivot(index="model", columns="metric", values="value").round(4).to_string())
    print("report:", out / "report" / "report.md")
    recs = api.recommend(cfg, features, trained["hybrid"].model, users=list(features.users.ids[1:3]))
    print(recs[["user_id", "rank", "artist", "genres", "score"]].to_string(index=False))


if __name__ == "__main__":
    main()
