"""The DuckDB store's write paths: all-or-nothing transactions on a real database file."""

from pathlib import Path

import pandas as pd
import pytest

from hybridrec_core.errors import HybridrecError
from hybridrec_core.storage import Store, transaction


def test_transaction_commits_or_leaves_every_table_as_it_was(tmp_path: Path) -> None:
    store = Store(tmp_path / "x.duckdb")
    store.replace_tables({"t": pd.DataFrame({"a": [1, 2]})})
    with store.connect() as con:
        with pytest.raises(RuntimeError, match="boom"):
            with transaction(con):
                con.execute("DELETE FROM t")
                con.execute("CREATE TABLE u AS SELECT 1 AS b")
                raise RuntimeError("boom")
        with transaction(con):
            con.execute("INSERT INTO t VALUES (3)")
    assert store.query_df("SELECT a FROM t ORDER BY a")["a"].tolist() == [1, 2, 3]
    assert "u" not in store.tables()


def test_replace_tables_is_atomic_and_checks_names(tmp_path: Path) -> None:
    store = Store(tmp_path / "x.duckdb")
    store.replace_tables({"good": pd.DataFrame({"a": [1]})})
    with pytest.raises(HybridrecError, match="invalid table or column name"):
        store.replace_tables({"good": pd.DataFrame({"a": [9]}), "bad name; DROP": pd.DataFrame({"a": [2]})})
    assert store.query_df("SELECT a FROM good")["a"].tolist() == [1]  # the first table's rewrite rolled back
