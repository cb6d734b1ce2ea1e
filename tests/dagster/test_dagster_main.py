"""``python -m dagster_project``: the main job materializes everything, keeps the run in
DAGSTER_HOME and prints where the results are and how to open the UI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml
from dagster import DagsterInstance, DagsterRunStatus

from dagster_testkit import small_mapping

ROOT = Path(__file__).resolve().parents[2]


def test_main_job_materializes_the_graph_and_prints_where_results_are(tmp_path: Path) -> None:
    config = tmp_path / "pipeline.yaml"
    # Popularity only keeps this quick; the hybrid path is covered by test_dagster_pipeline.py.
    config.write_text(yaml.safe_dump(small_mapping(models=[{"name": "popularity"}])))
    home = tmp_path / "home"
    env = {
        **os.environ, "DAGSTER_HOME": str(home), "HYBRIDREC_CONFIG": str(config),
        "HYBRIDREC_DUCKDB": str(tmp_path / "db" / "hybridrec.duckdb"), "HYBRIDREC_ARTIFACTS": str(tmp_path / "art"),
    }
    done = subprocess.run([sys.executable, "-m", "dagster_project"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "SUCCESS" in out and str(tmp_path / "db" / "hybridrec.duckdb") in out
    assert "recommendations" in out and "raw_interactions" in out
    assert f"DAGSTER_HOME={home.resolve()} dagster dev" in out and "http://127.0.0.1:3000" in out
    report_line = next(line for line in out.splitlines() if line.startswith("Evaluation report:"))
    assert Path(report_line.split(":", 1)[1].strip()).exists()
    assert "FAILED" not in out
    with DagsterInstance.from_config(str(home.resolve())) as instance:
        runs = instance.get_runs()
        assert all(r.status == DagsterRunStatus.SUCCESS for r in runs)
        # the full refresh, then the assets outside it: the latest day partition and the Parquet export
        assert sorted(r.job_name for r in runs) == sorted(
            ["hybridrec_full_refresh", "hybridrec_daily_partitions", "hybridrec_export_parquet"]
        )
        daily = next(r for r in runs if r.job_name == "hybridrec_daily_partitions")
        assert daily.tags.get("dagster/partition")
    assert "hybridrec_export_parquet: OK (parquet_export)" in out
