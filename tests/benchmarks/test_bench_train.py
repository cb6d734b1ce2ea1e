"""Smoke run of benchmarks/bench_train.py at tiny sizes: one JSON object with every key."""

from __future__ import annotations

import pytest

SCRIPT = "bench_train.py"
KEYS = {
    "reference_samples_per_s", "engine_samples_per_s_batch256", "engine_samples_per_s_default", "ratio_batch256",
    "ratio_default", "reference_val_rmse", "engine_val_rmse", "engine_gflops", "matmul_peak_gflops", "device",
    "threads", "peak_rss_mb",
}


@pytest.mark.slow
def test_smoke_prints_one_json_object(run_bench) -> None:
    out = run_bench(SCRIPT, "--smoke", "--device", "cpu", "--threads", "1")
    assert KEYS <= set(out)
    numeric = KEYS - {"device"}
    assert all(out[k] > 0 for k in numeric)
    assert 0 < out["engine_val_rmse"] < 1 and 0 < out["reference_val_rmse"] < 1
