"""The few functions a notebook (or the CLI, or a Dagster asset) calls.

Each step is a plain function over the previous step's output, so any box of the data flow can be
rebuilt from the ones above it::

    cfg = api.load_config("pipeline.yaml")          # or api.default_config()
    store = api.open_store(cfg)
    report = api.ingest(cfg, store)                 # raw_* + quarantine tables
    features = api.build_features(cfg, store)      # features_* + split_* tables -> FeatureSet
    trained = api.train(cfg, features)              # model artifacts
    result = api.evaluate(cfg, features, trained)   # metrics (+ report directory)
    recs = api.recommend(cfg, features, trained[cfg.primary_model].model)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hybridrec_core.config import PipelineConfig, config_from_mapping, load_config
from hybridrec_core.dataset import FeatureSet
from hybridrec_core.interfaces import FitContext, Model, PluginKind, TrainingHistory
from hybridrec_core.plugins import get_plugin_manager

if TYPE_CHECKING:
    from hybridrec_core.distributed import DistributedContext

__all__ = [
    "PipelineConfig", "TrainedModel", "build_features", "config_from_mapping", "default_config",
    "evaluate", "ingest", "load_config", "load_features", "load_trained", "load_user_flags", "open_store",
    "recommend", "train",
]


def default_config(**overrides: Any) -> PipelineConfig:
    """The built-in pipeline (demo data, hybrid + baselines) with top-level overrides."""
    return config_from_mapping(overrides)


def open_store(config: PipelineConfig):
    """The DuckDB store named by ``config.storage.database``."""
    from hybridrec_core.storage import Store

    return Store(config.storage.database)


def ingest(config: PipelineConfig, store=None):
    """Load the configured source, validate, and write raw_*, user_flags and quarantine tables."""
    from hybridrec_core.ingest import ingest as _ingest

    source = get_plugin_manager().create(PluginKind.SOURCE, config.source.name, config.source.params)
    flags = config.user_flags
    return _ingest(source, store or open_store(config), user_flags_path=flags.path, flag_columns=flags.columns)


def build_features(config: PipelineConfig, store=None) -> FeatureSet:
    """Split, fit encoders on the training split, write features_* / split_* tables."""
    from hybridrec_core.features import build_features as _build

    return _build(store or open_store(config), config)


def load_features(config: PipelineConfig, store=None, shard: tuple[int, int] | None = None) -> FeatureSet:
    """Read the FeatureSet back from the features_* / split_* tables; ``shard=(rank, world_size)``
    reads only that data-parallel rank's training rows (see :func:`hybridrec_core.features.load_features`)."""
    from hybridrec_core.features import load_features as _load

    return _load(store or open_store(config), shard=shard)


@dataclass
class TrainedModel:
    """A fitted model with its history and where its artifact was written."""

    name: str
    model: Model
    history: TrainingHistory
    artifact: Path | None = None


def train(
    config: PipelineConfig,
    features: FeatureSet,
    models: list[str] | None = None,
    artifacts_dir: str | Path | None = None,
    progress: bool = False,
    distributed: DistributedContext | None = None,
) -> dict[str, TrainedModel]:
    """Fit each configured model (or the named subset) and save its artifact.

    ``distributed``: this process is one rank of a torchrun job (see
    :mod:`hybridrec_core.distributed_train`); models train data-parallel through the training
    engine and only rank 0 saves (the other ranks' ``artifact`` is None). ``features`` may then
    hold only this rank's shard of the training split (``load_features(..., shard=(rank, world))``);
    models that need the whole split (``Model.needs_whole_train``) are refused such features."""
    from hybridrec_core.artifacts import save_model

    pm = get_plugin_manager()
    out_root = Path(artifacts_dir or config.storage.artifacts_dir) / "models"
    trained: dict[str, TrainedModel] = {}
    for spec in config.models:
        if models is not None and spec.name not in models:
            continue
        model = pm.create(PluginKind.MODEL, spec.name, spec.params)
        _check_shard_fit(spec.name, model, features, distributed)
        ctx = FitContext(
            seed=config.seed,
            device=config.device if distributed is None else str(distributed.device),
            checkpoint_dir=out_root / spec.name / "checkpoints",
            progress=progress,
            distributed=distributed,
            train_shard=features.train_shard,
        )
        started = time.perf_counter()
        history = model.fit(features, ctx)
        if features.train_shard is not None and not history.extra.get("train_sharded"):
            from hybridrec_core.distributed import DistributedTrainingError

            raise DistributedTrainingError(
                f"model {spec.name!r} did not train through the training engine, so it was fitted on "
                f"{features.train_shard.describe()} alone; its class should set needs_whole_train = True"
            )
        if history.seconds <= 0:  # models without an epoch loop (baselines) leave timing to the caller
            history.seconds = time.perf_counter() - started
        path = None
        if distributed is None or distributed.is_main:
            path = save_model(model, out_root / spec.name, features=features, history=history)
        trained[spec.name] = TrainedModel(spec.name, model, history, path)
    return trained


def _check_shard_fit(name: str, model: Model, features: FeatureSet, distributed: DistributedContext | None) -> None:
    """A training-split shard is only for the data-parallel rank it belongs to, and only for models
    that can train on part of the rows (the engine's data-parallel path)."""
    shard = features.train_shard
    if shard is None:
        return
    if model.needs_whole_train:
        features.require_whole_train(f"model {name!r}")
    if distributed is None or (distributed.rank, distributed.world_size) != (shard.rank, shard.world_size):
        from hybridrec_core.errors import ConfigError

        where = "one process" if distributed is None else f"rank {distributed.rank} of {distributed.world_size}"
        raise ConfigError(
            f"model {name!r}: the FeatureSet's training split is {shard.describe()}, but training runs as "
            f"{where}; load the whole split, or the shard of this rank"
        )


def load_trained(config: PipelineConfig, features: FeatureSet, name: str | None = None) -> TrainedModel:
    """Load a saved model artifact (the primary model by default)."""
    from hybridrec_core.artifacts import load_model

    name = name or config.primary_model
    path = Path(config.storage.artifacts_dir) / "models" / name
    model, history = load_model(path, features)
    return TrainedModel(name, model, history, path)


def evaluate(
    config: PipelineConfig,
    features: FeatureSet,
    trained: dict[str, TrainedModel] | dict[str, Model],
    report_dir: str | Path | None = None,
):
    """Compute every configured metric for every model (full ranking, train items excluded);
    write the report directory when ``report_dir`` is given. Returns an EvaluationResult."""
    from hybridrec_core.evaluation import evaluate as _evaluate
    from hybridrec_core.report import write_report

    pm = get_plugin_manager()
    metrics = [pm.create(PluginKind.METRIC, m.name, m.params) for m in config.metrics]
    models = {n: (t.model if isinstance(t, TrainedModel) else t) for n, t in trained.items()}
    histories = {n: t.history for n, t in trained.items() if isinstance(t, TrainedModel)}
    result = _evaluate(features, models, metrics, config.evaluation, seed=config.seed, histories=histories)
    if report_dir is not None:
        write_report(result, Path(report_dir))
    return result


def load_user_flags(config: PipelineConfig, features: FeatureSet, store=None) -> dict[str, np.ndarray]:
    """``{flag: bool per user index}`` from the ``user_flags`` table (written by :func:`ingest`)."""
    from hybridrec_core.user_flags import load_user_flags as _load

    return _load(store or open_store(config), features)


def recommend(
    config: PipelineConfig,
    features: FeatureSet,
    model: Model,
    users: list[str] | np.ndarray | None = None,
    k: int | None = None,
    *,
    store=None,
    user_flags: dict[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Top-k lists after the configured re-ranker chain, as a DataFrame (one row per item).

    The chain sees the ``user_flags`` table of ``store`` (default: the config's database) as
    ``RerankContext.user_flags``, so e.g. ``explicit_filter`` with ``scope: flagged_users`` filters
    the users ingest flagged; pass ``user_flags`` to use other flags. Without re-rankers nothing is read.
    """
    from hybridrec_core.recommend import recommend as _recommend

    pm = get_plugin_manager()
    rerankers = [pm.create(PluginKind.RERANKER, r.name, r.params) for r in config.rerankers]
    rc = config.recommend if k is None else config.recommend.model_copy(update={"k": k, "pool_size": max(k, config.recommend.pool_size)})
    if user_flags is None and rerankers:
        user_flags = load_user_flags(config, features, store)
    return _recommend(model, features, rc, rerankers, users=users, user_flags=user_flags).to_frame(features)
