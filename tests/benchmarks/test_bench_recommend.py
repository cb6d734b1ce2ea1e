"""Smoke run of benchmarks/bench_recommend.py at tiny sizes: one JSON object with every key."""

from __future__ import annotations

from pathlib import Path

import pytest

SCRIPT = "bench_recommend.py"
KEYS = {
    "reference_users_per_s", "exhaustive_users_per_s", "two_stage_users_per_s", "ratio_exhaustive",
    "ratio_two_stage", "two_stage_overlap_at_10", "mmr_users_per_s", "exhaustive_gflops", "matmul_peak_gflops",
}


@pytest.mark.slow
def test_smoke_prints_one_json_object(run_bench, tmp_path: Path) -> None:
    out = run_bench(SCRIPT, "--smoke", "--device", "cpu", "--workdir", str(tmp_path))
    assert KEYS <= set(out)
    assert out["two_stage_mode"] == "two_stage"
    assert 0.0 <= out["two_stage_overlap_at_10"] <= 1.0
    assert all(out[k] > 0 for k in KEYS - {"two_stage_overlap_at_10"})
