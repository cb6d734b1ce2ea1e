"""The common shape of every plugin: a name, a kind, a description and a pydantic config."""

from __future__ import annotations

from abc import ABC
from enum import Enum
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from hybridrec_core.errors import PluginConfigError


class PluginKind(str, Enum):
    """The five kinds of plugin; each has one ``register_<kind>s`` hook."""

    SOURCE = "source"
    ENCODER = "encoder"
    MODEL = "model"
    METRIC = "metric"
    RERANKER = "reranker"


class PluginConfig(BaseModel):
    """Base of every plugin config.

    Unknown keys are rejected (a typo must not silently fall back to a default), values are
    validated on assignment, and the config round-trips through JSON.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


ConfigT = TypeVar("ConfigT", bound=PluginConfig)


class Plugin(ABC, Generic[ConfigT]):
    """A named, configurable component. Subclasses set the class variables below.

    Plugins are registered as *classes*; the framework instantiates them with a validated config.
    """

    name: ClassVar[str]
    kind: ClassVar[PluginKind]
    description: ClassVar[str] = ""
    Config: ClassVar[type[PluginConfig]] = PluginConfig

    def __init__(self, config: ConfigT | dict[str, Any] | None = None) -> None:
        self.config: ConfigT = self.make_config(config)  # type: ignore[assignment]

    @classmethod
    def make_config(cls, params: PluginConfig | dict[str, Any] | None = None) -> PluginConfig:
        """Validate ``params`` into this plugin's config; errors name the plugin and field."""
        if isinstance(params, cls.Config):
            return params
        if isinstance(params, PluginConfig):
            params = params.model_dump()
        try:
            return cls.Config.model_validate(params or {})
        except ValidationError as exc:
            raise PluginConfigError(
                f"invalid config for {cls.kind.value} plugin {cls.name!r}:\n{exc}"
            ) from exc

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"
