"""Per-user boolean flags (``no_explicit``, ...): read from a file, loaded for the re-ranker chain.

A flag is a user attribute a re-ranker acts on, e.g. ``explicit_filter`` with
``scope: flagged_users`` drops explicit tracks from the lists of users whose ``no_explicit`` flag is
true. Flags come from the source (``SourceData.user_flags``; the demo flags a seeded share of users)
or from the file named by ``user_flags.path``. The ingest engine validates them in SQL together with
the source's tables (see :mod:`hybridrec_core.ingest`) and writes the ``user_flags`` table:
``user_id`` plus one BOOLEAN column per flag. :func:`load_user_flags` turns that table into the
``RerankContext.user_flags`` arrays, aligned to a FeatureSet's user index.

Flags are read when lists are made, not baked into the features or the model, so a flags change only
needs a new ingest, not a retrain.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from hybridrec_core.dataset import UNKNOWN_INDEX, FeatureSet
from hybridrec_core.errors import DataError
from hybridrec_core.fileio import empty_quarantine, read_delimited, read_parquet, require_file
from hybridrec_core.storage import Store

FLAGS_TABLE = "user_flags"
CSV_SUFFIXES = (".csv", ".tsv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")


def read_user_flags_file(path: str | Path) -> tuple[pa.Table, pd.DataFrame]:
    """Read a flags file as it is: (table, parser rejects in the source-quarantine shape).

    CSV cells are read as text so a bad value ("maybe") reaches validation and is quarantined with
    its row instead of failing the file; a line the parser cannot split becomes a reject with its
    file line. Parquet keeps its types (a BOOLEAN column needs no parsing). A file that cannot be used
    at all raises :class:`DataError` naming it.
    """
    p = require_file(path, FLAGS_TABLE)
    suffix = p.suffix.lower()
    if p.is_dir() or suffix in PARQUET_SUFFIXES:
        return read_parquet(p, FLAGS_TABLE, expected=()), empty_quarantine()
    if suffix not in CSV_SUFFIXES:
        raise DataError(
            f"user_flags file {p}: unknown format {suffix or '(no extension)'!r}; "
            f"use {', '.join(CSV_SUFFIXES + PARQUET_SUFFIXES)} (or a folder of .parquet files)"
        )
    # The required columns are checked by the ingest engine, which names the file and what it found.
    return read_delimited(p, FLAGS_TABLE, expected=(), delimiter="\t" if suffix == ".tsv" else ",")


def load_user_flags(store: Store, features: FeatureSet) -> dict[str, np.ndarray]:
    """``{flag: bool array (n_users,)}`` from the ``user_flags`` table, indexed like ``features.users``.

    Users without a row, a NULL value, or an id outside the vocabulary are false; index 0 (the
    unknown user, shared by every id the vocabulary lacks) is never flagged, so one flagged stranger
    cannot flag them all. No database file or no table means no flags (``{}``).
    """
    if not store.table_exists(FLAGS_TABLE):  # also False when there is no database file yet
        return {}
    with store.connect(read_only=True) as con:
        types = {r[0]: r[1] for r in con.execute(f'DESCRIBE "{FLAGS_TABLE}"').fetchall()}
        names = [c for c in types if c != "user_id"]  # used as arrow column names only, never in SQL
        if "user_id" not in types:
            raise DataError(f"table {FLAGS_TABLE} in {store.path} has no user_id column; re-run ingest")
        wrong = [f"{n!r} is {types[n]}" for n in names if types[n] != "BOOLEAN"]
        if wrong:
            raise DataError(
                f"table {FLAGS_TABLE} in {store.path}: column {wrong[0]}, expected BOOLEAN; "
                "re-run ingest (it validates flag values)"
            )
        table = con.sql(f'SELECT * FROM "{FLAGS_TABLE}"').to_arrow_table()
    idx = features.users.index_of(table.column("user_id").to_numpy(zero_copy_only=False))
    known = idx > UNKNOWN_INDEX
    out: dict[str, np.ndarray] = {}
    for name in names:
        values = table.column(name).fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
        flags = np.zeros(features.n_users, dtype=bool)
        flags[idx[known]] = values[known]
        out[name] = flags
    return out


def flag_counts(flags: dict[str, np.ndarray]) -> dict[str, int]:
    """Users carrying each flag (for logs and asset metadata)."""
    return {name: int(np.count_nonzero(v)) for name, v in flags.items()}
