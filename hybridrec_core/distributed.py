"""Data-parallel training across processes with ``torch.distributed`` (one rank per process).

``torchrun`` starts the processes; :func:`init_distributed` joins the process group and
:func:`hybridrec_core.training.fit_module` switches to :class:`DataParallel` when its
``FitContext.distributed`` is set. Design, and why:

- **Sharding.** ``batch_size`` stays the *global* batch: every epoch takes
  ``ceil(global training rows / batch_size)`` steps at any world size (fewer only where a rank's
  share of a step would fall under the two rows BatchNorm needs). Two ways to feed the ranks:

  * *Each rank reads its shard* (``FitContext.train_shard`` set; what the torchrun entry point
    does): ``load_features(shard=(rank, W))`` gives a rank only the training rows of the users
    with ``user_idx % W == rank``. The ranks all-gather their row counts once; each epoch every
    rank shuffles its own rows with a (seed, epoch, rank) permutation and cuts them into the same
    number of steps (:func:`shard_step_cuts`), so every rank covers its shard once per epoch and
    none sits a step out (DDP collectives need every rank). Shards need not be equal: each rank's
    mean loss is scaled by ``W * local batch / global batch``, so the averaged gradient is the
    mean over the global batch.
  * *Whole split on every rank* (no ``train_shard``, e.g. ``api.train(..., distributed=ctx)`` with
    a whole FeatureSet): every rank draws the same permutation and takes its contiguous share of
    each global batch, so one step of W ranks sees exactly the samples one process would.

  What still differs from one process: which rows share a step (per-rank shuffles of per-user
  shards), negative sampling / id masking / dropout random streams (per rank), BatchNorm batch
  statistics (per-rank batches) and float reduction order - so results agree statistically, not
  bit for bit (see ``docs/distributed.md`` for the measured tolerance).
- **Dense parameters** go through :class:`~torch.nn.parallel.DistributedDataParallel` (bucketed
  all-reduce overlapped with backward). The model's loss closure is wrapped in a module so its
  forward runs inside DDP (DDP only arms its gradient hooks in its own ``forward``).
- **Sparse embedding tables** (``sparse=True``, stepped by SparseAdam) are kept out of DDP and
  their gradients are all-gathered here as (row index, row gradient) pairs, then averaged. NCCL
  has no sparse all-reduce, and falling back to dense embedding gradients would make every step
  move O(vocabulary x dim) bytes instead of O(batch x dim); the all-gather works the same on gloo
  and NCCL, so the CPU tests exercise the exact code path GPUs run.
- **Agreement.** Rank 0 validates and broadcasts the epoch record, so the LR schedule, early
  stopping and the restored best epoch are the same on every rank. Persistent floating-point
  buffers (BatchNorm running statistics) are averaged once per epoch, so all ranks hold identical
  weights; non-persistent buffers (constant lookup tables) are never communicated. Only rank 0
  writes checkpoints and artifacts.
- **Failure.** A rank that raises exits non-zero; torchrun then stops the other ranks and prints
  the failing rank's error (the entry point is decorated with ``@record``). A rank that hangs is
  caught by the process-group ``timeout``: the other ranks' next collective fails after
  ``timeout_s`` and the error says which rank saw it.

Test hook: ``HYBRIDREC_FAIL_RANK=<rank>`` makes that rank fail after epoch
``HYBRIDREC_FAIL_EPOCH`` (default 0) of the training engine; ``HYBRIDREC_FAIL_MODE=raise``
(default) raises, ``hang`` sleeps until killed (exercises the timeout). Never set them in production.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from hybridrec_core.errors import ConfigError, HybridrecError
from hybridrec_core.seeding import make_generator

DEFAULT_TIMEOUT_S = 600.0
BACKENDS = ("auto", "gloo", "nccl")
FAIL_RANK_ENV = "HYBRIDREC_FAIL_RANK"
FAIL_EPOCH_ENV = "HYBRIDREC_FAIL_EPOCH"
FAIL_MODE_ENV = "HYBRIDREC_FAIL_MODE"


class DistributedTrainingError(HybridrecError):
    """Training failed on this rank; the message names the rank (and the cause stays chained)."""


@dataclass(frozen=True)
class DistributedContext:
    """This process's place in the job: what the training engine needs to act as one rank."""

    rank: int
    world_size: int
    local_rank: int
    backend: str
    device: torch.device
    timeout_s: float = DEFAULT_TIMEOUT_S
    find_unused_parameters: bool = False  # DDP option for models that skip dense parameters in a step

    @property
    def is_main(self) -> bool:
        """Rank 0 validates, logs, and writes checkpoints and artifacts."""
        return self.rank == 0


def _env_int(name: str) -> int | None:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else None


def rank_device(spec: str, local_rank: int) -> torch.device:
    """The device of this rank: ``cuda:<LOCAL_RANK>`` for ``auto``/``cuda`` when CUDA exists, else CPU.

    An explicit ``cuda:N`` is refused: every rank would share that one GPU (NCCL forbids it)."""
    text = (spec or "auto").strip().lower()
    if text.startswith("cuda:"):
        raise ConfigError(
            f"device {spec!r}: distributed training gives each rank cuda:<LOCAL_RANK>; use 'auto' or 'cuda' "
            "(and CUDA_VISIBLE_DEVICES to choose the GPUs)"
        )
    if text in ("auto", "cuda") and torch.cuda.is_available():
        if local_rank >= torch.cuda.device_count():
            raise ConfigError(
                f"local rank {local_rank} has no GPU: {torch.cuda.device_count()} visible; "
                "start at most one process per GPU (--nproc-per-node)"
            )
        return torch.device("cuda", local_rank)
    if text == "cuda":
        raise ConfigError("device 'cuda' requested but CUDA is not available (use 'auto' or 'cpu')")
    if text not in ("auto", "cpu"):
        raise ConfigError(f"device {spec!r} is not one of 'auto', 'cpu', 'cuda'")
    return torch.device("cpu")


def resolve_backend(spec: str, device: torch.device) -> str:
    """``auto``: NCCL for CUDA devices, gloo for CPUs. NCCL on a CPU device is refused."""
    if spec not in BACKENDS:
        raise ConfigError(f"backend {spec!r} is not one of {list(BACKENDS)}")
    if spec == "auto":
        return "nccl" if device.type == "cuda" and dist.is_nccl_available() else "gloo"
    if spec == "nccl" and device.type != "cuda":
        raise ConfigError("backend 'nccl' needs CUDA devices; use 'gloo' (or 'auto') for CPU training")
    return spec


def init_distributed(
    backend: str = "auto",
    timeout_s: float = DEFAULT_TIMEOUT_S,
    device: str = "auto",
    find_unused_parameters: bool = False,
) -> DistributedContext:
    """Join the process group described by torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK,
    MASTER_ADDR/PORT). ``timeout_s`` bounds every collective, so a dead or stuck rank ends the
    job with an error instead of a hang."""
    rank, world = _env_int("RANK"), _env_int("WORLD_SIZE")
    if rank is None or world is None:
        raise ConfigError(
            "RANK/WORLD_SIZE are not set: start distributed training with torchrun, e.g. "
            "`torchrun --standalone --nproc-per-node 2 -m hybridrec_core.distributed_train --config pipeline.yaml`"
        )
    if timeout_s <= 0:
        raise ConfigError(f"timeout_s must be > 0, got {timeout_s}")
    local_rank = _env_int("LOCAL_RANK") or 0
    dev = rank_device(device, local_rank)
    name = resolve_backend(backend, dev)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group(
            backend=name, timeout=timedelta(seconds=timeout_s), device_id=dev if dev.type == "cuda" else None
        )
    return DistributedContext(
        rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local_rank, backend=name,
        device=dev, timeout_s=float(timeout_s), find_unused_parameters=find_unused_parameters,
    )


def shutdown() -> None:
    """Leave the process group (idempotent)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def derive_seed(seed: int, epoch: int, stream: int) -> int:
    """A 63-bit seed for (seed, epoch, stream): per-epoch streams make a resumed run draw what an
    uninterrupted one would, without saving every rank's generator state."""
    state = np.random.SeedSequence([seed % (1 << 63), epoch, stream]).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1]))


def shard_bounds(m: int, world: int, rank: int) -> tuple[int, int]:
    """This rank's [lo, hi) of a global batch of ``m`` samples (sizes differ by at most one)."""
    base, extra = divmod(m, world)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (1 if rank < extra else 0)


def shard_step_cuts(rank_samples: Sequence[int], batch_size: int) -> np.ndarray:
    """Row offsets ``(steps + 1, world)`` of one epoch over per-rank shards: at step ``s`` rank
    ``r`` trains on rows ``[cuts[s, r], cuts[s + 1, r])`` of its own shuffled shard.

    ``steps = ceil(sum(rank_samples) / batch_size)``, so the global batch means what it means on
    one process; capped at half the smallest shard, so that every rank has at least two rows at
    every step (BatchNorm) and no rank ever sits a step out (DDP collectives need every rank).
    A rank's step sizes differ by at most one, and its cuts cover its shard exactly once."""
    counts = np.asarray(rank_samples, dtype=np.int64)
    if counts.ndim != 1 or counts.size == 0 or int(counts.min()) < 2:
        raise ValueError(f"every rank needs at least two training samples, got {counts.tolist()}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    steps = max(1, min(math.ceil(int(counts.sum()) / batch_size), int(counts.min()) // 2))
    return np.arange(steps + 1, dtype=np.int64)[:, None] * counts[None, :] // steps


def maybe_inject_failure(rank: int, epoch: int) -> None:
    """Test hook (see the module docstring): fail this rank after ``epoch`` when asked to."""
    target = _env_int(FAIL_RANK_ENV)
    if target is None or target != rank or epoch != (_env_int(FAIL_EPOCH_ENV) or 0):
        return
    if os.environ.get(FAIL_MODE_ENV, "raise") == "hang":
        time.sleep(24 * 3600)  # the others' collectives time out; torchrun then kills this process
    raise RuntimeError(f"injected failure after epoch {epoch} ({FAIL_RANK_ENV}={target} test hook)")


_COLLECTIVE_HINTS = ("gloo", "nccl", "connection closed", "timed out", "timeout", "collective", "peer")


def _looks_like_collective(exc: BaseException) -> bool:
    """Communication failures surface as DistError or as plain RuntimeErrors from the DDP reducer."""
    text = str(exc).lower()
    return isinstance(exc, dist.DistError) or any(h in text for h in _COLLECTIVE_HINTS)


class _LossModule(nn.Module):
    """Runs a model's ``batch_loss`` closure as ``forward`` so DDP sees (and syncs) the step."""

    def __init__(self, net: nn.Module, batch_loss: Callable[[torch.Tensor, torch.Generator], torch.Tensor]) -> None:
        super().__init__()
        self.net = net
        self._batch_loss = batch_loss

    def forward(self, idx: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        return self._batch_loss(idx, gen)


class DataParallel:
    """One rank's side of data-parallel training, used by ``fit_module`` (see the module docstring)."""

    def __init__(
        self,
        ctx: DistributedContext,
        module: nn.Module,
        batch_loss: Callable[[torch.Tensor, torch.Generator], torch.Tensor],
        sparse_params: Sequence[nn.Parameter],
        n_samples: int,
        seed: int,
        sharded: bool = False,
    ) -> None:
        """``n_samples``: the samples this rank holds (its shard's when ``sharded``, else the whole
        split, which every rank must then hold alike)."""
        if not dist.is_initialized():
            raise DistributedTrainingError("FitContext.distributed is set but no process group is initialized")
        self.ctx = ctx
        self.seed = seed
        self.device = ctx.device
        self.sharded = sharded
        self.rank_samples = self._gather_samples(n_samples)
        self._check_samples()
        self.sparse = list(sparse_params)
        self._widths = [math.prod(p.shape[1:]) for p in self.sparse]  # floats per embedding row
        sparse_ids = {id(p) for p in self.sparse}
        wrapper = _LossModule(module, batch_loss)
        state_keys = set(module.state_dict())
        ignore = [f"net.{name}" for name, p in module.named_parameters() if id(p) in sparse_ids]
        non_persistent = [f"net.{name}" for name, _ in module.named_buffers() if name not in state_keys]
        nn.parallel.DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(
            wrapper, ignore + non_persistent
        )
        self._broadcast(self.sparse)  # DDP broadcasts the rest from rank 0 when it is built
        has_dense = any(p.requires_grad and id(p) not in sparse_ids for p in module.parameters())
        ddp = nn.parallel.DistributedDataParallel
        # Buffers are averaged once per epoch instead of broadcast every forward (average_buffers).
        no_buffer_sync = (
            {"forward_sync_buffers": False}
            if "forward_sync_buffers" in inspect.signature(ddp.__init__).parameters
            else {"broadcast_buffers": False}
        )
        self._ddp: nn.Module | None = (
            ddp(
                wrapper,
                device_ids=[ctx.device] if ctx.device.type == "cuda" else None,
                find_unused_parameters=ctx.find_unused_parameters,
                **no_buffer_sync,
            )
            if has_dense
            else None
        )
        self._wrapper = wrapper
        self._buffers = [b for name, b in module.named_buffers() if name in state_keys and b.is_floating_point()]

    @property
    def is_main(self) -> bool:
        return self.ctx.is_main

    @staticmethod
    def _broadcast(tensors: Sequence[torch.Tensor]) -> None:
        """Copy rank 0's values into every rank's tensors (the tables DDP does not manage)."""
        with torch.no_grad():
            for t in tensors:
                dist.broadcast(t.data, src=0)

    # -- data --------------------------------------------------------------------------------
    def _gather_samples(self, n_samples: int) -> list[int]:
        """Every rank's ``n_samples`` (one all-gather), so each rank can plan every rank's batches."""
        local = torch.tensor([n_samples], dtype=torch.long, device=self.device)
        got = [torch.empty_like(local) for _ in range(self.ctx.world_size)]
        dist.all_gather(got, local)
        return [int(v) for v in torch.cat(got).tolist()]

    def _check_samples(self) -> None:
        """Refuse data no step could train on, before any rank starts an epoch (every rank sees
        the same counts, so every rank raises the same error)."""
        counts, world = self.rank_samples, self.ctx.world_size
        if self.sharded:
            small = [r for r, c in enumerate(counts) if c < 2]
            if small:
                raise DistributedTrainingError(
                    f"rank {self.ctx.rank}: ranks {small} hold fewer than two training samples of their shard "
                    f"(samples per rank: {counts}); use fewer ranks"
                )
            return
        if len(set(counts)) != 1:
            raise DistributedTrainingError(
                f"rank {self.ctx.rank}: ranks hold different training sets (samples per rank: {counts}) but the "
                "FeatureSet is not marked as a shard; load the whole split on every rank, or "
                "load_features(..., shard=(rank, world_size)) on each"
            )
        if counts[0] < 2 * world:
            raise ValueError(f"{counts[0]} training samples cannot give {world} ranks two samples each")

    @property
    def global_samples(self) -> int:
        """Training samples of the whole job: the shards' sum, or the one split every rank holds."""
        return sum(self.rank_samples) if self.sharded else self.rank_samples[0]

    def steps_per_epoch(self, batch_size: int) -> int:
        """Steps every rank takes per epoch: ``ceil(global samples / batch_size)`` (with shards,
        capped as :func:`shard_step_cuts` explains)."""
        if self.sharded:
            return len(shard_step_cuts(self.rank_samples, batch_size)) - 1
        return max(1, math.ceil(self.global_samples / batch_size))

    def epoch_batches(self, epoch: int, batch_size: int) -> tuple[Iterator[tuple[torch.Tensor, float]], torch.Generator]:
        """(this rank's batches of ``epoch`` as (sample indices, loss scale) pairs, this rank's
        sampling generator); also reseeds torch's global RNG per rank so dropout masks differ.

        The loss scale is ``world_size * local batch / global batch``: scaling each rank's mean loss
        by it makes the gradient average over ranks the mean over the global batch, even when the
        ranks' shares of a step differ in size."""
        rank, world = self.ctx.rank, self.ctx.world_size
        sample_gen = make_generator(derive_seed(self.seed, epoch, 1 + rank), self.device)
        torch.manual_seed(derive_seed(self.seed, epoch, 1 + world + rank))
        batches = self._shard_batches(epoch, batch_size) if self.sharded else self._shared_batches(epoch, batch_size)
        return batches, sample_gen

    def _shared_batches(self, epoch: int, batch_size: int) -> Iterator[tuple[torch.Tensor, float]]:
        """Whole split on every rank: one permutation shared by all ranks, and this rank's
        contiguous share of each global batch. A step whose shares fall under two samples is
        skipped on every rank (BatchNorm cannot train on one; the rule only uses sizes all ranks
        know), except the first, so an epoch always trains."""
        n, world = self.global_samples, self.ctx.world_size
        perm = torch.randperm(n, generator=make_generator(derive_seed(self.seed, epoch, 0), self.device), device=self.device)
        for step, lo in enumerate(range(0, n, batch_size)):
            m = min(batch_size, n - lo)
            if m // world < 2 and step > 0:
                continue
            a, b = shard_bounds(m, world, self.ctx.rank)
            yield perm[lo + a : lo + b], world * (b - a) / m

    def _shard_batches(self, epoch: int, batch_size: int) -> Iterator[tuple[torch.Tensor, float]]:
        """A shard per rank: this rank's own rows in its own (seed, epoch, rank) order, cut into the
        agreed number of steps with sizes that differ by at most one, so no rank runs out of rows
        while the others still need it in their collectives."""
        rank, world = self.ctx.rank, self.ctx.world_size
        cuts = shard_step_cuts(self.rank_samples, batch_size)
        sizes = np.diff(cuts, axis=0)
        scales = (world * sizes[:, rank] / sizes.sum(axis=1)).tolist()
        gen = make_generator(derive_seed(self.seed, epoch, 1 + 2 * world + rank), self.device)
        perm = torch.randperm(self.rank_samples[rank], generator=gen, device=self.device)
        bounds = cuts[:, rank].tolist()
        for step in range(len(bounds) - 1):
            yield perm[bounds[step] : bounds[step + 1]], scales[step]

    def loss(self, idx: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """The model's loss on this rank's share, through DDP when there are dense parameters."""
        return (self._ddp if self._ddp is not None else self._wrapper)(idx, gen)

    # -- gradients ---------------------------------------------------------------------------
    def sync_sparse_grads(self) -> None:
        """Average the sparse embedding gradients over ranks by all-gathering (row, grad) pairs.

        Three collectives per step whatever the number of tables: row counts, then the padded row
        indices and the padded flattened values of every table at once."""
        if not self.sparse:
            return
        world = self.ctx.world_size
        rows: list[torch.Tensor] = []
        values: list[torch.Tensor] = []
        for p in self.sparse:
            g = p.grad
            if g is None:
                rows.append(torch.zeros(0, dtype=torch.long, device=self.device))
                values.append(torch.zeros(0, dtype=torch.float32, device=self.device))
                continue
            if not g.is_sparse:
                raise DistributedTrainingError(f"parameter of shape {tuple(p.shape)} was expected to get a sparse gradient")
            g = g.coalesce()
            rows.append(g.indices()[0])
            values.append(g.values().float().reshape(-1))
        counts = torch.tensor([r.numel() for r in rows], dtype=torch.long, device=self.device)
        all_counts = [torch.empty_like(counts) for _ in range(world)]
        dist.all_gather(all_counts, counts)
        count_mat = torch.stack(all_counts).tolist()  # (world, tables), one device->host copy
        if not any(map(any, count_mat)):
            for p in self.sparse:
                p.grad = None
            return
        widths = self._widths
        row_pad = max(sum(c) for c in count_mat)
        val_pad = max(sum(c * w for c, w in zip(cs, widths)) for cs in count_mat)
        flat_rows = torch.zeros(row_pad, dtype=torch.long, device=self.device)
        flat_vals = torch.zeros(val_pad, dtype=torch.float32, device=self.device)
        r_cat, v_cat = torch.cat(rows), torch.cat(values)
        flat_rows[: r_cat.numel()] = r_cat
        flat_vals[: v_cat.numel()] = v_cat
        got_rows = [torch.empty_like(flat_rows) for _ in range(world)]
        got_vals = [torch.empty_like(flat_vals) for _ in range(world)]
        dist.all_gather(got_rows, flat_rows)
        dist.all_gather(got_vals, flat_vals)
        per_table_rows: list[list[torch.Tensor]] = [[] for _ in self.sparse]
        per_table_vals: list[list[torch.Tensor]] = [[] for _ in self.sparse]
        for r in range(world):
            ro = vo = 0
            for t, p in enumerate(self.sparse):
                c, w = count_mat[r][t], widths[t]
                per_table_rows[t].append(got_rows[r][ro : ro + c])
                per_table_vals[t].append(got_vals[r][vo : vo + c * w].reshape(c, *p.shape[1:]))
                ro, vo = ro + c, vo + c * w
        for t, p in enumerate(self.sparse):
            idx = torch.cat(per_table_rows[t]).unsqueeze(0)
            val = torch.cat(per_table_vals[t]).div_(world).to(p.dtype)
            # Uncoalesced on purpose: SparseAdam coalesces (sums rows seen by several ranks).
            p.grad = torch.sparse_coo_tensor(idx, val, p.shape, device=self.device, check_invariants=False)

    # -- agreement ---------------------------------------------------------------------------
    def reduce_loss(self, total: torch.Tensor, seen: int) -> tuple[torch.Tensor, int]:
        """Summed loss and sample count over every rank (the epoch's training loss)."""
        buf = torch.stack([total.detach().double(), torch.tensor(float(seen), dtype=torch.float64, device=total.device)])
        dist.all_reduce(buf)
        return buf[0].to(total.dtype), int(buf[1].item())

    def average_buffers(self) -> None:
        """Average BatchNorm running statistics (persistent float buffers) over ranks."""
        if not self._buffers:
            return
        flat = torch.cat([b.detach().reshape(-1).double() for b in self._buffers])
        dist.all_reduce(flat)
        flat /= self.ctx.world_size
        offset = 0
        with torch.no_grad():
            for b in self._buffers:
                b.copy_(flat[offset : offset + b.numel()].reshape(b.shape))
                offset += b.numel()

    def agree(self, record: dict[str, float]) -> dict[str, float]:
        """Rank 0's epoch record (validation metrics included) on every rank."""
        box: list[Any] = [record if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return dict(box[0])

    def agree_start(self, start_epoch: int) -> None:
        """Every rank must resume from the same checkpoint epoch (a shared checkpoint folder)."""
        t = torch.tensor([start_epoch, -start_epoch], dtype=torch.long, device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        if int(t[0]) != -int(t[1]):
            raise DistributedTrainingError(
                f"rank {self.ctx.rank}: ranks would resume from different epochs ({-int(t[1])}..{int(t[0])}); "
                "the checkpoint folder must be shared by every rank"
            )

    def explain(self, exc: BaseException, epoch: int) -> DistributedTrainingError:
        """The error of this rank, reworded to name the rank and, for a failed collective, what
        that usually means (the original stays chained as ``__cause__``)."""
        head = f"rank {self.ctx.rank} of {self.ctx.world_size} failed at epoch {epoch}: {exc}"
        if not _looks_like_collective(exc):
            return DistributedTrainingError(head)
        return DistributedTrainingError(
            f"{head}. A collective failed: another rank died, hung for longer than the "
            f"{self.ctx.timeout_s:g}s process-group timeout, or lost its connection; "
            "torchrun's summary names the rank that failed first."
        )

    def close(self) -> None:
        """Drop the DDP wrapper (and its gradient hooks) once training is over."""
        self._ddp = None


def torchrun_command(
    config_path: str | os.PathLike[str],
    world_size: int,
    models: Sequence[str] | None = None,
    backend: str = "auto",
    timeout_s: float = DEFAULT_TIMEOUT_S,
    extra: Sequence[str] = (),
) -> list[str]:
    """``python -m torch.distributed.run`` (= torchrun, without relying on PATH) for one machine
    with ``world_size`` ranks running :mod:`hybridrec_core.distributed_train`."""
    if world_size < 1:
        raise ConfigError(f"world_size must be >= 1, got {world_size}")
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
        "--nproc-per-node", str(world_size), "-m", "hybridrec_core.distributed_train",
        "--config", str(config_path), "--backend", backend, "--timeout-s", f"{timeout_s:g}",
    ]
    for name in models or ():
        cmd += ["--models", name]
    return [*cmd, *extra]


def root_cause(error_file: str | os.PathLike[str]) -> str | None:
    """The first failure's message from the error file torchrun writes when the launcher's
    ``TORCHELASTIC_ERROR_FILE`` is set (it copies the failing rank's ``@record`` error there)."""
    path = Path(error_file)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    message = data.get("message") if isinstance(data, dict) else None
    if isinstance(message, dict):
        message = message.get("message")
    return str(message).strip() or None if message else None
