"""Run configuration: one Dagster-editable config that maps onto the core's ``PipelineConfig``.

The pipeline config is a *resource* (``ConfigurableResource`` is a Dagster ``Config``), not per-asset
op config, so every asset of a run sees the same source, splits, models and re-rankers, and the
launchpad has one place to edit them (``resources: pipeline: config: pipeline_yaml``).

Which config the code location starts from: the file named by ``HYBRIDREC_CONFIG`` (YAML/TOML/JSON)
when set, else the built-in demo pipeline. That choice also fixes the list of model assets.
"""

import os
from functools import lru_cache

import yaml
from dagster import ConfigurableResource
from pydantic import Field

from hybridrec_core.config import PipelineConfig, config_from_mapping, load_config

CONFIG_ENV = "HYBRIDREC_CONFIG"


def base_pipeline_config() -> PipelineConfig:
    """The config the code location is built from (``HYBRIDREC_CONFIG`` file or demo defaults)."""
    path = os.environ.get(CONFIG_ENV, "").strip()
    return load_config(path) if path else PipelineConfig()


def pipeline_yaml(config: PipelineConfig) -> str:
    """YAML for the launchpad: everything but ``storage``, which the resources own."""
    data = config.model_dump(mode="json", exclude={"storage"})
    return yaml.safe_dump(data, sort_keys=False)


@lru_cache(maxsize=32)
def _parse(text: str) -> PipelineConfig:
    data = yaml.safe_load(text) if text.strip() else {}
    if data is not None and not isinstance(data, dict):
        from hybridrec_core.errors import ConfigError

        raise ConfigError(f"pipeline_yaml: top level must be a mapping, got {type(data).__name__}")
    return config_from_mapping(data or {}, where="(Dagster run config resources.pipeline.pipeline_yaml)")


class PipelineRunConfig(ConfigurableResource):
    """The hybridrec pipeline for this run, as YAML (the core's PipelineConfig, minus storage)."""

    pipeline_yaml: str = Field(
        default_factory=lambda: pipeline_yaml(base_pipeline_config()),
        description=(
            "hybridrec PipelineConfig as YAML: source, encoders, split, models (+params), metrics, "
            "rerankers, evaluation, recommend. Storage paths come from the duckdb/artifacts resources."
        ),
    )
    max_quarantine_share: float = Field(
        0.05, ge=0.0, le=1.0, description="Data check: largest share of interaction rows quarantined."
    )
    min_ndcg_margin: float = Field(
        0.0, ge=-1.0, le=1.0,
        description="Model check: primary model's validation NDCG@k must exceed popularity's by more than this.",
    )

    def to_pipeline_config(self, database: str, artifacts_dir: str) -> PipelineConfig:
        """Validate the YAML (errors name the key path) and point storage at the resources."""
        cfg = _parse(self.pipeline_yaml)
        cfg = cfg.model_copy(update={"storage": cfg.storage.model_copy(
            update={"database": str(database), "artifacts_dir": str(artifacts_dir)})})
        cfg.validate_plugins()
        return cfg
