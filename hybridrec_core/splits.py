"""Seeded train / valid / test / cold_user / cold_item assignment, in SQL.

Randomness comes from DuckDB's ``hash`` of (ids, seed): the same data and seed give the same
split, without materializing random numbers per row. Order of precedence:

1. ``cold_user``: every interaction of a held-out share of users (``cold_user_fraction``).
2. ``cold_item``: every remaining interaction of a held-out share of tracks (``cold_item_fraction``).
3. The rest by ``method``:
   - ``random``: each interaction independently (``valid_fraction`` / ``test_fraction``).
   - ``temporal``: global time cut points at the timestamp quantiles ``1 - test`` and
     ``1 - test - valid`` (the latest interactions are the test set).
   - ``leave_last_n``: per user, the latest ``n`` interactions are test and the ``n`` before them
     valid (when ``valid_fraction > 0``); users keep at least one training interaction
     (ties and missing timestamps are ordered by a seeded hash).
"""

from __future__ import annotations

import duckdb

from hybridrec_core.config import SplitConfig
from hybridrec_core.errors import DataError
from hybridrec_core.storage import validate_identifier

SPLITS: tuple[str, ...] = ("train", "valid", "test", "cold_user", "cold_item")
_BUCKETS = 1_000_000


def _unit(expr: str) -> str:
    """A uniform number in [0, 1) from a hash expression."""
    return f"(({expr}) % {_BUCKETS}) / {_BUCKETS}.0"


def split_sql(relation: str, config: SplitConfig, seed: int) -> str:
    """A SELECT over ``relation`` (user_id, track_id, plays, timestamp, ...) adding ``split``."""
    validate_identifier(relation)
    s = int(seed)
    cu = f"{_unit(f'hash(user_id, {s}::BIGINT, 1)')} < {config.cold_user_fraction}"
    ci = f"{_unit(f'hash(track_id, {s}::BIGINT, 2)')} < {config.cold_item_fraction}"
    te, va = config.test_fraction, config.valid_fraction
    if config.method == "random":
        r = _unit(f"hash(user_id, track_id, {s}::BIGINT, 3)")
        rule = f"CASE WHEN {r} < {te} THEN 'test' WHEN {r} < {te + va} THEN 'valid' ELSE 'train' END"
        return f"""SELECT *, CASE WHEN {cu} THEN 'cold_user' WHEN {ci} THEN 'cold_item' ELSE {rule} END AS split
                   FROM "{relation}" """
    base = f"""SELECT *, CASE WHEN {cu} THEN 'cold_user' WHEN {ci} THEN 'cold_item' END AS __cold FROM "{relation}" """
    if config.method == "temporal":
        return f"""WITH b AS ({base}),
            cut AS (SELECT quantile_disc("timestamp", {1.0 - te}) AS t_test,
                           quantile_disc("timestamp", {1.0 - te - va}) AS t_valid
                    FROM b WHERE __cold IS NULL)
            SELECT b.* EXCLUDE (__cold), coalesce(__cold,
                CASE WHEN {te} > 0 AND "timestamp" > cut.t_test THEN 'test'
                     WHEN {va} > 0 AND "timestamp" > cut.t_valid THEN 'valid' ELSE 'train' END) AS split
            FROM b, cut"""
    n = config.leave_last_n
    valid_rule = f"WHEN {va} > 0 AND __r <= {2 * n} AND __c > {2 * n} THEN 'valid'" if va > 0 else ""
    return f"""WITH b AS ({base}),
        r AS (SELECT *, row_number() OVER w AS __r, count(*) OVER (PARTITION BY user_id, __cold IS NULL) AS __c
              FROM b WINDOW w AS (PARTITION BY user_id, __cold IS NULL
                  ORDER BY "timestamp" DESC NULLS LAST, hash(track_id, {s}::BIGINT, 4), track_id))
        SELECT * EXCLUDE (__cold, __r, __c), coalesce(__cold,
            CASE WHEN __r <= {n} AND __c > {n} THEN 'test' {valid_rule} ELSE 'train' END) AS split
        FROM r"""


def check_split_input(con: duckdb.DuckDBPyConnection, relation: str, config: SplitConfig) -> None:
    """Fail early and clearly when the method needs data the relation lacks (timestamps)."""
    if config.method == "temporal":
        n_null, n = con.execute(
            f'SELECT count(*) FILTER ("timestamp" IS NULL), count(*) FROM "{validate_identifier(relation)}"'
        ).fetchall()[0]
        if n_null:
            raise DataError(
                f"split method 'temporal' needs timestamps, but {n_null} of {n} rows of "
                f"{relation} have none; use method 'random' or 'leave_last_n'"
            )


def assign_splits(con: duckdb.DuckDBPyConnection, relation: str, config: SplitConfig, seed: int, target: str = "__split") -> str:
    """Materialize ``relation`` + ``split`` as TEMP table ``target`` (for inspection and tests)."""
    validate_identifier(target)
    check_split_input(con, relation, config)
    con.execute(f'CREATE OR REPLACE TEMP TABLE "{target}" AS {split_sql(relation, config, seed)}')
    return target


def split_counts(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, int]:
    """Rows per split (every split name present, zero when empty)."""
    rows = dict(con.execute(f'SELECT split, count(*) FROM "{validate_identifier(table)}" GROUP BY split').fetchall())
    return {s: int(rows.get(s, 0)) for s in SPLITS}
