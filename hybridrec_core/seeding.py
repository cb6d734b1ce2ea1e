"""One place that seeds every RNG we use, so the same config and data give the same numbers."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int, deterministic: bool = False) -> torch.Generator:
    """Seed Python, numpy and torch (CPU + CUDA); return a CPU generator for sampling.

    ``deterministic`` additionally asks torch for deterministic kernels (slower on GPU, and
    errors on ops that have none), for runs that must be bit-reproducible across restarts.
    """
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen


def make_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A seeded generator on ``device`` (sampling on the training device keeps data there)."""
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return gen
