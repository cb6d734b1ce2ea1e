"""Shared runner for benchmark smoke tests: each benchmark must print exactly one JSON object."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def run_bench() -> Callable[..., dict[str, Any]]:
    """``run_bench("bench_train.py", "--smoke")`` runs the script and returns its one JSON object."""

    def run(script: str, *args: str, timeout: int = 300) -> dict[str, Any]:
        proc = subprocess.run([sys.executable, str(BENCHMARKS / script), *args],
                              capture_output=True, text=True, timeout=timeout)
        assert proc.returncode == 0, proc.stderr[-3000:]
        lines = [line for line in proc.stdout.splitlines() if line.strip()]
        assert len(lines) == 1, proc.stdout
        return json.loads(lines[0])

    return run
