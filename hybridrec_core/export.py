"""Export feature tables from the DuckDB file to partitioned Parquet, for readers on other machines.

One DuckDB file allows one writing process and lives on one disk; Parquet folders can be copied to
object storage and read in parallel by Spark, pandas, pyarrow, DuckDB or a data-parallel training
job (each worker reads its own partitions). Each table becomes ``<out>/<table>/``:

- ``partition_by="none"``: one ``data.parquet``;
- ``"day"``: Hive folders ``day=YYYY-MM-DD/`` (UTC day of ``timestamp``, or the ``day`` column of
  day-partitioned tables; rows without a timestamp land in ``day=__HIVE_DEFAULT_PARTITION__``);
- ``"user"``: Hive folders ``user_bucket=K/`` with ``K = user index mod buckets``, so one user's
  rows in every table (splits, user features, daily features) share a bucket. A modulo of the dense
  index rather than DuckDB's ``hash()``, which is not promised to stay the same across versions: any
  reader can recompute it.

Tables without the column a scheme needs are written unpartitioned (the manifest says so).
``<out>/manifest.json`` lists every table's rows, columns and partition column; read a table back
with ``read_parquet('<out>/<table>/**/*.parquet', hive_partitioning = true)`` (DuckDB) or
``pyarrow.dataset.dataset('<out>/<table>', partitioning='hive')``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, get_args

import duckdb

from hybridrec_core.errors import DataError
from hybridrec_core.storage import Store, validate_identifier

PartitionBy = Literal["none", "day", "user"]
PARTITION_SCHEMES: tuple[str, ...] = get_args(PartitionBy)
DEFAULT_BUCKETS = 16
# What readers elsewhere need to train or score: vocabularies, encoded features, splits, encoder
# states and the encoded daily partitions. Raw tables and the quarantine stay in DuckDB.
EXPORT_PREFIXES = ("vocab_", "features_", "split_")
EXPORT_EXTRA = ("daily_features",)
MANIFEST = "manifest.json"


@dataclass
class ExportedTable:
    """One exported table: where it is, how many rows, how it is partitioned."""

    name: str
    path: str
    rows: int
    files: int
    partition_column: str | None
    columns: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class ExportReport:
    out_dir: str
    partition_by: str
    buckets: int
    tables: list[ExportedTable]
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_export_tables(store: Store) -> list[str]:
    """The feature tables present in ``store`` (vocab_*, features_*, split_*, daily_features)."""
    return [t for t in store.tables() if t.startswith(EXPORT_PREFIXES) or t in EXPORT_EXTRA]


def export_parquet(
    store: Store,
    out_dir: str | Path,
    tables: list[str] | None = None,
    partition_by: PartitionBy = "user",
    buckets: int = DEFAULT_BUCKETS,
) -> ExportReport:
    """Write ``tables`` (default: :func:`default_export_tables`) as Parquet under ``out_dir``.

    Each table is written to a temporary folder and then swapped in, so a reader never sees half a
    table and stale partitions from an earlier export disappear. The manifest is written last.
    """
    t0 = time.perf_counter()
    if partition_by not in PARTITION_SCHEMES:
        raise DataError(f"partition_by={partition_by!r}: use one of {list(PARTITION_SCHEMES)}")
    if not 1 <= int(buckets) <= 4096:
        raise DataError(f"buckets={buckets}: use 1..4096")
    if not store.path.exists():
        raise DataError(f"{store.path} does not exist; run ingest and build_features first")
    present = set(store.tables())
    names = list(tables) if tables is not None else default_export_tables(store)
    for name in names:
        validate_identifier(name)
    missing = [t for t in names if t not in present]
    if missing:
        raise DataError(f"{store.path}: no table(s) {missing} to export; tables here: {sorted(present)}")
    if not names:
        raise DataError(f"{store.path}: no feature tables to export; run build_features first")
    out = Path(out_dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    exported: list[ExportedTable] = []
    with store.connect(read_only=True) as con:
        for name in names:
            exported.append(_export_table(con, name, out, partition_by, int(buckets)))
    report = ExportReport(str(out), partition_by, int(buckets), exported, time.perf_counter() - t0)
    manifest = {
        "format": "parquet", "database": str(store.path), "exported_at": datetime.now(timezone.utc).isoformat(),
        "partition_by": partition_by, "buckets": int(buckets),
        "tables": {t.name: {"path": t.name, "rows": t.rows, "files": t.files, "partition_column": t.partition_column,
                            "columns": t.columns} for t in exported},
    }
    tmp = out / f".{MANIFEST}.{os.getpid()}"
    tmp.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    tmp.replace(out / MANIFEST)
    return report


def _export_table(con: duckdb.DuckDBPyConnection, name: str, out: Path, partition_by: str, buckets: int) -> ExportedTable:
    columns = [(c, t) for c, t in con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? AND table_schema = 'main' "
        "ORDER BY ordinal_position", [name]).fetchall()]
    rows = int(con.execute(f'SELECT count(*) FROM "{name}"').fetchall()[0][0])
    # An empty table gets one empty file: its schema survives, and readers' globs match something.
    part_col, select = partition_select(name, [c for c, _ in columns], partition_by if rows else "none")
    target = out / name
    staging = out / f".{name}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        if part_col is None:
            staging.mkdir(parents=True)
            con.execute(f"COPY ({select}) TO ? (FORMAT PARQUET, COMPRESSION ZSTD)", [str(staging / "data.parquet")])
        else:
            params: list[Any] = [buckets] if part_col == "user_bucket" else []
            con.execute(f"COPY ({select}) TO ? (FORMAT PARQUET, COMPRESSION ZSTD, PARTITION_BY ({part_col}))",
                        [*params, str(staging)])
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    files = sum(1 for _ in target.rglob("*.parquet"))
    return ExportedTable(name, str(target), rows, files, part_col, columns)


def partition_select(table: str, columns: list[str], partition_by: str) -> tuple[str | None, str]:
    """(partition column or None, the SELECT that adds it) for one table under one scheme.

    ``user`` uses ``user_idx``, or ``idx`` in the per-user tables keyed by it (vocab_users,
    features_users); ``day`` uses a ``day`` column, else the UTC day of ``timestamp`` (epoch s).
    The bucket count is the query's one parameter.
    """
    validate_identifier(table)
    src = f'SELECT * FROM "{table}"'
    if partition_by == "user":
        user = "user_idx" if "user_idx" in columns else ("idx" if {"idx", "user_id"} <= set(columns) else None)
        if user is not None:
            return "user_bucket", f'SELECT *, CAST("{user}" % ? AS INTEGER) AS user_bucket FROM "{table}"'
    if partition_by == "day":
        if "day" in columns:
            return "day", src
        if "timestamp" in columns:
            return "day", f'SELECT *, DATE \'1970-01-01\' + CAST(floor("timestamp" / 86400) AS INTEGER) AS day FROM "{table}"'
    return None, src
