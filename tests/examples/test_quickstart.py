"""examples/quickstart.py is documentation that must keep running: execute it for real."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quickstart_runs_end_to_end(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py"), "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "reloaded model scores identically: True" in out
    assert (tmp_path / "report" / "metrics.json").is_file()
    assert (tmp_path / "hybridrec.duckdb").is_file()
    # one line per (user, rank) for 3 users x 5 items, with the model and baseline both evaluated
    assert out.count("NDCG@10") == 2


def test_example_pipeline_config_names_installed_plugins_with_valid_params() -> None:
    from hybridrec_core.config import load_config

    cfg = load_config(ROOT / "examples" / "pipeline.yaml")
    cfg.validate_plugins()
    assert [r.name for r in cfg.rerankers] == ["explicit_filter", "mmr_diversity", "genre_balance"]
    assert cfg.primary_model == "hybrid"
