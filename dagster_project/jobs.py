"""Asset jobs the schedules, the sensor and ``python -m dagster_project`` launch."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dagster import AssetCheckKey, AssetKey, AssetSelection, DailyPartitionsDefinition, define_asset_job

from dagster_project.assets.exports import GROUP as EXPORTS_GROUP
from dagster_project.assets.partitions import GROUP as PARTITIONS_GROUP

if TYPE_CHECKING:  # not exported at dagster's top level
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

FULL_REFRESH = "hybridrec_full_refresh"
RECOMMENDATIONS_REFRESH = "hybridrec_recommendations_refresh"
MODEL_CHECK = "beats_popularity_on_validation"
DAILY_PARTITIONS = "hybridrec_daily_partitions"
EXPORT_PARQUET = "hybridrec_export_parquet"
# Day partitions run in their own job (a full refresh has no partition key) and the Parquet export
# on demand, so the full refresh stays what it was.
OUTSIDE_FULL_REFRESH = (PARTITIONS_GROUP, EXPORTS_GROUP)
FULL_REFRESH_SELECTION = AssetSelection.all() - AssetSelection.groups(*OUTSIDE_FULL_REFRESH)

full_refresh_job = define_asset_job(
    FULL_REFRESH,
    selection=FULL_REFRESH_SELECTION,
    description="Every unpartitioned asset and check: ingest -> features -> models -> evaluation + recommendations.",
)

export_job = define_asset_job(
    EXPORT_PARQUET,
    selection=AssetSelection.groups(EXPORTS_GROUP),
    description="Export the feature tables (and daily_features) to partitioned Parquet under <artifacts>/exports.",
)


def build_daily_job(partitions_def: DailyPartitionsDefinition) -> UnresolvedAssetJobDefinition:
    """Ingest + encode one day partition (or a range of them in one run) of the interactions."""
    return define_asset_job(
        DAILY_PARTITIONS,
        selection=AssetSelection.groups(PARTITIONS_GROUP),
        partitions_def=partitions_def,
        description="daily_interactions + daily_features for the selected UTC day(s), with the fitted encoders.",
    )


def build_recommendations_job(primary_model: str) -> UnresolvedAssetJobDefinition:
    """Recommendations only, gated by the primary model's blocking check (re-evaluated on the
    validation split), so a refresh never publishes lists from a model that failed it."""
    gate = AssetCheckKey(AssetKey(f"model_{primary_model}"), MODEL_CHECK)
    return define_asset_job(
        RECOMMENDATIONS_REFRESH,
        selection=AssetSelection.groups("recommendations") | AssetSelection.checks(gate),
        description="Regenerate the recommendations table from the current features and model artifact "
        f"(after re-running model_{primary_model}'s {MODEL_CHECK} check; no retraining).",
    )
