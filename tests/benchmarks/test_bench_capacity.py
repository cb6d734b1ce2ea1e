"""Smoke run of the capacity benchmark on tiny sizes: one JSON object with measured sizes, fitted
slopes, the daily-partition timing and projections to the sizes asked for."""

from __future__ import annotations

import pytest


def test_bench_capacity_prints_fits_and_projections(run_bench) -> None:
    result = run_bench("bench_capacity.py", "--sizes", "5000,10000", "--daily-size", "5000",
                       "--project", "1000000,10000000", timeout=240)
    assert result["sizes"] == [5000, 10000] and len(result["seconds"]) == len(result["peak_rss_mb"]) == 2
    assert result["fit"]["seconds"]["slope"] != 0 and result["fit"]["peak_rss_mb"]["intercept"] > 0
    daily = result["daily_refresh"]
    assert daily["day_rows"] == daily["day_encoded_rows"] and daily["day_total_s"] > 0
    small, large = result["projection"]
    assert (small["interactions"], large["interactions"]) == (1_000_000, 10_000_000)
    assert large["train_epoch_s"] == pytest.approx(10 * small["train_epoch_s"], rel=0.01)  # linear in rows
    assert large["train_memory_gib"] > small["train_memory_gib"] > 0
