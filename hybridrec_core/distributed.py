"""Data-parallel training across processes with ``torch.distributed`` (one rank per process).

``torchrun`` starts the processes; :func:`init_distributed` joins the process group and
:func:`hybridrec_core.training.fit_module` switches to :class:`DataParallel` when its
``FitContext.distributed`` is set. Design, and why:

- **Sharding.** ``batch_size`` stays the *global* batch: every rank draws the same seeded
  permutation each epoch and takes its contiguous share of each global batch, so one step of W
  ranks sees the same samples as one step of a single process with the same ``batch_size``, and
  an epoch's shards are disjoint and cover the training split. What still differs from one
  process: negative sampling / id masking / dropout random streams (per rank), BatchNorm batch
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
from typing import Any, Callable, Sequence

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
    ) -> None:
        if not dist.is_initialized():
            raise DistributedTrainingError("FitContext.distributed is set but no process group is initialized")
        if n_samples < 2 * ctx.world_size:
            raise ValueError(f"{n_samples} training samples cannot give {ctx.world_size} ranks two samples each")
        self.ctx = ctx
        self.seed = seed
        self.device = ctx.device
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
    def epoch_streams(self, epoch: int, n: int) -> tuple[torch.Tensor, torch.Generator]:
        """(permutation shared by every rank, this rank's sampling generator) for ``epoch``; also
        reseeds torch's global RNG per rank so dropout masks differ across ranks."""
        perm_gen = make_generator(derive_seed(self.seed, epoch, 0), self.device)
        perm = torch.randperm(n, generator=perm_gen, device=self.device)
        rank = self.ctx.rank
        sample_gen = make_generator(derive_seed(self.seed, epoch, 1 + rank), self.device)
        torch.manual_seed(derive_seed(self.seed, epoch, 1 + self.ctx.world_size + rank))
        return perm, sample_gen

    def shard(self, batch: torch.Tensor, first: bool) -> torch.Tensor | None:
        """This rank's share of a global batch, or None when the step is skipped on every rank
        (a share under two samples cannot train BatchNorm; the rule only uses sizes all ranks know)."""
        m = batch.numel()
        if m // self.ctx.world_size < 2 and not first:
            return None
        lo, hi = shard_bounds(m, self.ctx.world_size, self.ctx.rank)
        return batch[lo:hi]

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
