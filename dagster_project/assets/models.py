"""Models group: one trained-model asset per configured model plugin, built by a factory from
the code location's PipelineConfig (hybrid + baselines by default). Artifacts are versioned
folders under ``<artifacts>/models/<name>`` written by the core (safetensors + model.json).

Training runs in the step's process by default. With the asset's run config
``distributed: true`` the step launches torchrun (``world_size`` ranks of
:mod:`hybridrec_core.distributed_train`) through ``PipesSubprocessClient``: rank 0 streams its log
lines and reports epochs, best metric, seconds and world size back via dagster-pipes, and writes the
same artifact the in-process path writes (docs/distributed.md)."""

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml
from dagster import (
    AssetExecutionContext, AssetsDefinition, Config, Failure, MaterializeResult, MetadataValue, PipesSubprocessClient,
    asset,
)
from dagster_duckdb import DuckDBResource
from pydantic import Field

from dagster_project.config import PipelineRunConfig
from dagster_project.metadata import frame_markdown
from dagster_project.resources import ArtifactsResource, resolve, store_of
from hybridrec_core import api
from hybridrec_core.artifacts import read_manifest
from hybridrec_core.config import PipelineConfig
from hybridrec_core.distributed import DEFAULT_TIMEOUT_S, root_cause, torchrun_command
from hybridrec_core.errors import ConfigError
from hybridrec_core.interfaces import TrainingHistory

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
    return _metadata(trained.name, trained.model.config.model_dump(mode="json"), trained.history, trained.artifact)


def _metadata(name: str, parameters: dict[str, Any], h: TrainingHistory, artifact: Path | None) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "model": MetadataValue.text(name),
        "version": MetadataValue.text(artifact_version(artifact)),
        "parameters": MetadataValue.json(parameters),
        "epochs": MetadataValue.int(len(h.epochs)),
        "training_seconds": MetadataValue.float(float(h.seconds)),
        "device": MetadataValue.text(str(h.device)),
    }
    if h.best_metric is not None:
        meta["best_validation_metric"] = MetadataValue.float(float(h.best_metric))
        meta["monitor"] = MetadataValue.text(str(h.monitor))
    if h.best_epoch is not None:
        meta["best_epoch"] = MetadataValue.int(int(h.best_epoch))
    if artifact is not None:
        meta["artifact"] = MetadataValue.path(str(artifact))
    if h.epochs:
        meta["history"] = MetadataValue.md(frame_markdown(pd.DataFrame(h.epochs), rows=50))
    return meta


class TrainingLaunchConfig(Config):
    """How this run trains the model: in the step's process (default) or data-parallel under torchrun."""

    distributed: bool = Field(
        False, description="Train with torchrun in a subprocess (dagster-pipes) instead of in the step's process."
    )
    world_size: int = Field(2, ge=1, le=4096, description="Ranks torchrun starts on this machine (one per GPU on a GPU node).")
    backend: Literal["auto", "gloo", "nccl"] = Field("auto", description="Process-group backend; auto: NCCL on GPUs, gloo on CPUs.")
    timeout_s: float = Field(
        DEFAULT_TIMEOUT_S, gt=0, description="Process-group timeout: how long a collective waits for a stuck rank before the run fails."
    )
    threads_per_rank: int | None = Field(
        None, ge=1, description="OMP_NUM_THREADS of each rank (default: the environment's, else cores / world_size)."
    )


def train_distributed(
    context: AssetExecutionContext,
    client: PipesSubprocessClient,
    cfg: PipelineConfig,
    model: str,
    launch: TrainingLaunchConfig,
) -> MaterializeResult:
    """Run :mod:`hybridrec_core.distributed_train` under torchrun through dagster-pipes and merge the
    child's reported metadata (epochs, best metric, seconds, world size) with the artifact's."""
    with tempfile.TemporaryDirectory(prefix="hybridrec-ddp-") as tmp:
        config_path = Path(tmp) / "pipeline.yaml"
        config_path.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False), encoding="utf-8")
        error_file = Path(tmp) / "torchrun_error.json"
        threads = launch.threads_per_rank or os.environ.get("OMP_NUM_THREADS") or max(1, (os.cpu_count() or 1) // launch.world_size)
        env = {"OMP_NUM_THREADS": str(threads), "TORCHELASTIC_ERROR_FILE": str(error_file)}
        command = torchrun_command(config_path, launch.world_size, [model], launch.backend, launch.timeout_s, ["--pipes"])
        context.log.info(f"launching {launch.world_size} ranks: {' '.join(command)}")
        try:
            invocation = client.run(command=command, context=context, env=env, extras={"model": model})
        except Exception as exc:  # the client only says "failed with code N"; torchrun's file says who and why
            cause = root_cause(error_file)
            if cause is None:
                raise
            raise Failure(
                description=f"distributed training of {model!r} failed: {cause} (torchrun's summary is in the step's stderr)"
            ) from exc
        reported = invocation.get_materialize_result()
    artifact = Path(cfg.storage.artifacts_dir) / "models" / model
    manifest = read_manifest(artifact)
    history = TrainingHistory.from_dict(manifest["history"])
    meta = {**_metadata(model, manifest["config"], history, artifact), **(reported.metadata or {})}
    context.log.info(
        f"trained {model} in {history.seconds:.1f}s on {launch.world_size} ranks x {history.device}"
    )
    return MaterializeResult(metadata=meta)


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
        context: AssetExecutionContext,
        config: TrainingLaunchConfig,
        pipeline: PipelineRunConfig,
        duckdb: DuckDBResource,
        artifacts: ArtifactsResource,
        pipes_subprocess_client: PipesSubprocessClient,
    ) -> MaterializeResult:
        cfg = resolve(pipeline, duckdb, artifacts)
        if model not in spec_names(cfg):
            raise ConfigError(
                f"asset {model_asset_name(model)}: model {model!r} is not in this run's pipeline config "
                f"(models: {spec_names(cfg)}); add it to resources.pipeline.pipeline_yaml or deselect the asset"
            )
        if config.distributed:  # cfg.storage already points at the resources' DuckDB file and artifact folder
            return train_distributed(context, pipes_subprocess_client, cfg, model, config)
        features = api.load_features(cfg, store_of(duckdb))
        trained = api.train(cfg, features, models=[model], artifacts_dir=artifacts.root)[model]
        meta = training_metadata(trained)
        context.log.info(f"trained {model} in {meta['training_seconds'].value:.1f}s on {trained.history.device}")
        return MaterializeResult(metadata=meta)

    return _trained


def build_model_assets(config: PipelineConfig) -> list[AssetsDefinition]:
    return [build_model_asset(name) for name in spec_names(config)]
