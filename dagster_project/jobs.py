"""Asset jobs the schedules, the sensor and ``python -m dagster_project`` launch."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dagster import AssetCheckKey, AssetKey, AssetSelection, define_asset_job

if TYPE_CHECKING:  # not exported at dagster's top level
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

FULL_REFRESH = "hybridrec_full_refresh"
RECOMMENDATIONS_REFRESH = "hybridrec_recommendations_refresh"
MODEL_CHECK = "beats_popularity_on_validation"

full_refresh_job = define_asset_job(
    FULL_REFRESH,
    selection=AssetSelection.all(),
    description="Every asset and check: ingest -> features -> models -> evaluation + recommendations.",
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
