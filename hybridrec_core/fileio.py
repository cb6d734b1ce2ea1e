"""Reading delimited / parquet files with DuckDB: every file-based source plugin and the core's
``user_flags`` file use these readers.

Values are read as text (``all_varchar``) so a bad cell ("abc" plays) reaches the ingest engine
and is quarantined with its reason instead of failing the whole file. Lines the CSV parser
cannot split (wrong number of fields) are returned as quarantine rows with their file line.
A file that cannot be used at all raises :class:`DataError` naming the file, the expected and
the found columns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import duckdb
import pandas as pd
import pyarrow as pa

from hybridrec_core.errors import DataError

QUARANTINE_COLS = ["table", "row_number", "reason", "raw"]


def empty_quarantine() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype="int64" if c == "row_number" else object) for c in QUARANTINE_COLS})


def require_file(path: str | Path, what: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise DataError(f"{what} file {p} does not exist")
    if p.is_dir() and not any(p.glob("*.parquet")):
        raise DataError(f"{what} path {p} is a folder, expected a file")
    return p


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def read_delimited(
    path: str | Path,
    table: str,
    *,
    expected: Sequence[str],
    delimiter: str = ",",
    encoding: str = "utf-8",
    header: bool = True,
    names: Sequence[str] | None = None,
    quote: str | None = '"',
) -> tuple[pa.Table, pd.DataFrame]:
    """Read a delimited text file as all-text columns; returns (table, parser rejects)."""
    p = require_file(path, table)
    opts = [f"delim={_lit(delimiter)}", f"header={'true' if header else 'false'}", "all_varchar=true",
            "store_rejects=true", "auto_detect=true", f"encoding={_lit(encoding)}", "null_padding=false"]
    if names is not None:
        opts.append("names=[" + ", ".join(_lit(n) for n in names) + "]")
    if quote is not None:
        opts.append(f"quote={_lit(quote)}")
        opts.append(f"escape={_lit(quote)}")
    else:
        opts.append("quote=''")
    con = duckdb.connect()
    try:
        try:
            tbl = con.sql(f"SELECT * FROM read_csv({_lit(str(p))}, {', '.join(opts)})").to_arrow_table()
            rej = con.sql("SELECT line, error_message, csv_line FROM reject_errors ORDER BY line").df()
        except duckdb.Error as exc:
            raise DataError(f"{table} file {p} cannot be read as {_describe(delimiter, encoding)}: {exc}") from exc
    finally:
        con.close()
    found = list(tbl.column_names)
    missing = [c for c in expected if c not in found]
    if missing:
        hint = ""
        if len(found) == 1 and any(d in found[0] for d in ",;\t|:" if d != delimiter):
            hint = f" (one column only: is the delimiter {delimiter!r} right?)"
        raise DataError(
            f"{table} file {p} lacks required column(s) {missing}: expected {list(expected)}, found {found}{hint}"
        )
    q = empty_quarantine()
    rej = rej.drop_duplicates("line")  # the parser may report one bad line twice
    if len(rej):
        q = pd.DataFrame({
            "table": table,
            "row_number": rej["line"].astype("int64"),
            "reason": "unparseable line: " + rej["error_message"].astype(str),
            "raw": rej["csv_line"].astype(str),
        })
    return tbl, q


def read_parquet(path: str | Path, table: str, *, expected: Sequence[str]) -> pa.Table:
    """Read one parquet file or a folder of them, keeping their types."""
    p = require_file(path, table)
    src = str(p / "*.parquet") if p.is_dir() else str(p)
    con = duckdb.connect()
    try:
        tbl = con.sql(f"SELECT * FROM read_parquet({_lit(src)})").to_arrow_table()
    except duckdb.Error as exc:
        raise DataError(f"{table} file {p} cannot be read as parquet: {exc}") from exc
    finally:
        con.close()
    missing = [c for c in expected if c not in tbl.column_names]
    if missing:
        raise DataError(f"{table} file {p} lacks required column(s) {missing}: expected {list(expected)}, found {tbl.column_names}")
    return tbl


def query_arrow(sql: str, tables: dict[str, pa.Table]) -> pa.Table:
    """Run ``sql`` over in-memory arrow tables (reshaping a layout into canonical columns)."""
    con = duckdb.connect()
    try:
        for name, t in tables.items():
            con.register(name, t)
        return con.sql(sql).to_arrow_table()
    finally:
        con.close()


def rename_columns(tbl: pa.Table, mapping: dict[str, str], table: str, where: str) -> pa.Table:
    """Apply a canonical -> source column mapping (the source columns must exist)."""
    if not mapping:
        return tbl
    missing = [src for src in mapping.values() if src not in tbl.column_names]
    if missing:
        raise DataError(f"{table} file {where}: mapped column(s) {missing} not found; found {tbl.column_names}")
    inverse = {src: canon for canon, src in mapping.items()}
    return tbl.rename_columns([inverse.get(c, c) for c in tbl.column_names])


def _describe(delimiter: str, encoding: str) -> str:
    return f"{encoding} text delimited by {delimiter!r}"


def concat_quarantine(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if p is not None and len(p)]
    return pd.concat(parts, ignore_index=True) if parts else empty_quarantine()
