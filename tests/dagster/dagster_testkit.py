"""Helpers for the Dagster tests: a tiny demo pipeline on temporary storage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from dagster import Definitions

from dagster_project.config import PipelineRunConfig, pipeline_yaml
from dagster_project.definitions import build_definitions
from dagster_project.resources import default_resources
from hybridrec_core.config import PipelineConfig, config_from_mapping

# Tiny demo world and few epochs: the whole graph materializes in seconds on 2 cores.
SMALL: dict[str, Any] = {
    "seed": 7,
    "device": "cpu",
    "source": {"name": "demo", "params": {
        "n_users": 160, "n_tracks": 150, "n_artists": 30, "n_genres": 5, "n_interactions": 4000, "seed": 7,
    }},
    "models": [
        {"name": "hybrid", "params": {
            "embedding_dim": 16, "hidden_layers": [32], "epochs": 4, "batch_size": 1024, "learning_rate": 0.03,
        }},
        {"name": "popularity"},
    ],
    "metrics": [{"name": "ranking"}],
    "evaluation": {"batch_users": 256},
    "recommend": {"k": 5, "pool_size": 20},
}


def small_mapping(**overrides: Any) -> dict[str, Any]:
    """SMALL with top-level keys replaced and nested mappings merged one level deep."""
    data = yaml.safe_load(yaml.safe_dump(SMALL))
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


def small_config(**overrides: Any) -> PipelineConfig:
    return config_from_mapping(small_mapping(**overrides))


def make_definitions(tmp: Path, config: PipelineConfig, **pipeline_fields: Any) -> Definitions:
    """Definitions over ``config`` with the DuckDB file and artifacts under ``tmp``."""
    pipeline = PipelineRunConfig(pipeline_yaml=pipeline_yaml(config), **pipeline_fields)
    resources = default_resources(str(tmp / "hybridrec.duckdb"), str(tmp / "artifacts"), pipeline)
    return build_definitions(config, resources)


def materialize_all(definitions: Definitions, instance=None, selection=None, **kwargs: Any):
    """``dagster.materialize`` of every asset and check of the full refresh (or a selection of them);
    the day partitions and the Parquet export have their own jobs."""
    from dagster import materialize

    from dagster_project.jobs import OUTSIDE_FULL_REFRESH

    main = [a for a in definitions.assets if not set(a.group_names_by_key.values()) & set(OUTSIDE_FULL_REFRESH)]
    return materialize(
        [*main, *(definitions.asset_checks or [])],
        instance=instance,
        resources=definitions.resources,
        selection=selection,
        raise_on_error=False,
        **kwargs,
    )


def check_results(result) -> dict[tuple[str, str], bool]:
    """(asset, check name) -> passed, for every check evaluated in a run."""
    return {(e.asset_key.to_user_string(), e.check_name): e.passed for e in result.get_asset_check_evaluations()}


def materialized_keys(result) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def materialization_metadata(result, key: str) -> dict[str, Any]:
    for event in result.get_asset_materialization_events():
        if event.asset_key.to_user_string() == key:
            return dict(event.materialization.metadata)
    raise KeyError(key)
