"""A plugin's saved state: JSON-able metadata plus named numeric arrays. Never pickled."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class State:
    """What encoders and models persist. ``meta`` must be JSON-serializable; ``arrays`` hold
    numpy arrays (or CPU torch tensors) and are written as safetensors / npz."""

    meta: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
