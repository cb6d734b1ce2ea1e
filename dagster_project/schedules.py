"""Daily schedules. All are STOPPED by default: a fresh ``dagster dev`` should not start training
on its own, and the demo data does not change. Turn them on in the UI (Automation) — the choice is
kept in DAGSTER_HOME — or set ``HYBRIDREC_SCHEDULES=on`` before starting Dagster."""

from __future__ import annotations

from typing import TYPE_CHECKING

import os

from dagster import DefaultScheduleStatus, ScheduleDefinition, build_schedule_from_partitioned_job

from dagster_project.jobs import full_refresh_job

if TYPE_CHECKING:  # not exported at dagster's top level
    from dagster._core.definitions.partitions.partitioned_schedule import UnresolvedPartitionedAssetScheduleDefinition
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

SCHEDULES_ENV = "HYBRIDREC_SCHEDULES"


def default_status() -> DefaultScheduleStatus:
    on = os.environ.get(SCHEDULES_ENV, "").strip().lower() in {"1", "on", "true", "yes"}
    return DefaultScheduleStatus.RUNNING if on else DefaultScheduleStatus.STOPPED


def build_schedules(recommendations_job: UnresolvedAssetJobDefinition) -> list[ScheduleDefinition]:
    status = default_status()
    return [
        ScheduleDefinition(
            name="daily_full_refresh",
            job=full_refresh_job,
            cron_schedule="0 2 * * *",
            execution_timezone="UTC",
            default_status=status,
            description="02:00 UTC: re-ingest the source and rebuild features, models, evaluation and recommendations.",
        ),
        ScheduleDefinition(
            name="daily_recommendations_refresh",
            job=recommendations_job,
            cron_schedule="0 6 * * *",
            execution_timezone="UTC",
            default_status=status,
            description="06:00 UTC: regenerate recommendations from the current model (no retraining).",
        ),
    ]


def build_partition_schedule(daily_job: UnresolvedAssetJobDefinition) -> UnresolvedPartitionedAssetScheduleDefinition:
    """01:00 UTC: yesterday's day partition (ingest + encode only that day), off by default too."""
    return build_schedule_from_partitioned_job(
        daily_job,
        name="daily_partitions_refresh",
        hour_of_day=1,
        minute_of_hour=0,
        default_status=default_status(),
        description="01:00 UTC: ingest and encode yesterday's partition of the interactions (no refit, no retraining).",
    )
