"""Data-parallel training entry point; torchrun starts one copy per rank::

    torchrun --standalone --nproc-per-node 2 -m hybridrec_core.distributed_train --config pipeline.yaml

Every rank reads its own shard of the training split from the DuckDB store
(``api.load_features(cfg, shard=(rank, world_size))``: the rows of the users with
``user_idx % world_size == rank``, filtered in SQL over a short read-only connection, so ranks and
other processes take turns); vocabularies, item features and the valid/test splits stay whole.
Each rank then calls ``api.train`` with its :class:`~hybridrec_core.distributed.DistributedContext`.
Models that train through the engine (``hybrid``) train data-parallel, each rank on its shard;
rank 0 validates and writes the artifact with the same ``save_model`` as the single-process path
(the shard reports the whole split's fingerprint), so ``api.load_trained`` on the whole FeatureSet
loads it. Models that need the whole split (``Model.needs_whole_train``: the baselines) get the
whole FeatureSet and are fitted whole by every rank (identical results) and saved by rank 0 -
cheap, but pointless: train them in-process.

``--pipes``: rank 0 talks to a Dagster ``PipesSubprocessClient`` (logs, then one materialization
with epochs, best metric, seconds and world size); the other ranks stay silent.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from torch.distributed.elastic.multiprocessing.errors import record

from hybridrec_core.distributed import BACKENDS, DEFAULT_TIMEOUT_S, DistributedContext, init_distributed, shutdown
from hybridrec_core.errors import ConfigError
from hybridrec_core.interfaces import PluginKind
from hybridrec_core.plugins import get_plugin_manager

if TYPE_CHECKING:
    from hybridrec_core.api import PipelineConfig, TrainedModel

LOGGER = "hybridrec.train"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m hybridrec_core.distributed_train",
        description="Data-parallel training of the configured torch models (start it with torchrun).",
    )
    p.add_argument("--config", required=True, help="pipeline config (YAML/TOML/JSON) whose features are built")
    p.add_argument("--models", action="append", help="train only this model (repeatable; default: every configured model)")
    p.add_argument("--database", help="DuckDB file (default: the config's storage.database)")
    p.add_argument("--artifacts-dir", help="artifact folder (default: the config's storage.artifacts_dir)")
    p.add_argument(
        "--backend", choices=BACKENDS, default=os.environ.get("HYBRIDREC_DIST_BACKEND", "auto"),
        help="process-group backend; auto: NCCL on GPUs, gloo on CPUs (env HYBRIDREC_DIST_BACKEND)",
    )
    p.add_argument(
        "--timeout-s", type=float, default=float(os.environ.get("HYBRIDREC_DIST_TIMEOUT_S", DEFAULT_TIMEOUT_S)),
        help="seconds a collective may wait for the other ranks before the job fails "
        f"(default {DEFAULT_TIMEOUT_S:g}; env HYBRIDREC_DIST_TIMEOUT_S)",
    )
    p.add_argument(
        "--find-unused-parameters", action="store_true",
        help="DDP option for models whose steps leave some dense parameters unused",
    )
    p.add_argument("--progress", action="store_true", help="progress bar on rank 0")
    p.add_argument("--pipes", action="store_true", help="report logs and metadata to Dagster (dagster-pipes) from rank 0")
    return p


class _PipesLogHandler(logging.Handler):
    """Forwards the training logger's records to the Dagster run (rank 0 only)."""

    def __init__(self, pipes: Any) -> None:
        super().__init__(level=logging.INFO)
        self.pipes = pipes

    def emit(self, rec: logging.LogRecord) -> None:
        level = rec.levelname.lower()
        getattr(self.pipes.log, level if level in {"debug", "info", "warning", "error", "critical"} else "info")(
            self.format(rec)
        )


@contextlib.contextmanager
def _pipes_session(enabled: bool) -> Iterator[Any]:
    """``open_dagster_pipes()`` on rank 0 when asked; None elsewhere (one writer per message channel)."""
    if not enabled or os.environ.get("RANK", "0") != "0":
        yield None
        return
    from dagster_pipes import open_dagster_pipes

    with open_dagster_pipes() as pipes:
        yield pipes


def pipes_metadata(name: str, history: Any, artifact: Path | None, ctx: DistributedContext) -> dict[str, Any]:
    """What the child reports to Dagster: the facts only the training processes know."""
    meta: dict[str, Any] = {
        "model": {"raw_value": name, "type": "text"},
        "epochs": {"raw_value": len(history.epochs), "type": "int"},
        "training_seconds": {"raw_value": float(history.seconds), "type": "float"},
        "world_size": {"raw_value": ctx.world_size, "type": "int"},
        "backend": {"raw_value": ctx.backend, "type": "text"},
        "device": {"raw_value": str(history.device), "type": "text"},
        "data_parallel": {"raw_value": "world_size" in history.extra, "type": "bool"},
    }
    if history.best_metric is not None:
        meta["best_validation_metric"] = {"raw_value": float(history.best_metric), "type": "float"}
        meta["monitor"] = {"raw_value": str(history.monitor), "type": "text"}
    if history.best_epoch is not None:
        meta["best_epoch"] = {"raw_value": int(history.best_epoch), "type": "int"}
    if artifact is not None:
        meta["artifact"] = {"raw_value": str(artifact), "type": "path"}
    return meta


def split_by_data(cfg: PipelineConfig, names: Sequence[str]) -> tuple[list[str], list[str]]:
    """(models that train on this rank's shard, models that need the whole training split). Asked
    of configured instances, so a model may need the whole split only under some configs."""
    pm = get_plugin_manager()
    params = {m.name: m.params for m in cfg.models}
    whole = [n for n in names if pm.create(PluginKind.MODEL, n, params[n]).needs_whole_train]
    return [n for n in names if n not in whole], whole


def train_ranks(
    cfg: PipelineConfig, names: Sequence[str], ctx: DistributedContext, progress: bool, logger: logging.Logger
) -> dict[str, TrainedModel]:
    """Train ``names`` as this rank: on the shard, or on the whole split for models that need it."""
    from hybridrec_core import api

    sharded, whole = split_by_data(cfg, names)
    trained: dict[str, TrainedModel] = {}
    for group, shard in ((sharded, (ctx.rank, ctx.world_size)), (whole, None)):
        if not group:
            continue
        features = api.load_features(cfg, shard=shard)
        if shard is not None:
            logger.info(
                "rank %d read %d of %d training rows (%s)",
                ctx.rank, len(features.train), features.train_rows, features.train_shard.describe(),
            )
        trained.update(api.train(
            cfg, features, models=list(group), artifacts_dir=cfg.storage.artifacts_dir, progress=progress, distributed=ctx,
        ))
    return trained


def _configure_logging(rank: int, pipes: Any) -> logging.Logger:
    logger = logging.getLogger(LOGGER)
    logger.setLevel(logging.INFO if rank == 0 else logging.WARNING)
    fmt = logging.Formatter(f"[rank {rank}] %(levelname)s %(message)s")
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(fmt)
    logger.addHandler(stream)
    if pipes is not None:
        handler = _PipesLogHandler(pipes)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.propagate = False
    return logger


@record  # a failing rank's traceback goes into torchrun's summary, which names the rank
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from hybridrec_core import api

    with _pipes_session(args.pipes) as pipes:
        cfg = api.load_config(args.config)
        storage = {k: v for k, v in (("database", args.database), ("artifacts_dir", args.artifacts_dir)) if v}
        if storage:
            cfg = cfg.model_copy(update={"storage": cfg.storage.model_copy(update=storage)})
        cfg.validate_plugins()
        names = [m.name for m in cfg.models]
        unknown = sorted(set(args.models or []) - set(names))
        if unknown:
            raise ConfigError(f"--models {unknown} are not in the config's models {names}")
        selected = args.models or names
        if pipes is not None and len(selected) != 1:
            raise ConfigError(f"--pipes reports one asset: pass exactly one --models (got {selected})")
        ctx = init_distributed(args.backend, args.timeout_s, cfg.device, args.find_unused_parameters)
        logger = _configure_logging(ctx.rank, pipes)
        try:
            logger.info(
                "rank %d of %d on %s (%s backend, %gs collective timeout)",
                ctx.rank, ctx.world_size, ctx.device, ctx.backend, ctx.timeout_s,
            )
            trained = train_ranks(cfg, selected, ctx, args.progress and ctx.is_main, logger)
        finally:
            shutdown()
        if not ctx.is_main:
            return 0
        for name, t in trained.items():
            h = t.history
            if "world_size" not in h.extra:
                logger.warning("%s needs the whole training split: every rank fitted it whole", name)
            best = "" if h.best_metric is None else f", best {h.monitor}={h.best_metric:.4f} (epoch {h.best_epoch})"
            logger.info("trained %s in %.1fs, %d epochs, %d ranks%s: %s", name, h.seconds, len(h.epochs), ctx.world_size, best, t.artifact)
            print(f"trained {name} in {h.seconds:.1f}s on {ctx.world_size} x {h.device}{best}: {t.artifact}", flush=True)
            if pipes is not None:
                pipes.report_asset_materialization(metadata=pipes_metadata(name, h, t.artifact, ctx))
    return 0


if __name__ == "__main__":  # pragma: no cover - torchrun runs it as a module
    sys.exit(main())
