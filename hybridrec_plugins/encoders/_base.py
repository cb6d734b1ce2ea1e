"""What every built-in encoder shares: the fitted flag, state packing and the not-fitted error."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from typing_extensions import Self

from hybridrec_core.errors import HybridrecError
from hybridrec_core.interfaces import FeatureEncoder
from hybridrec_core.state import State


class EncoderNotFittedError(HybridrecError, RuntimeError):
    """transform() was called before fit() / from_state()."""


class BaseEncoder(FeatureEncoder):
    """Subclasses implement ``_fit``, ``_transform``, ``_meta``/``_arrays`` and ``_load``."""

    role: ClassVar[str]

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self._fitted = False

    @property
    def fitted(self) -> bool:
        return self._fitted

    def _check(self) -> None:
        if not self._fitted:
            raise EncoderNotFittedError(f"encoder {self.name!r} (role {self.role!r}) is not fitted: call fit() first")

    def _done(self) -> Self:
        self._fitted = True
        return self

    def get_state(self) -> State:
        self._check()
        meta = {"encoder": self.name, "role": self.role, "config": self.config.model_dump(mode="json"), **self._meta()}
        return State(meta=meta, arrays={k: np.asarray(v) for k, v in self._arrays().items()})

    @classmethod
    def from_state(cls, state: State, config: Any = None) -> Self:
        if state.meta.get("encoder") not in (None, cls.name):
            raise HybridrecError(f"state of encoder {state.meta.get('encoder')!r} cannot be loaded by {cls.name!r}")
        enc = cls(config if config is not None else state.meta.get("config"))
        enc._load(state)
        return enc._done()

    def _meta(self) -> dict[str, Any]:
        return {}

    def _arrays(self) -> dict[str, np.ndarray]:
        return {}

    def _load(self, state: State) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

