"""Smoke run of the ingest benchmark on a tiny world: it prints one JSON object with the fields CI reads."""

from __future__ import annotations


def test_bench_ingest_prints_one_json_object(run_bench) -> None:
    result = run_bench("bench_ingest.py", "--interactions", "5000", timeout=120)
    assert {"interactions", "seconds", "rows_per_s", "peak_rss_mb"} <= set(result)
    assert 3000 < result["interactions"] < 7000 and result["seconds"] > 0 and result["peak_rss_mb"] > 0
