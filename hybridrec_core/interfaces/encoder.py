"""Feature encoder plugins: fitted on the training split only, saved with the model."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

from typing_extensions import Self

from hybridrec_core.interfaces.base import Plugin, PluginKind
from hybridrec_core.state import State


class FeatureEncoder(Plugin):
    """Learns a transformation from training data and applies it to any split.

    ``role`` says which slot of the feature pipeline the encoder fills (``ids``, ``numeric``,
    ``genres``, ``text``, ``temporal``, ``strength``); the pipeline config picks one plugin per
    role. ``fit`` sees training data only; ``transform`` never refits.
    """

    kind: ClassVar[PluginKind] = PluginKind.ENCODER
    role: ClassVar[str]

    @abstractmethod
    def fit(self, data: Any) -> Self:
        """Learn statistics from training data; returns self."""

    @abstractmethod
    def transform(self, data: Any) -> Any:
        """Apply the fitted transformation (raises if not fitted)."""

    @property
    @abstractmethod
    def fitted(self) -> bool:
        """Whether :meth:`fit` (or :meth:`from_state`) has run."""

    @abstractmethod
    def get_state(self) -> State:
        """Fitted statistics as JSON metadata + arrays (no pickle)."""

    @classmethod
    @abstractmethod
    def from_state(cls, state: State, config: Any = None) -> Self:
        """Rebuild a fitted encoder from :meth:`get_state` output."""
