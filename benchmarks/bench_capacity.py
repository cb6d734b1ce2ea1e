"""Capacity scaling: ingest + encode time and peak memory measured at several sizes, fitted, and
projected to 10M / 100M / 1B interactions next to the documented training and recommendation rates.

Prints ONE JSON object:

- ``measured``: per size, what ``bench_ingest.py`` printed (each size in its own process, so
  ``peak_rss_mb`` is that size's own peak);
- ``fit``: least-squares lines ``seconds = a + b*N`` (wall and CPU) and ``peak_rss_mb = c + d*N``
  plus the log-log exponents (1.0 = linear);
- ``daily_refresh``: one day partition ingested + encoded (``hybridrec_core.daily``) on a
  ``--daily-size`` history, next to the full ingest + encode of the same history;
- ``projection``: ingest from the fit; training and recommendation from the figures in
  docs/performance.md (``DOCUMENTED``, not re-measured here: those benchmarks take many minutes)
  scaled by the assumptions written next to them.

    python benchmarks/bench_capacity.py                       # 1M, 3M, 10M (about 2 minutes on 2 cores)
    python benchmarks/bench_capacity.py --sizes 20000,40000 --daily-size 20000   # seconds: a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
GIB = 1024.0
# From docs/performance.md (2 cores, torch 2.13.0+cpu, 2 threads). Not re-measured by this script.
DOCUMENTED: dict[str, Any] = {
    "train_samples_per_s": 63_479,        # engine, batch 1024, 1M interactions (50k users x 20k tracks)
    "train_peak_rss_mb_1m": 760,          # the same run
    "recommend_exhaustive_users_per_s": 111.3,   # 20k users x 10k tracks, exact top-10
    "recommend_two_stage_users_per_s": 3204,    # 200 retrieved candidates, same world
    # two-stage seconds per user = fixed + per_track * tracks (fit over 5k and 20k tracks, docs/capacity.md)
    "recommend_two_stage_fixed_s": 279e-6,
    "recommend_two_stage_per_track_s": 5.4e-9,
    "recommend_catalogue": 10_000,
    "source": "docs/performance.md (bench_train.py, bench_recommend.py)",
}
# How the demo world grows with N in bench_ingest.py: users = N/50, tracks = N/100, artists = tracks/10.
USERS_PER_INTERACTION, TRACKS_PER_INTERACTION = 1 / 50, 1 / 100
EMBEDDING_DIM, OPTIMIZER_COPIES = 64, 3  # hybrid default width; parameter + two Adam moments
TRAIN_FRACTION = 0.8
# Training arrays in memory: the FeatureSet's split columns (user, item int64, plays, target float32,
# timestamp int64: 32 B/row) + the engine's tensors of the training split (user, item, target: 20 B/row).
ARRAY_BYTES_PER_ROW = 32 + TRAIN_FRACTION * 20


def embedding_bytes(users: float, tracks: float) -> float:
    """User, track and artist (tracks / 10) tables with their optimizer state."""
    return (users + tracks + tracks / 10) * EMBEDDING_DIM * 4 * OPTIMIZER_COPIES


# What the documented 1M training run (50k users, 20k tracks) used beyond tables and arrays:
# interpreter, torch, the model's dense layers, DuckDB - the constant part of training memory.
TRAIN_BASELINE_MB = DOCUMENTED["train_peak_rss_mb_1m"] - (embedding_bytes(50_000, 20_000) + 1e6 * ARRAY_BYTES_PER_ROW) / 2**20


def run_ingest(n: int, duckdb_memory: str) -> dict[str, Any]:
    """bench_ingest.py in a fresh process (its peak RSS is this size's alone)."""
    proc = subprocess.run([sys.executable, str(HERE / "bench_ingest.py"), "--interactions", str(n),
                           "--duckdb-memory", duckdb_memory], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"bench_ingest.py --interactions {n} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fit_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(intercept, slope) of the least-squares line; slope 0 with a single point."""
    if len(x) < 2:
        return float(y[0]) if len(y) else 0.0, 0.0
    slope, intercept = np.polyfit(x, y, 1)
    return float(intercept), float(slope)


def loglog_exponent(x: np.ndarray, y: np.ndarray) -> float | None:
    """Exponent k of y ~ x^k: 1 means linear, above 1 super-linear."""
    if len(x) < 2 or (y <= 0).any():
        return None
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def daily_refresh(n: int, duckdb_memory: str) -> dict[str, Any]:
    """Seconds of a full ingest + encode of ``n`` demo interactions, then of one day partition
    (ingest_days + encode_days for the busiest recent day) on top of it."""
    os.environ["HYBRIDREC_DUCKDB_MEMORY_LIMIT"] = duckdb_memory
    from hybridrec_core.config import PipelineConfig
    from hybridrec_core.daily import encode_days, ingest_days
    from hybridrec_core.features import build_features
    from hybridrec_core.ingest import ingest
    from hybridrec_core.plugins import get_plugin_manager
    from hybridrec_core.storage import Store
    from hybridrec_plugins.sources.demo import DemoSource

    get_plugin_manager()
    n_tracks = max(2000, n // 100)
    params = {"n_users": max(10, n // 50), "n_tracks": n_tracks, "n_artists": max(10, n_tracks // 10),
              "n_genres": 20, "n_interactions": n, "seed": 42}
    data = DemoSource(params).load()

    class Pregenerated(DemoSource):
        """The generated world handed over again, so timings exclude generation."""

        def load(self):  # type: ignore[override]
            return data

    source = Pregenerated(params)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "daily.duckdb")
        t0 = time.perf_counter()
        ingest(source, store)
        build_features(store, PipelineConfig(seed=42))
        full_s = time.perf_counter() - t0
        day = "2023-12-30"
        t1 = time.perf_counter()
        ing = ingest_days(source, store, day)
        t2 = time.perf_counter()
        enc = encode_days(store, day)
        t3 = time.perf_counter()
    return {"history": int(data.interactions.num_rows), "full_ingest_and_features_s": round(full_s, 3), "day": day,
            "day_rows": ing.accepted, "day_ingest_s": round(t2 - t1, 3), "day_encode_s": round(t3 - t2, 3),
            "day_total_s": round(t3 - t1, 3), "day_encoded_rows": enc.rows}


def project(n: float, fit: dict[str, Any]) -> dict[str, Any]:
    """Ingest from the measured lines; training and recommendation from DOCUMENTED and the stated
    growth of users and tracks with N."""
    users, tracks = n * USERS_PER_INTERACTION, n * TRACKS_PER_INTERACTION
    table_gib = embedding_bytes(users, tracks) / GIB**3
    arrays_gib = n * ARRAY_BYTES_PER_ROW / GIB**3
    d = DOCUMENTED
    scale = d["recommend_catalogue"] / tracks  # per-user scoring cost grows with the catalogue
    return {
        "interactions": int(n), "users": int(users), "tracks": int(tracks),
        "ingest_s": round(fit["seconds"]["intercept"] + fit["seconds"]["slope"] * n, 1),
        "ingest_peak_rss_gib": round((fit["peak_rss_mb"]["intercept"] + fit["peak_rss_mb"]["slope"] * n) / GIB, 2),
        "db_gib": round(fit["db_mb_per_row"] * n / GIB, 2),
        "train_epoch_s": round(n * TRAIN_FRACTION / d["train_samples_per_s"], 1),
        "train_memory_gib": round(TRAIN_BASELINE_MB / GIB + table_gib + arrays_gib, 2),
        "train_embedding_tables_gib": round(table_gib, 2),
        "recommend_exhaustive_all_users_s": round(users / (d["recommend_exhaustive_users_per_s"] * scale), 1),
        "recommend_two_stage_all_users_s": round(
            users * (d["recommend_two_stage_fixed_s"] + d["recommend_two_stage_per_track_s"] * tracks), 1
        ),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1000000,3000000,10000000", help="Comma-separated interaction counts.")
    ap.add_argument("--duckdb-memory", default="1GB", help="DuckDB memory limit for every run.")
    ap.add_argument("--daily-size", type=int, default=1_000_000, help="History size of the daily-refresh run (0: skip).")
    ap.add_argument("--project", default="10000000,100000000,1000000000", help="Sizes to project to.")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    measured = [run_ingest(n, args.duckdb_memory) for n in sizes]
    x = np.array([m["interactions"] for m in measured], float)
    secs = np.array([m["seconds"] for m in measured], float)
    cpu = np.array([m["cpu_s"] for m in measured], float)  # steal-free when others share the cores
    rss = np.array([m["peak_rss_mb"] for m in measured], float)
    db = np.array([m["db_mb"] for m in measured], float)
    s_a, s_b = fit_line(x, secs)
    r_a, r_b = fit_line(x, rss)
    c_a, c_b = fit_line(x, cpu)
    fit = {
        "seconds": {"intercept": round(s_a, 3), "slope": s_b, "us_per_row": round(s_b * 1e6, 3)},
        "cpu_seconds": {"intercept": round(c_a, 3), "slope": c_b, "us_per_row": round(c_b * 1e6, 3)},
        "peak_rss_mb": {"intercept": round(r_a, 1), "slope": r_b, "bytes_per_row": round(r_b * 2**20, 1)},
        "time_exponent": None if (e := loglog_exponent(x, secs)) is None else round(e, 3),
        "cpu_exponent": None if (e := loglog_exponent(x, cpu)) is None else round(e, 3),
        "rss_exponent": None if (e := loglog_exponent(x, rss)) is None else round(e, 3),
        "db_mb_per_row": float(np.sum(db) / np.sum(x)),
    }
    out: dict[str, Any] = {
        "sizes": sizes,
        "seconds": [m["seconds"] for m in measured],
        "cpu_s": [m["cpu_s"] for m in measured],
        "peak_rss_mb": [m["peak_rss_mb"] for m in measured],
        "measured": measured,
        "fit": fit,
        "daily_refresh": daily_refresh(args.daily_size, args.duckdb_memory) if args.daily_size else None,
        "documented": DOCUMENTED,
        "assumptions": {"users_per_interaction": USERS_PER_INTERACTION, "tracks_per_interaction": TRACKS_PER_INTERACTION,
                        "embedding_dim": EMBEDDING_DIM, "optimizer_copies": OPTIMIZER_COPIES,
                        "train_fraction": TRAIN_FRACTION, "array_bytes_per_row": ARRAY_BYTES_PER_ROW,
                        "train_baseline_mb": round(TRAIN_BASELINE_MB, 1),
                        "recommend_scaling": "exhaustive users/s ~ 1/tracks; two-stage s/user = fixed + per_track * tracks"},
        "projection": [project(float(n), fit) for n in (int(p) for p in args.project.split(",") if p.strip())],
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
