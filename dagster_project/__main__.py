"""``python -m dagster_project``: the main job.

Materializes every asset (and runs every check) on the configured data — the demo world by
default — in-process, recorded in DAGSTER_HOME so the runs show up in the UI afterwards, then
prints where the results are and how to open the UI.

``python -m dagster_project ui [--port N]`` starts ``dagster dev`` with the same DAGSTER_HOME.
``--config FILE`` (before the subcommand) uses that pipeline config instead of the demo defaults.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dagster_project.home import ensure_dagster_home


def _summary(result, home: Path) -> str:
    from dagster_project.resources import default_resources
    from hybridrec_core.storage import Store

    res = default_resources()
    store = Store(res["duckdb"].database)
    lines = [f"Run {result.run_id}: {'SUCCESS' if result.success else 'FAILED'}", ""]
    lines.append(f"DuckDB file:      {store.path}")
    for table in store.tables():
        lines.append(f"  {table:<24} {store.row_count(table):>10,} rows")
    lines.append(f"Artifacts:        {res['artifacts'].root}")
    for mat in result.get_asset_materialization_events():
        meta = mat.materialization.metadata
        if "report_dir" in meta:
            lines.append(f"Evaluation report: {meta['report_dir'].value}/report.md")
    for check in result.get_asset_check_evaluations():
        status = "passed" if check.passed else "FAILED"
        lines.append(f"Check {check.asset_key.to_user_string()}:{check.check_name}: {status}")
    lines += [
        "",
        "Open the UI (asset graph, runs, metadata, checks):",
        f"  DAGSTER_HOME={home} dagster dev      # or: python -m dagster_project ui",
        "  then browse http://127.0.0.1:3000",
    ]
    return "\n".join(lines)


def run_main_job() -> int:
    home = ensure_dagster_home()
    from dagster import DagsterInstance

    from dagster_project.definitions import defs
    from dagster_project.jobs import DAILY_PARTITIONS, EXPORT_PARQUET, FULL_REFRESH

    # INFO: the assets' own messages (rows ingested, model trained in N s), not every engine event.
    quiet = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
    with DagsterInstance.get() as instance:
        result = defs.resolve_job_def(FULL_REFRESH).execute_in_process(
            instance=instance, raise_on_error=False, run_config=quiet
        )
        if not result.success:
            print(_summary(result, home))
            return 1
        lines = []
        # The assets outside the full refresh: the latest day partition, then the Parquet export.
        daily = defs.resolve_job_def(DAILY_PARTITIONS)
        last_day = daily.partitions_def.get_last_partition_key() if daily.partitions_def else None
        extra = [(daily, last_day), (defs.resolve_job_def(EXPORT_PARQUET), None)]
        for job, key in extra:
            if job is daily and key is None:
                continue
            res = job.execute_in_process(instance=instance, raise_on_error=False, run_config=quiet, partition_key=key)
            done = ", ".join(sorted(e.asset_key.to_user_string() for e in res.get_asset_materialization_events()))
            lines.append(f"{job.name}{f' [{key}]' if key else ''}: {'OK' if res.success else 'FAILED'} ({done})")
            if not res.success:
                print("\n".join(lines))
                return 1
    print("\n".join(lines))
    print(_summary(result, home))
    return 0


def run_ui(port: int) -> int:
    home = ensure_dagster_home()
    cmd = [sys.executable, "-m", "dagster", "dev", "-h", "127.0.0.1", "-p", str(port)]
    print(f"DAGSTER_HOME={home}; starting {' '.join(cmd[2:])} -> http://127.0.0.1:{port}", flush=True)
    os.execv(sys.executable, cmd)
    return 0  # not reached


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dagster_project", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", help="pipeline config file (YAML/TOML/JSON); same as HYBRIDREC_CONFIG")
    sub = parser.add_subparsers(dest="command")
    ui = sub.add_parser("ui", help="start `dagster dev` with DAGSTER_HOME set")
    ui.add_argument("--port", type=int, default=3000)
    args = parser.parse_args(argv)
    if args.config:  # read when the definitions are built, which happens after this
        os.environ["HYBRIDREC_CONFIG"] = str(Path(args.config).resolve())
    if args.command == "ui":
        return run_ui(args.port)
    return run_main_job()


if __name__ == "__main__":
    raise SystemExit(main())
