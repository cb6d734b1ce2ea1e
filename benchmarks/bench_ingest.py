"""Benchmark: ingest + split + encode of N demo interactions into a fresh DuckDB file.

Prints ONE JSON object: interactions, seconds (ingest + build_features), rows_per_s, peak_rss_mb,
plus the phase timings (generate is reported separately and not part of ``seconds``).

    python benchmarks/bench_ingest.py --interactions 10000000
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


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--interactions", type=int, default=1_000_000, help="Demo interactions (distinct user-track rows, approx.).")
    ap.add_argument("--users-per-interaction", type=float, default=1 / 50, help="Users = interactions * this.")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--db", type=str, default=None, help="DuckDB file (default: a temporary one, deleted after).")
    ap.add_argument("--duckdb-memory", type=str, default="1GB",
                    help="DuckDB memory limit (HYBRIDREC_DUCKDB_MEMORY_LIMIT); '' = DuckDB's default.")
    args = ap.parse_args(argv)
    os.environ["HYBRIDREC_DUCKDB_MEMORY_LIMIT"] = args.duckdb_memory

    from hybridrec_core.config import PipelineConfig
    from hybridrec_core.features import build_features
    from hybridrec_core.ingest import ingest
    from hybridrec_core.plugins import get_plugin_manager
    from hybridrec_core.storage import Store
    from hybridrec_plugins.sources.demo import DemoSource

    get_plugin_manager()  # plugin discovery is not part of the measured work
    n = args.interactions
    n_users = max(10, int(n * args.users_per_interaction))
    n_tracks = max(2000, n // 100)
    params = {"n_users": n_users, "n_tracks": n_tracks, "n_artists": max(10, n_tracks // 10), "n_genres": 20,
              "n_interactions": n, "seed": args.seed}

    class Pregenerated(DemoSource):
        """The demo world, generated once up front so ingest time excludes generation."""

        def load(self):  # type: ignore[override]
            return generated.pop()  # handed over once, so its memory is freed after ingest

    t0 = time.perf_counter()
    generated = [DemoSource(params).load()]
    t_gen = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(args.db or Path(tmp) / "bench.duckdb")
        t1 = time.perf_counter()
        u0 = resource.getrusage(resource.RUSAGE_SELF)
        cpu0 = u0.ru_utime + u0.ru_stime
        report = ingest(Pregenerated(params), store)
        t2 = time.perf_counter()
        fs = build_features(store, PipelineConfig(seed=args.seed))
        t3 = time.perf_counter()
        db_mb = os.path.getsize(store.path) / 2**20
    usage = resource.getrusage(resource.RUSAGE_SELF)
    rows = report.tables["interactions"].rows_read
    seconds = t3 - t1
    out = {
        "interactions": rows,
        "seconds": round(seconds, 3),
        "rows_per_s": round(rows / seconds, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime - cpu0, 3),  # CPU time of ingest + features (steal-free)
        "ingest_s": round(t2 - t1, 3),
        "features_s": round(t3 - t2, 3),
        "generate_s": round(t_gen, 3),
        "users": fs.n_users - 1,
        "tracks": fs.n_items - 1,
        "train_rows": len(fs.train),
        "db_mb": round(db_mb, 1),
        "cpus": os.cpu_count(),
        "duckdb_memory_limit": args.duckdb_memory or "default",
        "load_avg_1m": round(os.getloadavg()[0], 2),  # others' work on the machine inflates wall time
    }
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
