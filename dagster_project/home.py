"""DAGSTER_HOME handling: without it Dagster keeps runs in a temporary folder that is deleted
on exit, so the main job and ``ui`` command pin it to ``.hybridrec/dagster_home`` by default."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from dagster_project.assets import DUCKDB_POOL

DEFAULT_HOME = ".hybridrec/dagster_home"
TEMPLATE = Path(__file__).with_name("dagster.yaml")


def ensure_dagster_home(path: str | Path | None = None) -> Path:
    """Create DAGSTER_HOME (``path``, else $DAGSTER_HOME, else the default) with our dagster.yaml
    if it has none, export it as an absolute path (Dagster requires one), give the DuckDB writer
    pool its single slot, and return the folder."""
    home = Path(path or os.environ.get("DAGSTER_HOME") or DEFAULT_HOME).expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.exists():
        shutil.copyfile(TEMPLATE, target)
    os.environ["DAGSTER_HOME"] = str(home)
    init_duckdb_pool()
    return home


def init_duckdb_pool(limit: int = 1) -> None:
    """Set the ``hybridrec_duckdb`` pool's limit once, before any run claims a slot.

    dagster.yaml's ``default_limit`` would create it lazily on first use, but two runs starting at
    the same instant can both initialize it and both get a slot; setting it up front avoids that.
    An existing limit (e.g. raised with ``dagster instance concurrency set``) is left alone.
    """
    from dagster import DagsterInstance

    with DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        if not storage.supports_global_concurrency_limits:
            return
        known = {p.name: p for p in storage.get_pool_limits()}
        if DUCKDB_POOL not in known:
            storage.set_concurrency_slots(DUCKDB_POOL, limit)
