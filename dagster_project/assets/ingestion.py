"""Ingestion group: the raw tables and the quarantine, written by one core ``ingest`` call."""

from collections.abc import Iterator
from typing import Any

from dagster import AssetExecutionContext, AssetSpec, MaterializeResult, MetadataValue, multi_asset
from dagster_duckdb import DuckDBResource

from dagster_project.assets import DUCKDB_POOL
from dagster_project.config import PipelineRunConfig
from dagster_project.metadata import table_metadata
from dagster_project.resources import ArtifactsResource, resolve, store_of
from dagster_project.writer_turn import writer_turn
from hybridrec_core import api

GROUP = "ingestion"
RAW_TABLES: dict[str, str] = {
    "raw_tracks": "Validated track catalogue from the configured source.",
    "raw_users": "Validated users (from the source's user table, or derived from interactions).",
    "raw_interactions": "Validated interactions, duplicates merged (sum plays, latest timestamp).",
    "quarantine": "Rows rejected by validation, with the table, row number, reason and raw row.",
    "user_flags": "Per-user boolean flags (e.g. no_explicit) read by re-rankers; empty when the source has none.",
}
# What the features are built from; user_flags only matter when lists are made (recommendations).
FEATURE_INPUTS: tuple[str, ...] = tuple(t for t in RAW_TABLES if t != "user_flags")


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


@multi_asset(
    specs=[AssetSpec(name, description=desc, group_name=GROUP, kinds={"duckdb"}) for name, desc in RAW_TABLES.items()],
    pool=DUCKDB_POOL,
)
def raw_tables(
    context: AssetExecutionContext, pipeline: PipelineRunConfig, duckdb: DuckDBResource, artifacts: ArtifactsResource
) -> Iterator[MaterializeResult]:
    """Load the configured source, validate in DuckDB SQL and write raw_* + quarantine atomically."""
    with writer_turn(context, duckdb.database):
        cfg = resolve(pipeline, duckdb, artifacts)
        store = store_of(duckdb)
        report = api.ingest(cfg, store)
        report_dict = _json_safe(report.to_dict())
        per_table = report_dict.get("tables", {})
        context.log.info(f"ingested source {cfg.source.name!r}: {per_table}")
        for name in RAW_TABLES:
            meta = table_metadata(store, [name])
            meta["source"] = MetadataValue.text(cfg.source.name)
            counts = per_table.get(name.removeprefix("raw_"))
            meta["ingest_report"] = MetadataValue.json(counts if counts is not None else report_dict)
            yield MaterializeResult(asset_key=name, metadata=meta)
