"""Validate a source's canonical tables in DuckDB and write ``raw_*`` + ``quarantine`` atomically.

Nothing is lost and nothing is silent: every source row is either accepted, merged into another
row by the duplicate rule, or written to ``quarantine`` with its reason and the raw row as JSON.
All checks are SQL over the registered frames (no per-row Python). See docs/data.md.

Duplicate rules: interactions with the same (user_id, track_id) are merged into one row
(plays summed, latest timestamp kept); tracks/users/user flags with the same id keep their first
valid row.

User flags (``SourceData.user_flags`` or a ``user_flags.path`` file) are validated in the same
transaction: non-boolean values are quarantined, flags of users the ingest does not know are kept
but counted in the report (they cannot reach a list until the user exists). See
:mod:`hybridrec_core.user_flags`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from hybridrec_core.dataset import AUDIO_FEATURES
from hybridrec_core.errors import DataError, HybridrecError
from hybridrec_core.interfaces import DataSource, SourceData
from hybridrec_core.interfaces.source import (
    INTERACTION_REQUIRED, TRACK_COLUMNS, TRACK_REQUIRED, USER_REQUIRED,
)
from hybridrec_core.storage import Store, validate_identifier
from hybridrec_core.user_flags import FLAGS_TABLE, read_user_flags_file

log = logging.getLogger(__name__)

# Accepted ranges (inclusive). Spotify documents the unit features in [0, 1], loudness in
# [-60, 0] dB and tempo in BPM; the bounds leave a little slack so rounding noise passes, while
# values "far outside" (a 7.5 danceability, a 900 BPM tempo) are quarantined.
AUDIO_RANGES: dict[str, tuple[float, float]] = {
    **{f: (-0.01, 1.01) for f in AUDIO_FEATURES if f not in {"loudness", "tempo"}},
    "loudness": (-70.0, 10.0),
    "tempo": (0.0, 300.0),
}
YEAR_RANGE = (1000, 2100)  # year 0 means "unknown" in several datasets and is read as missing
DURATION_RANGE_MS = (0.0, 86_400_000.0)  # up to 24 hours
MAX_ID_LENGTH = 256
TRUE_TOKENS = ("true", "t", "yes", "y", "1", "1.0")
FALSE_TOKENS = ("false", "f", "no", "n", "0", "0.0")
QUARANTINE_COLUMNS = ("source", "table_name", "row_number", "reason", "raw")


@dataclass
class TableReport:
    """Row accounting for one canonical table: rows_read == accepted + quarantined + merged."""

    rows_read: int = 0
    accepted: int = 0
    quarantined: int = 0
    merged: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        return self.rows_read == self.accepted + self.quarantined + self.merged


@dataclass
class FlagsReport:
    """What the ``user_flags`` table holds: its flag columns, known users carrying each flag, and
    flags of users the ingest does not know (kept, but no list can use them; a few ids as examples)."""

    columns: list[str] = field(default_factory=list)
    flagged: dict[str, int] = field(default_factory=dict)
    unknown_users: int = 0
    unknown_examples: list[str] = field(default_factory=list)


@dataclass
class IngestReport:
    """What one ingest did, per table (``tracks``, ``users``, ``interactions``, and ``user_flags``
    when flags were given; ``user_flags`` then describes the flags table)."""

    source: str
    tables: dict[str, TableReport]
    users_added_from_interactions: int = 0
    tracks_derived_from_interactions: bool = False
    has_timestamps: bool = False
    origin: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    user_flags: FlagsReport | None = None

    @property
    def quarantined(self) -> int:
        return sum(t.quarantined for t in self.tables.values())

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["quarantined"] = self.quarantined
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "IngestReport":
        d = {k: v for k, v in d.items() if k != "quarantined"}
        d["tables"] = {name: TableReport(**t) for name, t in d["tables"].items()}
        if d.get("user_flags") is not None:
            d["user_flags"] = FlagsReport(**d["user_flags"])
        return cls(**d)


def ingest(
    source: DataSource,
    store: Store,
    *,
    user_flags_path: str | Path | None = None,
    flag_columns: Sequence[str] | None = None,
) -> IngestReport:
    """Load ``source``, validate every row in SQL, write raw_* and quarantine in one transaction.

    ``user_flags_path`` (CSV/Parquet) replaces the flags the source provides; ``flag_columns``
    picks the flag columns (default: every column but user_id).
    """
    t0 = time.perf_counter()
    data = source.load()
    if user_flags_path is not None:
        table, rejects = read_user_flags_file(user_flags_path)
        parts = [q for q in (data.quarantine, rejects) if q is not None and len(q)]
        data = replace(
            data, user_flags=table, origin={**data.origin, FLAGS_TABLE: str(user_flags_path)},
            quarantine=pd.concat(parts, ignore_index=True) if parts else data.quarantine,
        )
    with store.connect() as con:
        report = ingest_data(con, data, source.name, flag_columns=flag_columns)
    report.seconds = time.perf_counter() - t0
    return report


def ingest_data(
    con: duckdb.DuckDBPyConnection,
    data: SourceData,
    source_name: str,
    flag_columns: Sequence[str] | None = None,
) -> IngestReport:
    """The engine behind :func:`ingest`, on an open connection (the tables are replaced atomically)."""
    if not _safe_literal(source_name):
        raise DataError(f"source name {source_name!r} has characters not allowed in table values")
    con.execute("SET preserve_insertion_order = false")  # less memory; ordered outputs use ORDER BY
    apply_memory_limit(con)
    views = stage_source(con, data)
    flags = _stage_user_flags(con, data, flag_columns)
    if flags:
        views[FLAGS_TABLE] = _FLAGS_VIEW
    sq = _source_quarantine(data.quarantine, source_name)
    con.register("__src_quarantine", sq)
    sql = _output_sql(con, views)
    sql[FLAGS_TABLE] = _user_flags_sql(flags)  # always written: no flags now = none left from before
    sql["quarantine"] = _quarantine_sql(views, source_name)
    tables = ("tracks", "interactions", "users") + ((FLAGS_TABLE,) if flags else ())
    reports = {table: _account(con, table, _STAGED[table] if table in views else None, sq) for table in tables}
    draft = IngestReport(
        source=source_name, tables=reports, tracks_derived_from_interactions="tracks" not in views,
        has_timestamps="timestamp" in view_columns(con, views["interactions"]), origin=dict(data.origin),
        user_flags=FlagsReport(columns=list(flags)) if flags else None,
    )
    sql["ingest_report"] = _report_sql(draft)
    Store.replace_tables_in(con, {}, sql)  # everything in ONE transaction
    report = IngestReport.from_dict(json.loads(con.execute("SELECT report FROM ingest_report").fetchall()[0][0]))
    for v in list(views.values()) + ["__src_quarantine"]:
        con.unregister(v)
    for tmp in ("__inter", "__tracks", "__users", "__users_ok", "__flags"):
        con.execute(f"DROP TABLE IF EXISTS {tmp}")
    _log_flag_problems(report)
    return report


def _log_flag_problems(report: IngestReport) -> None:
    """Say out loud when flags were dropped or cannot apply (the report has the numbers too)."""
    fr, tr = report.user_flags, report.tables.get(FLAGS_TABLE)
    if fr is None or tr is None:
        return
    if tr.quarantined:
        log.warning("user_flags: %d row(s) quarantined: %s", tr.quarantined, tr.reasons)
    if fr.unknown_users:
        log.warning("user_flags: %d user(s) not in the ingested users (e.g. %s); their flags apply to no list",
                    fr.unknown_users, fr.unknown_examples)


MEMORY_LIMIT_ENV = "HYBRIDREC_DUCKDB_MEMORY_LIMIT"


def apply_memory_limit(con: duckdb.DuckDBPyConnection) -> None:
    """Cap DuckDB's buffer memory (spilling to disk beyond it) when ``HYBRIDREC_DUCKDB_MEMORY_LIMIT``
    is set, e.g. ``1GB``; DuckDB's own default (80% of RAM) applies otherwise."""
    limit = os.environ.get(MEMORY_LIMIT_ENV, "").strip()
    if not limit:
        return
    if not re.fullmatch(r"\d+(\.\d+)?\s*(KB|MB|GB|KiB|MiB|GiB)", limit):
        raise DataError(f"{MEMORY_LIMIT_ENV}={limit!r}: use a size such as '1GB' or '800MiB'")
    con.execute(f"SET memory_limit = '{limit}'")


_STAGED = {"tracks": "__tracks", "interactions": "__inter", "users": "__users", FLAGS_TABLE: "__flags"}
_FLAGS_VIEW = f"__src_{FLAGS_TABLE}"


def stage_source(con: duckdb.DuckDBPyConnection, data: SourceData) -> dict[str, str]:
    """Register the source frames and compute each row's rejection reason into TEMP tables."""
    origin = dict(data.origin)
    views = {"interactions": _register(con, "interactions", data.interactions, INTERACTION_REQUIRED, origin)}
    if data.tracks is not None:
        views["tracks"] = _register(con, "tracks", data.tracks, TRACK_REQUIRED, origin)
        con.execute(f"""CREATE OR REPLACE TEMP TABLE __tracks AS SELECT *,
            row_number() OVER (PARTITION BY track_id ORDER BY __row) > 1 AND reason IS NULL AS __dup
            FROM ({_tracks_sql(con, views['tracks'])})""")
    if data.users is not None:
        views["users"] = _register(con, "users", data.users, USER_REQUIRED, origin)
        con.execute(f"""CREATE OR REPLACE TEMP TABLE __users AS SELECT *,
            row_number() OVER (PARTITION BY user_id ORDER BY __row) > 1 AND reason IS NULL AS __dup
            FROM ({_users_sql(con, views['users'])})""")
        con.execute("""CREATE OR REPLACE TEMP TABLE __users_ok AS
            SELECT * EXCLUDE (__row, reason, __dup) FROM __users WHERE reason IS NULL AND NOT __dup""")
    con.execute(f"CREATE OR REPLACE TEMP TABLE __inter AS {_interactions_sql(con, views['interactions'], 'tracks' in views)}")
    return views


def _stage_user_flags(
    con: duckdb.DuckDBPyConnection, data: SourceData, columns: Sequence[str] | None
) -> list[str]:
    """Register the flags table, validate its flag columns, and stage each row's rejection reason
    into ``__flags`` (values as ``__v<i>``, so a flag may be called anything a column can).
    Returns the flag names ([] when the data has no flags)."""
    if data.user_flags is None:
        return []
    where = dict(data.origin).get(FLAGS_TABLE, f"<{FLAGS_TABLE} table>")
    view = _register(con, FLAGS_TABLE, data.user_flags, USER_REQUIRED, dict(data.origin))
    cols = view_columns(con, view)
    available = [c for c in cols if c not in ("user_id", "__row")]
    if columns is not None:
        missing = [c for c in columns if c not in available]
        if missing:
            raise DataError(
                f"{where}: user_flags table lacks flag column(s) {missing} named in user_flags.columns; "
                f"found {available}"
            )
        names = list(columns)
    else:
        names = available
    if not names:
        raise DataError(f"{where}: user_flags table has no flag column besides user_id; found {available}")
    for name in names:
        try:
            validate_identifier(name)
        except HybridrecError as exc:
            raise DataError(f"{where}: user_flags column {name!r} is not a usable flag name: {exc}") from exc
    lowered = [n.lower() for n in names]
    if len(set(lowered)) != len(lowered):
        raise DataError(f"{where}: user_flags columns {names} repeat a name (column names are case-insensitive)")
    inner = [f"{_id_expr('user_id', cols['user_id'])} AS user_id"]
    reasons = _id_reasons("user_id", cols["user_id"])
    for i, name in enumerate(names):
        value, bad = _bool_sql(name, cols[name])
        inner += [f"{value} AS __v{i}", f"{bad} AS __bad{i}"]
        reasons.append(f"WHEN __bad{i} THEN {_lit(name + ' not a boolean')}")
    values = ", ".join(f"__v{i}" for i in range(len(names)))
    # Duplicates are counted among valid rows only: a quarantined row never hides a good one.
    con.execute(f"""CREATE OR REPLACE TEMP TABLE __flags AS SELECT *,
        reason IS NULL AND row_number() OVER (PARTITION BY user_id, reason IS NULL ORDER BY __row) > 1 AS __dup
        FROM (SELECT __row, user_id, {values}, CASE {' '.join(reasons)} END AS reason
              FROM (SELECT __row, {', '.join(inner)} FROM "{view}"))""")
    return names


def _user_flags_sql(names: list[str]) -> str:
    """The ``user_flags`` table: user_id + one BOOLEAN per flag (NULL = not set); empty without flags."""
    if not names:
        return "SELECT NULL::VARCHAR AS user_id WHERE false"
    cols = ", ".join(f"__v{i} AS {_q(validate_identifier(n))}" for i, n in enumerate(names))
    return f"SELECT user_id, {cols} FROM __flags WHERE reason IS NULL AND NOT __dup ORDER BY __row"


def _output_sql(con: duckdb.DuckDBPyConnection, views: dict[str, str]) -> dict[str, str]:
    """SELECTs for raw_interactions, raw_tracks and raw_users over the staged tables."""
    sql: dict[str, str] = {}
    # Duplicate (user, track) rows merge into one: plays summed, latest timestamp kept. Numeric
    # source ids stay numbers in __inter and become text after grouping (far cheaper).
    layout = id_layout(view_columns(con, views["interactions"]))
    (ukey, utext), (tkey, ttext) = layout["user_id"], layout["track_id"]
    sql["raw_interactions"] = f"""
        SELECT {utext} AS user_id, {ttext} AS track_id, plays, "timestamp", source_rows, first_row FROM (
            SELECT {ukey}, {tkey}, sum(plays) AS plays, max("timestamp") AS "timestamp",
                   count(*)::INTEGER AS source_rows, min(__row) AS first_row
            FROM __inter WHERE reason IS NULL GROUP BY {ukey}, {tkey})"""
    inter_users = f"SELECT {utext} AS user_id FROM (SELECT DISTINCT {ukey} FROM __inter WHERE reason IS NULL)"
    inter_tracks = f"SELECT {ttext} AS track_id FROM (SELECT DISTINCT {tkey} FROM __inter WHERE reason IS NULL)"
    if "tracks" in views:
        cols = ", ".join(_q(c) for c in TRACK_COLUMNS)
        sql["raw_tracks"] = f"SELECT {cols} FROM __tracks WHERE reason IS NULL AND NOT __dup ORDER BY __row"
    else:  # no catalogue: the interactions' track ids, without metadata
        nulls = ", ".join(f"NULL::{_TRACK_TYPES[c]} AS {_q(c)}" for c in TRACK_COLUMNS if c != "track_id")
        sql["raw_tracks"] = f"SELECT track_id, {nulls} FROM ({inter_tracks}) ORDER BY track_id"
    if "users" in views:  # the users file, plus users only seen in interactions
        sql["raw_users"] = f"""SELECT * FROM __users_ok UNION ALL BY NAME
            SELECT user_id FROM ({inter_users}) i
            WHERE NOT EXISTS (SELECT 1 FROM __users_ok u WHERE u.user_id = i.user_id)"""
    else:
        sql["raw_users"] = f"SELECT user_id FROM ({inter_users}) ORDER BY user_id"
    return sql


def _quarantine_sql(views: dict[str, str], source_name: str) -> str:
    """Rejected rows with reason and the raw row as JSON, plus the source's own parse rejects."""
    parts = ["SELECT source, table_name, row_number, reason, raw FROM __src_quarantine"]
    for table, view in views.items():
        parts.append(f"""SELECT {_lit(source_name)}::VARCHAR AS source, {_lit(table)} AS table_name,
            s.__row AS row_number, q.reason, json_merge_patch(to_json(s), '{{"__row": null}}')::VARCHAR AS raw
            FROM "{view}" s JOIN (SELECT __row, reason FROM {_STAGED[table]} WHERE reason IS NOT NULL) q USING (__row)""")
    return " UNION ALL ".join(parts) + " ORDER BY table_name, row_number"


def _report_sql(draft: IngestReport) -> str:
    """The report row. Counts that need the grouped interactions are filled in by SQL inside the
    write transaction, so the report is committed atomically with the tables it describes."""
    inter = draft.tables["interactions"]
    flags = ""
    if draft.user_flags is not None:
        known = "EXISTS (SELECT 1 FROM raw_users __ru WHERE __ru.user_id = __fl.user_id)"
        flagged = ", ".join(f"{_lit(n)}, (SELECT count(*) FROM {FLAGS_TABLE} __fl WHERE {_q(n)} AND {known})"
                            for n in draft.user_flags.columns)
        unknown = f"FROM {FLAGS_TABLE} __fl WHERE NOT {known}"
        flags = f""",
                    'user_flags', json_object(
                        'flagged', json_object({flagged}),
                        'unknown_users', (SELECT count(*) {unknown}),
                        'unknown_examples', coalesce((SELECT list(user_id) FROM (
                            SELECT __fl.user_id {unknown} ORDER BY __fl.user_id LIMIT 5)), []::VARCHAR[]))"""
    return f"""SELECT {_lit(draft.source)} AS source, json_merge_patch({_lit(json.dumps(draft.to_dict()))},
        json_object('users_added_from_interactions', (SELECT count(*) FROM raw_users) - {draft.tables['users'].accepted},
                    'tables', json_object('interactions', json_object(
                        'accepted', (SELECT count(*) FROM raw_interactions),
                        'merged', {inter.rows_read - inter.quarantined} - (SELECT count(*) FROM raw_interactions))){flags}
        ))::VARCHAR AS report"""


def _account(con: duckdb.DuckDBPyConnection, table: str, tmp: str | None, sq: pd.DataFrame) -> TableReport:
    """Row accounting of one table; merged rows are whatever is neither accepted nor quarantined."""
    rep = TableReport()
    if tmp is not None:
        if table == "interactions":  # duplicates collapse into one row per (user, track)
            accepted = "0"  # known after grouping; filled in by SQL in the write transaction
        else:
            accepted = "count(*) FILTER (reason IS NULL AND NOT __dup)"
        rows = con.execute(f"SELECT count(*), {accepted}, count(*) FILTER (reason IS NOT NULL) FROM {tmp}").fetchall()[0]
        rep.rows_read, rep.accepted, rep.quarantined = (int(x) for x in rows)
        for reason, n in con.execute(f"SELECT reason, count(*) FROM {tmp} WHERE reason IS NOT NULL GROUP BY 1 ORDER BY 1").fetchall():
            rep.reasons[reason] = int(n)
    src_rows = sq[sq["table_name"] == table]
    rep.rows_read += len(src_rows)
    rep.quarantined += len(src_rows)
    for reason, n in src_rows["reason"].value_counts().sort_index().items():
        rep.reasons[str(reason)] = rep.reasons.get(str(reason), 0) + int(n)
    rep.merged = rep.rows_read - rep.accepted - rep.quarantined if table != "interactions" else 0
    return rep


# ---------------------------------------------------------------------------------------------
_TRACK_TYPES = {
    "track_id": "VARCHAR", "title": "VARCHAR", "artist_id": "VARCHAR", "artist_name": "VARCHAR",
    "genres": "VARCHAR", **{f: "DOUBLE" for f in AUDIO_FEATURES},
    "explicit": "BOOLEAN", "mode": "INTEGER", "year": "INTEGER", "duration_ms": "DOUBLE",
}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(s: str) -> str:
    """A SQL string literal (quotes doubled); used only for values we generated ourselves."""
    return "'" + s.replace("'", "''") + "'"


def _safe_literal(s: str) -> bool:
    """Source names end up as SQL literals: allow plugin-name characters only."""
    return bool(re.fullmatch(r"[\w.:-]{1,100}", s))


def _register(con: duckdb.DuckDBPyConnection, table: str, frame: Any, required: tuple[str, ...], origin: dict[str, str]) -> str:
    """Register ``frame`` with a 1-based ``__row`` column; check the canonical required columns."""
    where = origin.get(table, f"<{table} table>")
    if isinstance(frame, pd.DataFrame):
        frame = pa.Table.from_pandas(frame, preserve_index=False)
    if not isinstance(frame, pa.Table):
        try:
            frame = con.from_arrow(frame).arrow() if hasattr(frame, "__arrow_c_stream__") else pa.table(frame)
        except Exception as exc:  # noqa: BLE001
            raise DataError(f"{where}: {table} table of type {type(frame).__name__} cannot be read: {exc}") from exc
    found = list(frame.column_names)
    missing = [c for c in required if c not in found]
    if missing:
        raise DataError(
            f"{where}: {table} table is missing required column(s) {missing}; "
            f"expected at least {list(required)}, found {found}"
        )
    if "__row" in found:
        raise DataError(f"{where}: column name '__row' is reserved")
    frame = frame.append_column("__row", pa.array(np.arange(1, frame.num_rows + 1, dtype=np.int64)))
    view = f"__src_{table}"
    con.register(view, frame)
    return view


def view_columns(con: duckdb.DuckDBPyConnection, view: str) -> dict[str, str]:
    """Column name -> DuckDB type of a registered view (shared with :mod:`hybridrec_core.daily`)."""
    return {r[0]: r[1] for r in con.execute(f'DESCRIBE "{view}"').fetchall()}


def _is_numeric(t: str) -> bool:
    return t.upper() in {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                         "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE"} or t.upper().startswith("DECIMAL")


def _id_expr(col: str, typ: str | None) -> str:
    """Canonical string id: trimmed text; integral floats lose their ``.0``."""
    if typ is None:
        return "NULL::VARCHAR"
    c = _q(col)
    if typ.upper() in {"FLOAT", "DOUBLE"}:
        return (f"CASE WHEN NOT isfinite({c}) THEN '\x01bad' WHEN {c} = trunc({c}) "
                f"THEN CAST(CAST({c} AS HUGEINT) AS VARCHAR) ELSE CAST({c} AS VARCHAR) END")
    if _is_numeric(typ):
        return f"CAST({c} AS VARCHAR)"
    return f"NULLIF(trim(CAST({c} AS VARCHAR)), '')"


def id_layout(cols: dict[str, str]) -> dict[str, tuple[str, str]]:
    """Per id column of __inter: (stored key column, SQL giving its canonical text from the key)."""
    out = {}
    for col, key in (("user_id", "__ukey"), ("track_id", "__tkey")):
        out[col] = (key, _id_expr(key, cols[col])) if _is_numeric(cols[col]) else (col, col)
    return out


def _id_reasons(label: str, typ: str) -> list[str]:
    """Reasons for a cleaned id column (numeric ids can only be missing or non-finite)."""
    checks = [f"WHEN {label} IS NULL THEN 'missing {label}'"]
    if not _is_numeric(typ) or typ.upper() in {"FLOAT", "DOUBLE"}:
        checks.append(
            f"WHEN length({label}) > {MAX_ID_LENGTH} OR regexp_matches({label}, '[\\x00-\\x1f\\x7f]') "
            f"THEN 'malformed {label}'"
        )
    return checks


def _num(col: str, cols: dict[str, str]) -> tuple[str, str]:
    """(value as DOUBLE, 'raw present but not a number' flag) for an optional column."""
    if col not in cols:
        return "NULL::DOUBLE", "false"
    if _is_numeric(cols[col]):
        return f"CAST({_q(col)} AS DOUBLE)", "false"
    raw = f"NULLIF(trim(CAST({_q(col)} AS VARCHAR)), '')"
    return f"TRY_CAST({raw} AS DOUBLE)", f"({raw} IS NOT NULL AND TRY_CAST({raw} AS DOUBLE) IS NULL)"


def _bool_sql(col: str, typ: str | None) -> tuple[str, str]:
    """(value as BOOLEAN, 'present but not a boolean' flag) for an optional column: BOOLEAN as is,
    anything else by its text (``TRUE_TOKENS`` / ``FALSE_TOKENS``, so 1/0 and 1.0/0.0 pass)."""
    if typ is None:
        return "NULL::BOOLEAN", "false"
    if typ == "BOOLEAN":
        return _q(col), "false"
    e = f"lower(trim(CAST({_q(col)} AS VARCHAR)))"
    t = ", ".join(f"'{x}'" for x in TRUE_TOKENS)
    f_ = ", ".join(f"'{x}'" for x in FALSE_TOKENS)
    return (f"CASE WHEN {e} IN ({t}) THEN TRUE WHEN {e} IN ({f_}) THEN FALSE END",
            f"(NULLIF({e}, '') IS NOT NULL AND {e} NOT IN ({t}, {f_}))")


def _tracks_sql(con: duckdb.DuckDBPyConnection, view: str) -> str:
    """Inner query cleans values and flags unparsable ones; outer query assigns one reason."""
    cols = view_columns(con, view)
    inner = [f"{_id_expr('track_id', cols['track_id'])} AS track_id",
             f"{_id_expr('artist_id', cols.get('artist_id'))} AS artist_id"]
    for c in ("title", "artist_name"):
        inner.append(f"NULLIF(trim(CAST({_q(c)} AS VARCHAR)), '') AS {c}" if c in cols else f"NULL::VARCHAR AS {c}")
    g = cols.get("genres")
    if g is None:
        inner.append("NULL::VARCHAR AS genres")
    elif g.endswith("[]"):
        inner.append("NULLIF(array_to_string(genres, '|'), '') AS genres")
    else:
        inner.append("NULLIF(trim(CAST(genres AS VARCHAR)), '') AS genres")
    reasons = _id_reasons("track_id", cols["track_id"])
    outer = ["track_id", "title", "artist_id", "artist_name", "genres"]
    for f in AUDIO_FEATURES + ("duration_ms",):
        val, bad = _num(f, cols)
        inner += [f"{val} AS __v_{f}", f"{bad} AS __bad_{f}"]
        lo, hi = AUDIO_RANGES.get(f, DURATION_RANGE_MS)
        outer.append(f"CASE WHEN isnan(__v_{f}) THEN NULL ELSE __v_{f} END AS {f}")
        reasons.append(f"WHEN __bad_{f} THEN 'non-numeric {f}'")
        reasons.append(f"WHEN isinf(__v_{f}) OR __v_{f} < {lo} OR __v_{f} > {hi} THEN '{f} outside [{lo:g}, {hi:g}]'")
    for f in ("year", "mode"):
        val, bad = _num(f, cols)
        inner += [f"{val} AS __v_{f}", f"{bad} AS __bad_{f}"]
    outer.append("CASE WHEN __v_year = 0 OR isnan(__v_year) OR isinf(__v_year) THEN NULL "
                 "ELSE CAST(__v_year AS INTEGER) END AS year")
    reasons.append("WHEN __bad_year THEN 'non-numeric year'")
    reasons.append(f"WHEN __v_year <> 0 AND (isinf(__v_year) OR __v_year < {YEAR_RANGE[0]} OR __v_year > {YEAR_RANGE[1]}) "
                   f"THEN 'year outside [{YEAR_RANGE[0]}, {YEAR_RANGE[1]}]'")
    outer.append("CASE WHEN __v_mode IN (0, 1) THEN CAST(__v_mode AS INTEGER) END AS mode")
    reasons.append("WHEN __bad_mode OR (__v_mode IS NOT NULL AND NOT isnan(__v_mode) AND __v_mode NOT IN (0, 1)) "
                   "THEN 'mode not 0/1'")
    value, bad = _bool_sql("explicit", cols.get("explicit"))
    inner += [f"{value} AS __v_explicit", f"{bad} AS __bad_explicit"]
    outer.append("__v_explicit AS explicit")
    reasons.append("WHEN __bad_explicit THEN 'explicit not a boolean'")
    return (f"SELECT __row, {', '.join(outer)}, CASE {' '.join(reasons)} END AS reason "
            f"FROM (SELECT __row, {', '.join(inner)} FROM \"{view}\")")


def _interactions_sql(con: duckdb.DuckDBPyConnection, view: str, has_tracks: bool) -> str:
    cols = view_columns(con, view)
    plays, bad_plays = _num("plays", cols)
    ts_type = cols.get("timestamp")
    if ts_type is None:
        ts, bad_ts = "NULL::BIGINT", "false"
    elif ts_type.upper().startswith("TIMESTAMP") or ts_type.upper() == "DATE":
        ts, bad_ts = 'CAST(epoch("timestamp") AS BIGINT)', "false"
    elif _is_numeric(ts_type):
        # epoch seconds; values above 1e11 are read as milliseconds
        d = 'CAST("timestamp" AS DOUBLE)'
        ts = f"CASE WHEN isfinite({d}) THEN CAST(CASE WHEN abs({d}) > 1e11 THEN {d} / 1000 ELSE {d} END AS BIGINT) END"
        bad_ts = f"(NOT isfinite({d}))"
    else:
        raw = "NULLIF(trim(CAST(\"timestamp\" AS VARCHAR)), '')"
        num = f"TRY_CAST({raw} AS DOUBLE)"
        ts = (f"CAST(coalesce(CASE WHEN isfinite({num}) THEN CASE WHEN abs({num}) > 1e11 THEN {num} / 1000 ELSE {num} END END, "
              f"epoch(TRY_CAST({raw} AS TIMESTAMP))) AS BIGINT)")
        bad_ts = (f"({raw} IS NOT NULL AND (NOT coalesce(isfinite({num}), false)) "
                  f"AND TRY_CAST({raw} AS TIMESTAMP) IS NULL)")
    reasons = _id_reasons("user_id", cols["user_id"]) + _id_reasons("track_id", cols["track_id"])
    reasons += [
        "WHEN __plays_missing THEN 'missing plays'",
        "WHEN __bad_plays THEN 'non-numeric plays'",
        "WHEN NOT isfinite(plays) THEN 'non-finite plays'",
        "WHEN plays < 0 THEN 'negative plays'",
        "WHEN __bad_ts THEN 'malformed timestamp'",
    ]
    if has_tracks:
        reasons.append("WHEN NOT EXISTS (SELECT 1 FROM __tracks t WHERE t.track_id = x.track_id "
                       "AND t.reason IS NULL) THEN 'track not in catalogue'")
    missing = f'({_q("plays")} IS NULL)' if _is_numeric(cols["plays"]) else f"(NULLIF(trim(CAST({_q('plays')} AS VARCHAR)), '') IS NULL)"
    keep = ", ".join(key for key, _ in id_layout(cols).values())
    return f"""SELECT __row, {keep}, plays, "timestamp", CASE {' '.join(reasons)} END AS reason
        FROM (SELECT __row, {_id_expr('user_id', cols['user_id'])} AS user_id,
                     {_id_expr('track_id', cols['track_id'])} AS track_id,
                     {_q('user_id')} AS __ukey, {_q('track_id')} AS __tkey,
                     {plays} AS plays, {ts} AS "timestamp", {missing} AS __plays_missing,
                     {bad_plays} AS __bad_plays, {bad_ts} AS __bad_ts
              FROM "{view}") x"""


def _users_sql(con: duckdb.DuckDBPyConnection, view: str) -> str:
    cols = view_columns(con, view)
    extra = "".join(f", {_q(c)}" for c in cols if c not in ("user_id", "__row"))
    reasons = _id_reasons("user_id", cols["user_id"])
    return f"""SELECT __row, user_id{extra}, CASE {' '.join(reasons)} END AS reason
        FROM (SELECT __row, {_id_expr('user_id', cols['user_id'])} AS user_id{extra} FROM "{view}")"""


def _source_quarantine(q: pd.DataFrame | None, source_name: str) -> pd.DataFrame:
    """Rows the source itself could not parse, in the quarantine table's shape."""
    empty = pd.DataFrame({
        "source": pd.Series([], dtype=object), "table_name": pd.Series([], dtype=object),
        "row_number": pd.Series([], dtype="int64"), "reason": pd.Series([], dtype=object),
        "raw": pd.Series([], dtype=object),
    })
    if q is None or len(q) == 0:
        return empty
    q = q.rename(columns={"table": "table_name"})
    missing = [c for c in ("table_name", "row_number", "reason", "raw") if c not in q.columns]
    if missing:
        raise DataError(f"source quarantine frame lacks columns {missing}; found {list(q.columns)}")
    out = pd.DataFrame({
        "source": np.full(len(q), source_name, dtype=object),
        "table_name": q["table_name"].astype(str).values,
        "row_number": q["row_number"].astype("int64").values,
        "reason": q["reason"].astype(str).values,
        "raw": q["raw"].astype(str).values,
    })
    return out
