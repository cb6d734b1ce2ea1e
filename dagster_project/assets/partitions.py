"""Partitions group: interactions partitioned by UTC day, so a daily refresh ingests and encodes
one day instead of the whole history.

- ``daily_interactions``: the source's rows dated on the partition's day, validated like the full
  ingest, in ``daily_interactions`` (rejected rows in ``daily_quarantine``);
- ``daily_features``: those rows encoded with the encoders the unpartitioned ``feature_tables``
  asset fitted (never refitted here; unseen ids get new indices after the fitted vocabulary), in
  ``daily_features``.

Both replace exactly their days' rows in one transaction (re-running a partition is idempotent)
and accept a partition *range* in one run (``BackfillPolicy.single_run``): the source is read once
and the range written in one transaction, which is what ``dagster asset materialize
--partition-range`` and a single-run UI backfill launch. They are not part of the full refresh:
``hybridrec_daily_partitions`` runs them, and the ``daily_partitions_refresh`` schedule (off by
default) runs yesterday's partition.

The first partition is ``HYBRIDREC_PARTITION_START`` (``YYYY-MM-DD``) when set, else the first day
the demo source generates (``span_days`` before 2024-01-01), else 2020-01-01; the last is the day
before ``HYBRIDREC_PARTITION_END`` when set, the demo world's last day, or open-ended (yesterday).
"""

import os
import warnings
from datetime import date, datetime, timedelta, timezone
from typing import Any

from dagster import (
    AssetExecutionContext, AssetsDefinition, BackfillPolicy, BetaWarning, DailyPartitionsDefinition,
    MaterializeResult, MetadataValue, asset,
)
from dagster_duckdb import DuckDBResource

from dagster_project.assets import DUCKDB_POOL
from dagster_project.config import PipelineRunConfig
from dagster_project.resources import ArtifactsResource, resolve, store_of
from dagster_project.writer_turn import writer_turn
from hybridrec_core.config import PipelineConfig
from hybridrec_core.daily import DAILY_FEATURES, DAILY_INTERACTIONS, as_day, encode_days, ingest_days
from hybridrec_core.errors import ConfigError, DataError
from hybridrec_core.interfaces import PluginKind
from hybridrec_core.plugins import get_plugin_manager

GROUP = "partitions"
START_ENV = "HYBRIDREC_PARTITION_START"
END_ENV = "HYBRIDREC_PARTITION_END"
FALLBACK_START = date(2020, 1, 1)
MAX_LISTED_DAYS = 62  # per-day tables in the metadata up to about two months; longer ranges get totals


def _env_day(name: str) -> date | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        return as_day(raw)
    except DataError as exc:
        raise ConfigError(f"{name}={raw!r}: use a day such as 2024-01-31") from exc


def source_days(config: PipelineConfig) -> tuple[date, date] | None:
    """``[first, last + 1)`` day of the source's timestamps when known without loading it: the demo
    world's timestamps cover ``span_days`` before its fixed "now" (2024-01-01 UTC)."""
    if config.source.name != "demo":
        return None
    from hybridrec_plugins.sources.demo_world import END_EPOCH

    span = get_plugin_manager().create(PluginKind.SOURCE, "demo", config.source.params).config.span_days
    end = datetime.fromtimestamp(END_EPOCH, tz=timezone.utc).date()
    return end - timedelta(days=span), end


def partition_days(config: PipelineConfig) -> tuple[date, date | None]:
    """First day and exclusive end day (None: up to yesterday) of the daily partitions."""
    known = source_days(config)
    start = _env_day(START_ENV) or (known[0] if known else FALLBACK_START)
    end = _env_day(END_ENV) or (known[1] if known else None)
    if end is not None and end <= start:
        raise ConfigError(f"daily partitions: end {end} (exclusive) must come after start {start}; "
                          f"check {START_ENV} / {END_ENV}")
    return start, end


def build_daily_partitions(config: PipelineConfig) -> DailyPartitionsDefinition:
    """UTC days from :func:`partition_days`."""
    start, end = partition_days(config)
    return DailyPartitionsDefinition(
        start_date=start.isoformat(), end_date=end.isoformat() if end else None, timezone="UTC",
    )


def window_days(context: AssetExecutionContext) -> tuple[date, date]:
    """The run's partition (or partition range) as ``[start, end)`` days."""
    w = context.partition_time_window
    return w.start.astimezone(timezone.utc).date(), w.end.astimezone(timezone.utc).date()


def _per_day_metadata(per_day: dict[str, int], start: date, end: date) -> dict[str, Any]:
    """Rows per day (every day of the window, zeros included) and the standard row count when the
    run is one partition; a range run's totals describe the whole range."""
    days = (end - start).days
    total = sum(per_day.values())
    meta: dict[str, Any] = {"window": MetadataValue.text(f"[{start}, {end})"), "days": MetadataValue.int(days),
                            "rows_in_window": MetadataValue.int(total)}
    if days == 1:
        meta["dagster/row_count"] = MetadataValue.int(total)
    if days <= MAX_LISTED_DAYS:
        lines = ["| day | rows |", "|---|---|"]
        lines += [f"| {start + timedelta(days=i)} | {per_day.get((start + timedelta(days=i)).isoformat(), 0)} |"
                  for i in range(days)]
        meta["rows_per_day"] = MetadataValue.md("\n".join(lines))
    return meta


def build_partitioned_assets(partitions_def: DailyPartitionsDefinition) -> list[AssetsDefinition]:
    """``daily_interactions`` and ``daily_features`` on ``partitions_def``."""
    # backfill_policy is "beta" in Dagster 1.13 and warns at every code-location load; the single-run
    # policy is what lets `--partition-range` and range backfills run as one run.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BetaWarning)
        return _partitioned_assets(partitions_def)


def _partitioned_assets(partitions_def: DailyPartitionsDefinition) -> list[AssetsDefinition]:
    @asset(
        name=DAILY_INTERACTIONS,
        group_name=GROUP,
        partitions_def=partitions_def,
        backfill_policy=BackfillPolicy.single_run(),
        kinds={"duckdb"},
        pool=DUCKDB_POOL,
        description="The source's interactions dated on the partition's UTC day, validated like raw_interactions "
        "(duplicates merged per day); rejected rows in daily_quarantine. Replaces only that day's rows.",
    )
    def daily_interactions(
        context: AssetExecutionContext, pipeline: PipelineRunConfig, duckdb: DuckDBResource, artifacts: ArtifactsResource
    ) -> MaterializeResult:
        with writer_turn(context, duckdb.database):
            cfg = resolve(pipeline, duckdb, artifacts)
            start, end = window_days(context)
            source = get_plugin_manager().create(PluginKind.SOURCE, cfg.source.name, cfg.source.params)
            report = ingest_days(source, store_of(duckdb), start, end)
            context.log.info(f"days [{start}, {end}): {report.accepted} rows, {report.quarantined} quarantined, "
                             f"{report.merged} merged, {report.undated} source rows without a timestamp")
            meta = _per_day_metadata(report.per_day, start, end)
            meta.update({
                "source": MetadataValue.text(cfg.source.name),
                "rows_read": MetadataValue.int(report.rows_read),
                "quarantined": MetadataValue.int(report.quarantined),
                "merged": MetadataValue.int(report.merged),
                "undated_source_rows": MetadataValue.int(report.undated),
                "quarantine_reasons": MetadataValue.json(report.reasons),
                "seconds": MetadataValue.float(report.seconds),
            })
            return MaterializeResult(metadata=meta)

    @asset(
        name=DAILY_FEATURES,
        group_name=GROUP,
        partitions_def=partitions_def,
        backfill_policy=BackfillPolicy.single_run(),
        deps=[DAILY_INTERACTIONS, "feature_tables"],
        kinds={"duckdb"},
        pool=DUCKDB_POOL,
        description="The partition's daily_interactions encoded with the fitted encoders of feature_tables "
        "(user/item indices, target, hour, weekday, recency); unseen ids get indices after the fitted vocabulary.",
    )
    def daily_features(context: AssetExecutionContext, duckdb: DuckDBResource) -> MaterializeResult:
        with writer_turn(context, duckdb.database):
            start, end = window_days(context)
            report = encode_days(store_of(duckdb), start, end)
            context.log.info(f"encoded days [{start}, {end}): {report.rows} rows, {report.new_users} new users, "
                             f"{report.new_items} new tracks")
            if report.stale_days:
                context.log.warning(f"{report.stale_days} day(s) of {DAILY_FEATURES} were encoded with encoders that have "
                                    "been refitted since; backfill them to re-encode")
            meta = _per_day_metadata(report.per_day, start, end)
            meta.update({
                "new_users": MetadataValue.int(report.new_users),
                "new_tracks": MetadataValue.int(report.new_items),
                "encoder_version": MetadataValue.text(report.encoder_version),
                "stale_days": MetadataValue.int(report.stale_days),
                "seconds": MetadataValue.float(report.seconds),
            })
            return MaterializeResult(metadata=meta)

    return [daily_interactions, daily_features]
