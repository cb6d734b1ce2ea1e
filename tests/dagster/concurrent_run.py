"""Helper process for test_dagster_concurrency.py: one full refresh against a shared DuckDB file
and a shared DAGSTER_HOME. Usage: python concurrent_run.py STORAGE_DIR DAGSTER_HOME TAG"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from dagster import DagsterInstance

from dagster_project.home import ensure_dagster_home
from dagster_project.jobs import FULL_REFRESH

from dagster_testkit import make_definitions, small_config

# Popularity only: every DuckDB writer (ingest, features, recommendations) runs, training is instant.
FAST = {"models": [{"name": "popularity"}], "metrics": [{"name": "ranking"}]}


def main(storage: str, home: str, tag: str) -> None:
    ensure_dagster_home(home)
    definitions = make_definitions(Path(storage), small_config(**FAST))
    job = definitions.resolve_job_def(FULL_REFRESH)
    with DagsterInstance.get() as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False, tags={"hybridrec/test": tag})
    print(json.dumps({"run_id": result.run_id, "success": result.success}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
