"""The code location: assembles assets, checks, jobs, schedules, the sensor and resources.

``dagster dev`` from the repository root loads ``defs`` (see ``[tool.dagster]`` in pyproject).
Tests call :func:`build_definitions` with a small config and temporary storage.
"""

from __future__ import annotations

from typing import Any

from dagster import Definitions, in_process_executor

from dagster_project.assets.evaluation import build_evaluation_asset
from dagster_project.assets.exports import parquet_export
from dagster_project.assets.features import feature_tables_and_splits
from dagster_project.assets.ingestion import raw_tables
from dagster_project.assets.models import build_model_assets, spec_names
from dagster_project.assets.partitions import build_daily_partitions, build_partitioned_assets
from dagster_project.assets.recommendations import build_recommendations_asset
from dagster_project.checks import build_checks
from dagster_project.config import PipelineRunConfig, base_pipeline_config, pipeline_yaml
from dagster_project.jobs import build_daily_job, build_recommendations_job, export_job, full_refresh_job
from dagster_project.resources import default_resources
from dagster_project.schedules import build_partition_schedule, build_schedules
from dagster_project.sensors import new_interaction_files
from hybridrec_core.config import PipelineConfig


def build_definitions(config: PipelineConfig | None = None, resources: dict[str, Any] | None = None) -> Definitions:
    """Definitions for ``config`` (default: ``HYBRIDREC_CONFIG`` or the demo pipeline)."""
    config = config or base_pipeline_config()
    recommendations_job = build_recommendations_job(config.primary_model)
    daily_partitions = build_daily_partitions(config)
    daily_job = build_daily_job(daily_partitions)
    return Definitions(
        assets=[
            raw_tables,
            feature_tables_and_splits,
            *build_model_assets(config),
            build_evaluation_asset(spec_names(config)),
            build_recommendations_asset(config.primary_model),
            *build_partitioned_assets(daily_partitions),
            parquet_export,
        ],
        asset_checks=build_checks(config),
        jobs=[full_refresh_job, recommendations_job, daily_job, export_job],
        schedules=[*build_schedules(recommendations_job), build_partition_schedule(daily_job)],
        sensors=[new_interaction_files],
        resources=resources or default_resources(pipeline=PipelineRunConfig(pipeline_yaml=pipeline_yaml(config))),
        # One process per run: a subprocess per step would re-import torch/pandas for every asset,
        # DuckDB writers take turns anyway, and torch already uses every core inside a step.
        executor=in_process_executor,
    )


defs = build_definitions()
