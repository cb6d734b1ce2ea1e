"""Smoke run of the ingest benchmark on a tiny world: it prints one JSON object with the fields CI reads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_ingest.py"


def test_bench_ingest_prints_one_json_object() -> None:
    out = subprocess.run([sys.executable, str(BENCH), "--interactions", "5000"], capture_output=True, text=True,
                         check=True, timeout=120)
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert {"interactions", "seconds", "rows_per_s", "peak_rss_mb"} <= set(result)
    assert 3000 < result["interactions"] < 7000 and result["seconds"] > 0 and result["peak_rss_mb"] > 0
