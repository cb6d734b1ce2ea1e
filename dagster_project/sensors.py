"""A sensor that starts a full refresh when interaction files land in a watched folder.

The folder is ``HYBRIDREC_WATCH_DIR`` (read at each tick). Point the pipeline's source at the same
folder (e.g. a ``csv``/``parquet`` source in the file named by ``HYBRIDREC_CONFIG``) so the refresh
ingests what landed. The cursor is a JSON map of file name -> mtime, so a new file or a rewritten
one triggers exactly one run (its run key is a hash of what changed).
"""

import hashlib
import json
import os
from pathlib import Path

from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SensorResult, SkipReason, sensor

from dagster_project.jobs import full_refresh_job

WATCH_ENV = "HYBRIDREC_WATCH_DIR"
INTERACTION_SUFFIXES = (".csv", ".tsv", ".parquet", ".dat", ".txt")


def scan(folder: Path) -> dict[str, float]:
    """Interaction-like files directly in ``folder`` -> modification time."""
    return {
        p.name: p.stat().st_mtime
        for p in sorted(folder.iterdir())
        if p.is_file() and p.suffix.lower() in INTERACTION_SUFFIXES and not p.name.startswith(".")
    }


def changed_files(current: dict[str, float], seen: dict[str, float]) -> list[str]:
    return sorted(name for name, mtime in current.items() if seen.get(name) != mtime)


@sensor(
    name="new_interaction_files",
    job=full_refresh_job,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING if os.environ.get(WATCH_ENV) else DefaultSensorStatus.STOPPED,
    description="Full refresh when new or changed interaction files appear in $HYBRIDREC_WATCH_DIR.",
)
def new_interaction_files(context: SensorEvaluationContext) -> SensorResult | SkipReason:
    folder = os.environ.get(WATCH_ENV, "").strip()
    if not folder:
        return SkipReason(f"{WATCH_ENV} is not set: nothing to watch")
    path = Path(folder)
    if not path.is_dir():
        return SkipReason(f"{WATCH_ENV}={folder} is not a folder")
    seen = json.loads(context.cursor) if context.cursor else {}
    current = scan(path)
    new = changed_files(current, seen)
    if not new:
        return SkipReason(f"no new or changed interaction files in {folder}")
    key = hashlib.sha256(json.dumps({n: current[n] for n in new}, sort_keys=True).encode()).hexdigest()[:16]
    context.log.info(f"new interaction files in {folder}: {new}")
    return SensorResult(
        run_requests=[RunRequest(run_key=key, tags={"hybridrec/trigger": "new_interaction_files",
                                                    "hybridrec/files": ",".join(new)[:1000]})],
        cursor=json.dumps(current, sort_keys=True),
    )
