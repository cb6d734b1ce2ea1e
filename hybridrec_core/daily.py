"""Day-partitioned interactions: ingest and encode one day (or a range of days) at a time.

A daily refresh should cost what one day of data costs, not what the whole history costs. Two
steps, each writing only the rows of the days it was given:

- :func:`ingest_days` validates the source's interactions with the same SQL rules as the full
  :func:`hybridrec_core.ingest.ingest` and writes the rows whose timestamp falls inside
  ``[start, end)`` (UTC days) to ``daily_interactions``, rejected rows of those days to
  ``daily_quarantine``. Duplicates merge per (day, user, track).
- :func:`encode_days` encodes those rows with the encoders the last ``build_features`` fitted
  (read from ``features_encoders``), never refitting them: known ids keep their index, ids the
  fitted vocabularies do not know get new indices after them (``daily_vocab_users`` /
  ``daily_vocab_items``, append-only), and the rows go to ``daily_features``.

Each call deletes the range's rows and inserts the new ones in ONE transaction: re-running a day
gives the same rows (idempotent), and a failed run leaves the previous good rows in place. Rows
without a usable timestamp belong to no day; they are counted (``undated``) and left to the full
ingest, which quarantines malformed timestamps.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from hybridrec_core.errors import DataError
from hybridrec_core.features import encoder_from_state
# The staging helpers of the full ingest: one set of validation rules for both paths, so a row
# the daily ingest accepts is a row the full ingest accepts.
from hybridrec_core.ingest import apply_memory_limit, id_layout, stage_source, view_columns
from hybridrec_core.interfaces import DataSource
from hybridrec_core.storage import Store, transaction

DAILY_INTERACTIONS = "daily_interactions"
DAILY_QUARANTINE = "daily_quarantine"
DAILY_FEATURES = "daily_features"
DAILY_VOCAB = {"user": "daily_vocab_users", "item": "daily_vocab_items"}
DAILY_TABLES = (DAILY_INTERACTIONS, DAILY_QUARANTINE, DAILY_FEATURES, *DAILY_VOCAB.values())
SECONDS_PER_DAY = 86_400
EPOCH = date(1970, 1, 1)

# A UTC day from epoch seconds without the session time zone (floor, so negative epochs work too).
_DAY_SQL = "(DATE '1970-01-01' + CAST(floor(\"timestamp\" / 86400) AS INTEGER))"

_SCHEMAS = {
    DAILY_INTERACTIONS: """day DATE NOT NULL, user_id VARCHAR NOT NULL, track_id VARCHAR NOT NULL, plays DOUBLE,
        "timestamp" BIGINT, source_rows INTEGER, first_row BIGINT""",
    DAILY_QUARANTINE: "day DATE NOT NULL, source VARCHAR, table_name VARCHAR, row_number BIGINT, reason VARCHAR, raw VARCHAR",
    DAILY_FEATURES: """day DATE NOT NULL, user_id VARCHAR, track_id VARCHAR, user_idx BIGINT, item_idx BIGINT,
        new_user BOOLEAN, new_item BOOLEAN, plays FLOAT, target FLOAT, "timestamp" BIGINT, hour TINYINT,
        weekday TINYINT, recency_days FLOAT, encoder_version VARCHAR""",
    DAILY_VOCAB["user"]: "encoder_version VARCHAR, idx BIGINT, user_id VARCHAR, first_day DATE",
    DAILY_VOCAB["item"]: "encoder_version VARCHAR, idx BIGINT, track_id VARCHAR, first_day DATE",
}


def as_day(value: date | datetime | str) -> date:
    """A calendar day from a date, an aware/naive datetime (read as UTC) or ``YYYY-MM-DD`` text."""
    if isinstance(value, datetime):
        return (value.astimezone(timezone.utc) if value.tzinfo else value).date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError as exc:
        raise DataError(f"{value!r} is not a day: use YYYY-MM-DD") from exc


def day_bounds(start: date | datetime | str, end: date | datetime | str | None = None) -> tuple[date, date]:
    """``[start, end)`` as days; ``end`` defaults to the day after ``start`` (one partition)."""
    lo = as_day(start)
    hi = as_day(end) if end is not None else lo + timedelta(days=1)
    if hi <= lo:
        raise DataError(f"empty day range [{lo}, {hi}): the end day is exclusive and must come after the start")
    return lo, hi


def epoch_seconds(day: date) -> int:
    """Start of ``day`` (UTC) in epoch seconds."""
    return (day - EPOCH).days * SECONDS_PER_DAY


@dataclass
class DailyIngestReport:
    """Row accounting of one :func:`ingest_days` call: rows_read == accepted + quarantined + merged,
    over the source rows dated inside ``[start, end)``."""

    source: str
    start: str
    end: str
    rows_read: int = 0
    accepted: int = 0
    quarantined: int = 0
    merged: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    per_day: dict[str, int] = field(default_factory=dict)  # accepted rows per day with any
    undated: int = 0  # source rows with no usable timestamp: in no partition
    seconds: float = 0.0

    @property
    def balanced(self) -> bool:
        return self.rows_read == self.accepted + self.quarantined + self.merged

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DailyEncodeReport:
    """What one :func:`encode_days` call wrote."""

    start: str
    end: str
    rows: int = 0
    per_day: dict[str, int] = field(default_factory=dict)
    new_users: int = 0  # ids added to daily_vocab_users by this call
    new_items: int = 0
    encoder_version: str = ""
    stale_days: int = 0  # days encoded with encoders that have since been refitted: re-run them
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------------- ingest
def ingest_days(source: DataSource, store: Store, start: date | str, end: date | str | None = None) -> DailyIngestReport:
    """Validate ``source`` and replace the rows of the days ``[start, end)`` in
    ``daily_interactions`` / ``daily_quarantine`` (one transaction; other days untouched)."""
    t0 = time.perf_counter()
    lo, hi = day_bounds(start, end)
    data = source.load()
    report = DailyIngestReport(source=source.name, start=lo.isoformat(), end=hi.isoformat())
    with store.connect() as con:
        con.execute("SET preserve_insertion_order = false")
        apply_memory_limit(con)
        ensure_daily_tables(con)
        views = stage_source(con, data)  # TEMP tables and views: gone when this connection closes
        _ingest_range(con, views["interactions"], source.name, lo, hi, report)
    src_q = data.quarantine
    if src_q is not None and len(src_q):  # lines the source could not parse carry no timestamp
        tables = src_q["table"] if "table" in src_q.columns else src_q.get("table_name")
        report.undated += int((tables == "interactions").sum()) if tables is not None else 0
    report.seconds = time.perf_counter() - t0
    return report


def _ingest_range(con: duckdb.DuckDBPyConnection, view: str, source_name: str, lo: date, hi: date,
                  report: DailyIngestReport) -> None:
    (ukey, utext), (tkey, ttext) = id_layout(view_columns(con, view)).values()
    report.undated = int(con.execute('SELECT count(*) FROM __inter WHERE "timestamp" IS NULL').fetchall()[0][0])
    con.execute(
        f'CREATE OR REPLACE TEMP TABLE __day_inter AS SELECT *, {_DAY_SQL} AS day FROM __inter '
        'WHERE "timestamp" >= ? AND "timestamp" < ?',
        [epoch_seconds(lo), epoch_seconds(hi)],
    )
    read, quarantined = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE reason IS NOT NULL) FROM __day_inter").fetchall()[0]
    report.rows_read, report.quarantined = int(read), int(quarantined)
    report.reasons = {r: int(n) for r, n in con.execute(
        "SELECT reason, count(*) FROM __day_inter WHERE reason IS NOT NULL GROUP BY 1 ORDER BY 1").fetchall()}
    with transaction(con):
        for table in (DAILY_INTERACTIONS, DAILY_QUARANTINE):
            con.execute(f'DELETE FROM "{table}" WHERE day >= ? AND day < ?', [lo, hi])
        con.execute(f"""INSERT INTO {DAILY_INTERACTIONS}
            SELECT day, {utext} AS user_id, {ttext} AS track_id, plays, "timestamp", source_rows, first_row FROM (
                SELECT day, {ukey}, {tkey}, sum(plays) AS plays, max("timestamp") AS "timestamp",
                       count(*)::INTEGER AS source_rows, min(__row) AS first_row
                FROM __day_inter WHERE reason IS NULL GROUP BY day, {ukey}, {tkey})""")
        con.execute(f"""INSERT INTO {DAILY_QUARANTINE}
            SELECT q.day, ?, 'interactions', s.__row, q.reason,
                   json_merge_patch(to_json(s), '{{"__row": null}}')::VARCHAR
            FROM "{view}" s JOIN (SELECT __row, day, reason FROM __day_inter WHERE reason IS NOT NULL) q USING (__row)""",
                    [source_name])
        per_day = con.execute(
            f"SELECT CAST(day AS VARCHAR), count(*) FROM {DAILY_INTERACTIONS} WHERE day >= ? AND day < ? "
            "GROUP BY day ORDER BY day", [lo, hi]).fetchall()
    report.per_day = {d: int(n) for d, n in per_day}
    report.accepted = sum(report.per_day.values())
    report.merged = report.rows_read - report.quarantined - report.accepted


def ensure_daily_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the day-partitioned tables when they do not exist yet (never replaces them)."""
    for name, columns in _SCHEMAS.items():
        con.execute(f'CREATE TABLE IF NOT EXISTS "{name}" ({columns})')


# --------------------------------------------------------------------------------- encode
def encoder_version(con: duckdb.DuckDBPyConnection) -> str:
    """A fingerprint of the fitted encoder states: it changes exactly when build_features refits
    them, which makes earlier daily indices and targets stale."""
    row = con.execute("""SELECT md5(coalesce(string_agg(key || ':' || name || ':' || md5(params) || ':' || md5(meta), '|'
                                                       ORDER BY key), '')) FROM features_encoders""").fetchall()[0]
    arrays = con.execute("""SELECT md5(coalesce(string_agg(key || ':' || array_name || ':' || md5(npy), '|'
                                                          ORDER BY key, array_name), '')) FROM features_encoder_arrays""").fetchall()[0]
    return f"{row[0][:16]}{arrays[0][:16]}"


def _encoder_entry(con: duckdb.DuckDBPyConnection, key: str) -> dict[str, Any]:
    """One fitted encoder state (as FeatureSet.encoder_state holds it), without loading the splits."""
    rows = con.execute("SELECT role, name, params, meta FROM features_encoders WHERE key = ?", [key]).fetchall()
    if not rows:
        raise DataError(f"no fitted {key!r} encoder in features_encoders; run build_features first")
    role, name, params, meta = rows[0]
    arrays = {n: np.load(io.BytesIO(blob), allow_pickle=False) for n, blob in con.execute(
        "SELECT array_name, npy FROM features_encoder_arrays WHERE key = ?", [key]).fetchall()}
    return {"role": role, "name": name, "params": json.loads(params), "meta": json.loads(meta), "arrays": arrays}


def encode_days(store: Store, start: date | str, end: date | str | None = None) -> DailyEncodeReport:
    """Encode ``daily_interactions`` rows of ``[start, end)`` with the fitted encoders into
    ``daily_features`` (the range's rows replaced in one transaction)."""
    t0 = time.perf_counter()
    lo, hi = day_bounds(start, end)
    report = DailyEncodeReport(start=lo.isoformat(), end=hi.isoformat())
    with store.connect() as con:
        apply_memory_limit(con)
        needed = ("features_encoders", "features_encoder_arrays", "vocab_users", "vocab_items")
        have = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        missing = [t for t in needed if t not in have]
        if missing:
            raise DataError(f"{store.path}: tables {missing} are missing; build the features (feature_tables) "
                            "first: daily rows are encoded with the fitted encoders, never refitted")
        ensure_daily_tables(con)
        version = encoder_version(con)
        strength = encoder_from_state(_encoder_entry(con, "strength"))
        temporal = encoder_from_state(_encoder_entry(con, "temporal"))
        with transaction(con):
            report.new_users = _extend_vocab(con, "user", version, lo, hi)
            report.new_items = _extend_vocab(con, "item", version, lo, hi)
            rows = con.sql(f"""
                SELECT d.day, d.user_id, d.track_id,
                       coalesce(vu.idx, eu.idx) AS user_idx, coalesce(vi.idx, ei.idx) AS item_idx,
                       vu.idx IS NULL AS new_user, vi.idx IS NULL AS new_item, d.plays, d."timestamp"
                FROM {DAILY_INTERACTIONS} d
                LEFT JOIN vocab_users vu ON vu.user_id = d.user_id
                LEFT JOIN {DAILY_VOCAB['user']} eu ON eu.encoder_version = ? AND eu.user_id = d.user_id
                LEFT JOIN vocab_items vi ON vi.track_id = d.track_id
                LEFT JOIN {DAILY_VOCAB['item']} ei ON ei.encoder_version = ? AND ei.track_id = d.track_id
                WHERE d.day >= ? AND d.day < ?
                ORDER BY d.day, user_idx, item_idx""", params=[version, version, lo, hi]).to_arrow_table()
            encoded = _encode_rows(rows, strength, temporal, version)
            con.execute(f"DELETE FROM {DAILY_FEATURES} WHERE day >= ? AND day < ?", [lo, hi])
            con.register("__daily_encoded", encoded)
            con.execute(f"INSERT INTO {DAILY_FEATURES} BY NAME SELECT * FROM __daily_encoded")
            con.unregister("__daily_encoded")
            per_day = con.execute(
                f"SELECT CAST(day AS VARCHAR), count(*) FROM {DAILY_FEATURES} WHERE day >= ? AND day < ? "
                "GROUP BY day ORDER BY day", [lo, hi]).fetchall()
            stale = con.execute(f"SELECT count(DISTINCT day) FROM {DAILY_FEATURES} WHERE encoder_version <> ?",
                                [version]).fetchall()[0][0]
    report.per_day = {d: int(n) for d, n in per_day}
    report.rows = sum(report.per_day.values())
    report.encoder_version = version
    report.stale_days = int(stale)
    report.seconds = time.perf_counter() - t0
    return report


def _extend_vocab(con: duckdb.DuckDBPyConnection, side: str, version: str, lo: date, hi: date) -> int:
    """Give ids of the range that neither the fitted vocabulary nor the extension knows the next
    indices, ordered by (first day, id) so a range run numbers them like day-by-day runs would."""
    ext, col = DAILY_VOCAB[side], ("user_id" if side == "user" else "track_id")
    fitted = "vocab_users" if side == "user" else "vocab_items"
    before = con.execute(f"SELECT count(*) FROM {ext} WHERE encoder_version = ?", [version]).fetchall()[0][0]
    con.execute(f"""INSERT INTO {ext}
        SELECT ?, (SELECT count(*) FROM {fitted}) + ? + row_number() OVER (ORDER BY first_day, {col}) - 1, {col}, first_day
        FROM (SELECT d.{col}, min(d.day) AS first_day FROM {DAILY_INTERACTIONS} d
              WHERE d.day >= ? AND d.day < ?
                AND NOT EXISTS (SELECT 1 FROM {fitted} v WHERE v.{col} = d.{col})
                AND NOT EXISTS (SELECT 1 FROM {ext} e WHERE e.encoder_version = ? AND e.{col} = d.{col})
              GROUP BY d.{col})""", [version, before, lo, hi, version])
    after = con.execute(f"SELECT count(*) FROM {ext} WHERE encoder_version = ?", [version]).fetchall()[0][0]
    return int(after - before)


def _encode_rows(rows: pa.Table, strength: Any, temporal: Any, version: str) -> pa.Table:
    """Target and time features of the range's rows, with the fitted (not refitted) encoders."""
    n = rows.num_rows
    users = rows.column("user_idx").to_numpy().astype(np.int64)
    plays = rows.column("plays").to_numpy().astype(np.float64)
    ts = rows.column("timestamp").to_numpy().astype(np.int64)
    target = strength.transform(plays, users=users) if n else np.zeros(0, np.float32)
    time_features = temporal.transform(ts) if n else None
    cols: dict[str, Any] = {name: rows.column(name) for name in
                            ("day", "user_id", "track_id", "user_idx", "item_idx", "new_user", "new_item")}
    cols["plays"] = pa.array(plays.astype(np.float32))
    cols["target"] = pa.array(np.asarray(target, np.float32))
    cols["timestamp"] = pa.array(ts)
    for name, typ in (("hour", pa.int8()), ("weekday", pa.int8()), ("recency_days", pa.float32())):
        cols[name] = pa.array(time_features[name], typ) if time_features is not None else pa.nulls(n, typ)
    cols["encoder_version"] = pa.array([version] * n, pa.string())
    return pa.table(cols)


def day_counts(store: Store, table: str = DAILY_INTERACTIONS) -> dict[str, int]:
    """Rows per day of a day-partitioned table (empty when it does not exist yet)."""
    partitioned = (DAILY_INTERACTIONS, DAILY_QUARANTINE, DAILY_FEATURES)
    if table not in partitioned:
        raise DataError(f"{table!r} is not a day-partitioned table; use one of {list(partitioned)}")
    if not store.path.exists() or not store.table_exists(table):
        return {}
    with store.connect(read_only=True) as con:
        return {d: int(n) for d, n in con.execute(
            f'SELECT CAST(day AS VARCHAR), count(*) FROM "{table}" GROUP BY day ORDER BY day').fetchall()}
