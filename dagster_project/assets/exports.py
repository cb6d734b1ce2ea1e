"""Exports group: the feature tables as partitioned Parquet for readers on other machines.

Not part of the full refresh (a laptop run does not need a second copy of its tables): run the
``hybridrec_export_parquet`` job, or ``hybridrec export --format parquet --out DIR`` without Dagster.
"""

from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset
from dagster_duckdb import DuckDBResource
from pydantic import Field

from dagster_project.assets import DUCKDB_POOL
from dagster_project.resources import ArtifactsResource, store_of
from dagster_project.writer_turn import writer_turn
from hybridrec_core.daily import DAILY_FEATURES
from hybridrec_core.export import DEFAULT_BUCKETS, PARTITION_SCHEMES, export_parquet

GROUP = "exports"


class ParquetExportConfig(Config):
    """Launchpad settings of one export (``ops: parquet_export: config: ...``)."""

    partition_by: str = Field("user", description=f"Partitioning: one of {list(PARTITION_SCHEMES)}.")
    buckets: int = Field(DEFAULT_BUCKETS, ge=1, le=4096, description="User buckets (partition_by: user).")
    tables: list[str] = Field(default_factory=list, description="Tables to export (empty: every feature table).")


@asset(
    name="parquet_export",
    group_name=GROUP,
    deps=["feature_tables", "splits", DAILY_FEATURES],
    kinds={"parquet"},
    pool=DUCKDB_POOL,  # reads the file while no run writes it
    description="vocab_*, features_*, split_* and daily_features as Parquet under <artifacts>/exports/parquet "
    "(Hive-partitioned by user bucket or day) with a manifest.json of rows and columns.",
)
def parquet_export(
    context: AssetExecutionContext, config: ParquetExportConfig, duckdb: DuckDBResource, artifacts: ArtifactsResource
) -> MaterializeResult:
    with writer_turn(context, duckdb.database):
        report = export_parquet(store_of(duckdb), artifacts.path("exports", "parquet"), tables=config.tables or None,
                                partition_by=config.partition_by, buckets=config.buckets)  # type: ignore[arg-type]
        context.log.info(f"exported {len(report.tables)} tables to {report.out_dir} in {report.seconds:.1f}s")
        lines = ["| table | rows | files | partitioned by |", "|---|---|---|---|"]
        lines += [f"| {t.name} | {t.rows} | {t.files} | {t.partition_column or '-'} |" for t in report.tables]
        return MaterializeResult(metadata={
            "path": MetadataValue.path(report.out_dir),
            "tables": MetadataValue.md("\n".join(lines)),
            "dagster/row_count": MetadataValue.int(sum(t.rows for t in report.tables)),
            "partition_by": MetadataValue.text(report.partition_by),
            "seconds": MetadataValue.float(report.seconds),
        })
