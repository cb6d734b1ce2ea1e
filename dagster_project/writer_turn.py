"""One DuckDB writer at a time across processes, even when Dagster's pool lets two through.

Every DuckDB-writing asset runs in the ``hybridrec_duckdb`` pool (one slot), which shows waiting
steps in the UI. With the default SQLite instance storage, though, Dagster's slot claim is not
atomic across processes: two runs launched at the same instant (two schedules ticking together, or
two ``execute_in_process`` calls) can both be assigned the single slot. The DuckDB file itself
would survive that (:class:`~hybridrec_core.storage.Store` retries while another process holds
the file lock), but one step's reads could then interleave with the other's writes. So each
writer step also takes an OS file lock next to the database for its whole body.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dagster import AssetExecutionContext
from filelock import FileLock

TURN_TAKEN = "took the DuckDB writer turn"  # log line tests read to find when a step began writing
TURN_RELEASED = "released the DuckDB writer turn"  # ... and when it stopped (logged while still holding it)


def lock_path(database: str | Path) -> Path:
    """The lock file beside the database (``hybridrec.duckdb`` -> ``hybridrec.duckdb.writer.lock``)."""
    path = Path(database)
    return path.with_name(path.name + ".writer.lock")


@contextmanager
def writer_turn(context: AssetExecutionContext, database: str | Path) -> Iterator[None]:
    """Hold the database's writer lock while the body runs; log how long the step waited for it
    and, still holding it, that it is letting go: the step's own end is logged later (after Dagster
    handles its outputs), by when another process may already have taken the turn."""
    path = lock_path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with FileLock(str(path)):
        taken = time.monotonic()
        context.log.info(f"{TURN_TAKEN} on {Path(database).name} after {taken - start:.2f}s")
        try:
            yield
        finally:
            context.log.info(f"{TURN_RELEASED} on {Path(database).name} after {time.monotonic() - taken:.2f}s")
