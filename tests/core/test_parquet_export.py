"""Feature tables exported to partitioned Parquet read back (DuckDB and pyarrow) to exactly the rows
in the DuckDB file, partitions hold what their names say, and the CLI subcommand writes the same."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from hybridrec_core import api
from hybridrec_core.cli import main as cli_main
from hybridrec_core.daily import encode_days, ingest_days
from hybridrec_core.errors import DataError, HybridrecError
from hybridrec_core.export import default_export_tables, export_parquet
from hybridrec_core.interfaces import PluginKind
from hybridrec_core.plugins import get_plugin_manager
from hybridrec_core.storage import Store

SMALL = {"source": {"name": "demo", "params": {
    "n_users": 50, "n_tracks": 40, "n_artists": 8, "n_genres": 4, "n_interactions": 800, "seed": 5}}}
DERIVED = {"user_bucket", "day"}  # columns the export adds for partitioning (unless the table has them)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """Features of a small demo world plus two months of encoded daily partitions."""
    tmp = tmp_path_factory.mktemp("export")
    cfg = api.default_config(**SMALL, storage={"database": str(tmp / "h.duckdb"), "artifacts_dir": str(tmp / "a")})
    s = api.open_store(cfg)
    api.ingest(cfg, s)
    api.build_features(cfg, s)
    source = get_plugin_manager().create(PluginKind.SOURCE, "demo", cfg.source.params)
    ingest_days(source, s, "2023-10-01", "2023-12-01")
    encode_days(s, "2023-10-01", "2023-12-01")
    return s


def _same_rows(store: Store, table: str, folder: Path) -> tuple[int, int]:
    """(rows only in DuckDB, rows only in Parquet) comparing the table's own columns."""
    with store.connect(read_only=True) as con:
        cols = [r[0] for r in con.execute(f'DESCRIBE "{table}"').fetchall()]
        names = ", ".join(f'"{c}"' for c in cols)
        parquet = f"read_parquet('{folder}/**/*.parquet', hive_partitioning = true)"
        only_db = con.execute(f'SELECT count(*) FROM (SELECT {names} FROM "{table}" EXCEPT ALL SELECT {names} FROM {parquet})').fetchall()[0][0]
        only_pq = con.execute(f'SELECT count(*) FROM (SELECT {names} FROM {parquet} EXCEPT ALL SELECT {names} FROM "{table}")').fetchall()[0][0]
    return int(only_db), int(only_pq)


@pytest.mark.parametrize("scheme", ["none", "day", "user"])
def test_every_exported_table_reads_back_to_the_same_rows(store: Store, tmp_path: Path, scheme: str) -> None:
    report = export_parquet(store, tmp_path / "out", partition_by=scheme, buckets=4)
    names = {t.name for t in report.tables}
    assert names == set(default_export_tables(store))
    assert {"split_train", "features_items", "vocab_users", "daily_features"} <= names
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    for t in report.tables:
        folder = tmp_path / "out" / t.name
        assert _same_rows(store, t.name, folder) == (0, 0), t.name
        assert manifest["tables"][t.name]["rows"] == t.rows == store.row_count(t.name)
        arrow = ds.dataset(folder, format="parquet", partitioning="hive").to_table()
        assert arrow.num_rows == t.rows
        assert set(arrow.column_names) - DERIVED == {c for c, _ in t.columns} - DERIVED
    parts = {t.name: t.partition_column for t in report.tables}
    if scheme == "none":
        assert set(parts.values()) == {None}
    elif scheme == "day":
        assert parts["daily_features"] == "day" and parts["split_train"] == "day" and parts["vocab_items"] is None
        days = sorted(p.name for p in (tmp_path / "out" / "daily_features").iterdir())
        assert days[0] >= "day=2023-10-01" and days[-1] < "day=2023-12-01" and len(days) > 20
    else:
        assert parts["split_train"] == parts["features_users"] == parts["daily_features"] == "user_bucket"
        assert parts["features_items"] is None  # no user column: one file
        with store.connect(read_only=True) as con:
            for table, col in (("split_train", "user_idx"), ("vocab_users", "idx")):
                wrong = con.execute(
                    f"SELECT count(*) FROM read_parquet('{tmp_path}/out/{table}/**/*.parquet', hive_partitioning = true) "
                    f"WHERE {col} % 4 <> user_bucket").fetchall()[0][0]
                assert wrong == 0
        assert sorted(p.name for p in (tmp_path / "out" / "split_train").iterdir()) == [f"user_bucket={k}" for k in range(4)]


def test_reexport_replaces_old_partitions_and_only_asked_tables_are_written(store: Store, tmp_path: Path) -> None:
    export_parquet(store, tmp_path, tables=["split_valid"], partition_by="user", buckets=8)
    assert len(list((tmp_path / "split_valid").iterdir())) == 8
    export_parquet(store, tmp_path, tables=["split_valid"], partition_by="none")
    assert [p.name for p in (tmp_path / "split_valid").iterdir()] == ["data.parquet"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", "split_valid"]


def test_bad_requests_fail_before_writing(store: Store, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no table"):
        export_parquet(store, tmp_path / "a", tables=["no_such_table"])
    with pytest.raises(HybridrecError, match="invalid table"):
        export_parquet(store, tmp_path / "b", tables=['split_train"; DROP TABLE split_train; --'])
    with pytest.raises(DataError, match="partition_by"):
        export_parquet(store, tmp_path / "c", partition_by="month")  # type: ignore[arg-type]
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    assert store.row_count("split_train") > 0


def test_cli_export_subcommand(store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    code = cli_main(["export", "--format", "parquet", "--out", str(out), "--database", str(store.path),
                     "--tables", "split_valid,features_users", "--buckets", "3"])
    printed = capsys.readouterr().out
    assert code == 0 and "split_valid" in printed and "user_bucket" in printed
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["tables"]) == {"split_valid", "features_users"} and manifest["buckets"] == 3
    assert _same_rows(store, "split_valid", out / "split_valid") == (0, 0)
    assert cli_main(["export", "--out", str(out), "--database", str(tmp_path / "missing.duckdb")]) == 2
