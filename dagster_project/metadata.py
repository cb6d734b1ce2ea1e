"""Asset metadata builders: row counts, schemas, previews and embedded plots for the UI."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import MetadataValue, TableColumn, TableSchema

from hybridrec_core.storage import Store, validate_identifier

PREVIEW_ROWS = 10


def frame_markdown(frame: pd.DataFrame, rows: int = PREVIEW_ROWS) -> str:
    """A small markdown preview (floats rounded so the table stays readable)."""
    if frame.empty:
        return "_(no rows)_"
    head = frame.head(rows).copy()
    for col in head.select_dtypes("float").columns:
        head[col] = head[col].round(4)
    return head.to_markdown(index=False)


def table_metadata(store: Store, tables: list[str], preview: str | None = None) -> dict[str, Any]:
    """Row count and schema of every table, plus a preview of ``preview`` (default: the first)."""
    meta: dict[str, Any] = {}
    if not tables:
        return meta
    preview = preview or tables[0]
    with store.connect(read_only=True) as con:
        for name in tables:
            validate_identifier(name)
            rows = int(con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0])
            cols = con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = ? ORDER BY ordinal_position",
                [name],
            ).fetchall()
            meta[f"{name}/row_count"] = MetadataValue.int(rows)
            meta[f"{name}/schema"] = MetadataValue.table_schema(
                TableSchema(columns=[TableColumn(c, t) for c, t in cols])
            )
        head = con.execute(f'SELECT * FROM "{validate_identifier(preview)}" LIMIT {PREVIEW_ROWS}').df()
    if len(tables) == 1:  # the standard key the UI shows as the asset's row count
        meta["dagster/row_count"] = meta[f"{tables[0]}/row_count"]
    meta["preview"] = MetadataValue.md(f"**{preview}** (first {PREVIEW_ROWS} rows)\n\n" + frame_markdown(head))
    meta["database"] = MetadataValue.path(str(store.path))
    return meta


def tables_like(store: Store, prefixes: tuple[str, ...]) -> list[str]:
    """Tables whose name starts with one of ``prefixes`` (what a core step wrote)."""
    return [t for t in store.tables() if t.startswith(prefixes)]


def embedded_png(path: Path) -> str:
    """Markdown for a PNG embedded as base64, so the UI shows it without serving files."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f"![{Path(path).stem}](data:image/png;base64,{data})"
