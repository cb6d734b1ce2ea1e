"""The DuckDB store: one database file per project, validated identifiers, atomic table swaps.

Every build writes all of its tables inside one transaction: if anything fails, DuckDB rolls back
and the previous good tables stay as they were. :meth:`Store.replace_rows` does the same for a
subset of one table's rows (e.g. the recommendation lists of a few users).
"""

from __future__ import annotations

import re
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import duckdb
import pandas as pd
import pyarrow as pa

from hybridrec_core.errors import HybridrecError

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def validate_identifier(name: str) -> str:
    """Return ``name`` if it is a plain SQL identifier; raise otherwise (never interpolate input)."""
    if not isinstance(name, str) or not _IDENT.match(name):
        raise HybridrecError(f"invalid table or column name {name!r}: use letters, digits and '_' only")
    return name


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """``BEGIN`` … ``COMMIT``, or ``ROLLBACK`` and re-raise on any error (even KeyboardInterrupt),
    so a failed build or merge leaves every table as it was."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


class Store:
    """A DuckDB database file. Connections are short-lived so several processes can take turns."""

    def __init__(self, path: str | Path, *, lock_timeout_s: float = 120.0) -> None:
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open the file (creating its folder), retrying while another process holds the lock."""
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout_s
        delay = 0.05
        while True:
            try:
                con = duckdb.connect(str(self.path), read_only=read_only)
                break
            except duckdb.IOException as exc:  # file locked by another process
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        try:
            yield con
        finally:
            con.close()

    def replace_tables(self, tables: Mapping[str, Any], sql: Mapping[str, str] | None = None) -> None:
        """Create or replace every table in one transaction.

        ``tables`` maps table name -> pandas DataFrame / pyarrow Table; ``sql`` maps table name ->
        a SELECT over existing tables. On any error nothing changes.
        """
        with self.connect() as con:
            self.replace_tables_in(con, tables, sql)

    @staticmethod
    def replace_tables_in(
        con: duckdb.DuckDBPyConnection, tables: Mapping[str, Any], sql: Mapping[str, str] | None = None
    ) -> None:
        with transaction(con):
            for name, frame in tables.items():
                validate_identifier(name)
                view = f"__hybridrec_src_{name}"
                con.register(view, frame)
                con.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM "{view}"')
                con.unregister(view)
            for name, select in (sql or {}).items():
                validate_identifier(name)
                con.execute(f'CREATE OR REPLACE TABLE "{name}" AS {select}')

    def replace_rows(self, name: str, data: Any, key: str, keys: Sequence[Any]) -> None:
        """Replace the rows of table ``name`` whose ``key`` is in ``keys`` by ``data``; other rows stay.

        DELETE + INSERT in one transaction, so a failure part-way (even while ``data`` is being
        read) leaves the table as it was. ``data`` (DataFrame, arrow Table or RecordBatchReader) must
        have the table's column names and types (checked before anything changes); a missing table
        is created from it. ``keys`` lists every key being replaced, including keys with no new rows.
        """
        validate_identifier(name)
        validate_identifier(key)
        view, key_view = f"__hybridrec_rows_{name}", f"__hybridrec_keys_{name}"
        with self.connect() as con:
            con.register(view, data)
            con.register(key_view, pa.table({"k": pa.array(list(keys))}) if len(keys) else pa.table({"k": pa.nulls(0)}))
            try:
                new = [tuple(r[:2]) for r in con.execute(f'DESCRIBE SELECT * FROM "{view}"').fetchall()]
                if key not in [c for c, _ in new]:
                    raise HybridrecError(f"replace_rows({name!r}): the new rows have no key column {key!r}: {new}")
                with transaction(con):
                    exists = con.execute(
                        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
                    ).fetchone()[0]
                    if not exists:
                        con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM "{view}"')
                    else:
                        old = [tuple(r[:2]) for r in con.execute(f'DESCRIBE "{name}"').fetchall()]
                        if old != new:
                            raise HybridrecError(
                                f"table {name!r} has columns {old} but the new rows have {new}; "
                                "rewrite the whole table instead of merging into it"
                            )
                        con.execute(f'DELETE FROM "{name}" WHERE "{key}" IN (SELECT k FROM "{key_view}")')
                        con.execute(f'INSERT INTO "{name}" BY NAME SELECT * FROM "{view}"')
            finally:
                con.unregister(view)
                con.unregister(key_view)

    def query_df(self, query: str, params: list[Any] | None = None) -> pd.DataFrame:
        with self.connect(read_only=self.path.exists()) as con:
            return con.execute(query, params or []).df()

    def tables(self) -> list[str]:
        if not self.path.exists():
            return []
        with self.connect(read_only=True) as con:
            return sorted(r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall())

    def table_exists(self, name: str) -> bool:
        return validate_identifier(name) in self.tables()

    def row_count(self, name: str) -> int:
        validate_identifier(name)
        with self.connect(read_only=True) as con:
            return int(con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0])
