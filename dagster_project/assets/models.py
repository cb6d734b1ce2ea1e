"""Models group: one trained-model asset per configured model plugin, built by a factory from
the code location's PipelineConfig (hybrid + baselines by default). Artifacts are versioned
folders under ``<artifacts>/models/<name>`` written by the core (safetensors + model.json)."""

import json
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import AssetExecutionContext, AssetsDefinition, MaterializeResult, MetadataValue, asset
from dagster_duckdb import DuckDBResource

from dagster_project.config import PipelineRunConfig
from dagster_project.metadata import frame_markdown
from dagster_project.resources import ArtifactsResource, resolve, store_of
from hybridrec_core import api
from hybridrec_core.config import PipelineConfig
from hybridrec_core.errors import ConfigError

GROUP = "models"


def model_asset_name(model: str) -> str:
    return f"model_{model}"


def artifact_version(artifact: Path | None) -> str:
    """The version id the core wrote into ``model.json`` (falls back to the folder's mtime)."""
    if artifact is None:
        return "unsaved"
    meta_file = Path(artifact) / "model.json"
    if meta_file.exists():
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        for key in ("version", "version_id", "artifact_version", "created_at"):
            if meta.get(key):
                return str(meta[key])
    return f"mtime-{int(Path(artifact).stat().st_mtime)}"


def training_metadata(trained: api.TrainedModel) -> dict[str, Any]:
    """What the UI shows for a trained model: parameters, epochs, best metric, seconds, device."""
    h = trained.history
    meta: dict[str, Any] = {
        "model": MetadataValue.text(trained.name),
        "version": MetadataValue.text(artifact_version(trained.artifact)),
        "parameters": MetadataValue.json(trained.model.config.model_dump(mode="json")),
        "epochs": MetadataValue.int(len(h.epochs)),
        "training_seconds": MetadataValue.float(float(h.seconds)),
        "device": MetadataValue.text(str(h.device)),
    }
    if h.best_metric is not None:
        meta["best_validation_metric"] = MetadataValue.float(float(h.best_metric))
        meta["monitor"] = MetadataValue.text(str(h.monitor))
    if h.best_epoch is not None:
        meta["best_epoch"] = MetadataValue.int(int(h.best_epoch))
    if trained.artifact is not None:
        meta["artifact"] = MetadataValue.path(str(trained.artifact))
    if h.epochs:
        meta["history"] = MetadataValue.md(frame_markdown(pd.DataFrame(h.epochs), rows=50))
    return meta


def spec_names(config: PipelineConfig) -> list[str]:
    return [m.name for m in config.models]


def build_model_asset(model: str) -> AssetsDefinition:
    """A trained-model asset for the model plugin named ``model``."""

    @asset(
        name=model_asset_name(model),
        group_name=GROUP,
        deps=["feature_tables", "splits"],
        description=f"The {model!r} model fitted on the training split; artifact under <artifacts>/models/{model}.",
    )
    def _trained(
        context: AssetExecutionContext, pipeline: PipelineRunConfig, duckdb: DuckDBResource, artifacts: ArtifactsResource
    ) -> MaterializeResult:
        cfg = resolve(pipeline, duckdb, artifacts)
        if model not in spec_names(cfg):
            raise ConfigError(
                f"asset {model_asset_name(model)}: model {model!r} is not in this run's pipeline config "
                f"(models: {spec_names(cfg)}); add it to resources.pipeline.pipeline_yaml or deselect the asset"
            )
        features = api.load_features(cfg, store_of(duckdb))
        trained = api.train(cfg, features, models=[model], artifacts_dir=artifacts.root)[model]
        meta = training_metadata(trained)
        context.log.info(f"trained {model} in {meta['training_seconds'].value:.1f}s on {trained.history.device}")
        return MaterializeResult(metadata=meta)

    return _trained


def build_model_assets(config: PipelineConfig) -> list[AssetsDefinition]:
    return [build_model_asset(name) for name in spec_names(config)]
