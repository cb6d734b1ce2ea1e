"""The plugin manager: loads the ``hybridrec`` entry-point group once, lazily, into a registry.

Environment:
- ``HYBRIDREC_LOAD_PLUGINS``: comma-separated entry-point names or distribution names to load
  (all others are skipped); empty string loads none.
- ``HYBRIDREC_STRICT_PLUGINS=1``: an entry point that fails to import raises instead of warning.
"""

from __future__ import annotations

import difflib
import importlib.metadata as md
import logging
import os
import threading
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Iterable

import pluggy

from hybridrec_core import hookspecs
from hybridrec_core.errors import (
    DuplicatePluginError,
    PluginError,
    PluginLoadError,
    UnknownPluginError,
)
from hybridrec_core.interfaces import KIND_BASES, Plugin, PluginKind

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = hookspecs.PROJECT
ENV_LOAD = "HYBRIDREC_LOAD_PLUGINS"
ENV_STRICT = "HYBRIDREC_STRICT_PLUGINS"


@dataclass(frozen=True)
class PluginInfo:
    """A registered plugin class and where it came from."""

    kind: PluginKind
    name: str
    cls: type[Plugin]
    distribution: str
    version: str
    entry_point: str

    @property
    def description(self) -> str:
        return (self.cls.description or (self.cls.__doc__ or "").strip().split("\n")[0]).strip()

    def as_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "kind": self.kind.value,
            "distribution": self.distribution,
            "version": self.version,
            "entry_point": self.entry_point,
            "description": self.description,
            "class": f"{self.cls.__module__}.{self.cls.__qualname__}",
        }


@dataclass(frozen=True)
class LoadFailure:
    entry_point: str
    distribution: str
    error: str


class PluginRegistry:
    """Plugins by kind and name. Filled by :class:`PluginManager`; usable on its own in tests."""

    def __init__(self) -> None:
        self._plugins: dict[PluginKind, dict[str, PluginInfo]] = {k: {} for k in PluginKind}

    def add(self, cls: type, *, distribution: str, version: str, entry_point: str) -> PluginInfo:
        kind = _kind_of(cls, entry_point, distribution)
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name.strip():
            raise PluginError(
                f"plugin class {cls.__qualname__} from entry point {entry_point!r} "
                f"(distribution {distribution}) has no 'name'"
            )
        existing = self._plugins[kind].get(name)
        if existing is not None and existing.cls is not cls:
            raise DuplicatePluginError(
                f"two {kind.value} plugins are named {name!r}: one from distribution "
                f"{existing.distribution!r} (entry point {existing.entry_point!r}, "
                f"{existing.cls.__module__}.{existing.cls.__qualname__}) and one from "
                f"distribution {distribution!r} (entry point {entry_point!r}, "
                f"{cls.__module__}.{cls.__qualname__}); uninstall one or restrict loading with "
                f"{ENV_LOAD}"
            )
        info = PluginInfo(kind, name, cls, distribution, version, entry_point)
        self._plugins[kind][name] = info
        return info

    def get(self, kind: PluginKind | str, name: str) -> PluginInfo:
        kind = PluginKind(kind)
        try:
            return self._plugins[kind][name]
        except KeyError:
            known = sorted(self._plugins[kind])
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UnknownPluginError(
                f"no {kind.value} plugin named {name!r}; known {kind.value} plugins: "
                f"{', '.join(known) or '(none)'}{hint}"
            ) from None

    def names(self, kind: PluginKind | str) -> list[str]:
        return sorted(self._plugins[PluginKind(kind)])

    def all(self, kind: PluginKind | str | None = None) -> list[PluginInfo]:
        kinds = [PluginKind(kind)] if kind else list(PluginKind)
        return [self._plugins[k][n] for k in kinds for n in sorted(self._plugins[k])]


def _kind_of(cls: Any, entry_point: str, distribution: str) -> PluginKind:
    if isinstance(cls, type):
        for kind, base in KIND_BASES.items():
            if issubclass(cls, base):
                return kind
    raise PluginError(
        f"entry point {entry_point!r} (distribution {distribution}) registered {cls!r}, which is "
        f"not a subclass of DataSource, FeatureEncoder, Model, Metric or ReRanker"
    )


class PluginManager:
    """One pluggy manager plus the registry it fills. Loading is lazy and happens once."""

    def __init__(self, *, strict: bool | None = None, only: Iterable[str] | None = None) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.registry = PluginRegistry()
        self.failures: list[LoadFailure] = []
        self._strict = strict
        self._only = only
        self._loaded = False
        self._lock = threading.RLock()
        self._sources: dict[str, tuple[str, str, str]] = {}  # pluggy name -> (ep, dist, version)

    # -- loading ---------------------------------------------------------------------------
    @property
    def strict(self) -> bool:
        if self._strict is not None:
            return self._strict
        return os.environ.get(ENV_STRICT, "").lower() in {"1", "true", "yes"}

    def _allowed(self) -> set[str] | None:
        if self._only is not None:
            return set(self._only)
        raw = os.environ.get(ENV_LOAD)
        if raw is None:
            return None
        return {p.strip() for p in raw.split(",") if p.strip()}

    def load(self) -> "PluginManager":
        """Import every entry point of the group (once) and collect registrations."""
        with self._lock:
            if self._loaded:
                return self
            allowed = self._allowed()
            for ep in md.entry_points(group=ENTRY_POINT_GROUP):
                dist = ep.dist.name if ep.dist is not None else "unknown"
                version = ep.dist.version if ep.dist is not None else "unknown"
                if allowed is not None and ep.name not in allowed and dist not in allowed:
                    continue
                try:
                    module = ep.load()
                except Exception as exc:  # noqa: BLE001 - any import failure is reported
                    self._fail(ep.name, dist, exc)
                    continue
                self.add_module(module, entry_point=ep.name, distribution=dist, version=version)
            self._loaded = True
            self.check_pending()
            self._collect()
            return self

    def add_module(
        self, module: ModuleType | object, *, entry_point: str, distribution: str, version: str = ""
    ) -> None:
        """Register a hook-implementing module (used for entry points and by tests)."""
        name = f"{distribution}:{entry_point}"
        if self.pm.has_plugin(name):
            return
        self.pm.register(module, name=name)
        self._sources[name] = (entry_point, distribution, version)
        if self._loaded:
            self.check_pending()
            self._collect(only=name)

    def _fail(self, entry_point: str, distribution: str, exc: BaseException) -> None:
        msg = (
            f"hybridrec plugin entry point {entry_point!r} from distribution {distribution!r} "
            f"failed to load: {type(exc).__name__}: {exc}"
        )
        if self.strict:
            raise PluginLoadError(msg) from exc
        log.warning(msg)
        self.failures.append(LoadFailure(entry_point, distribution, f"{type(exc).__name__}: {exc}"))

    def check_pending(self) -> None:
        """Fail loudly on hook implementations that match no spec (a misspelled hook)."""
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginLoadError(f"a hybridrec plugin implements an unknown hook: {exc}") from exc

    def _collect(self, only: str | None = None) -> None:
        for plugin_name, (ep, dist, version) in self._sources.items():
            if only is not None and plugin_name != only:
                continue
            module = self.pm.get_plugin(plugin_name)
            for hook_name in hookspecs.HOOK_FOR_KIND.values():
                impl = getattr(module, hook_name, None)
                if impl is None:
                    continue

                def register(cls: type, _ep: str = ep, _d: str = dist, _v: str = version) -> None:
                    self.registry.add(cls, distribution=_d, version=_v, entry_point=_ep)

                try:
                    impl(register=register)
                except PluginError:
                    raise
                except Exception as exc:  # noqa: BLE001
                    self._fail(ep, dist, exc)

    # -- lookup ----------------------------------------------------------------------------
    def get(self, kind: PluginKind | str, name: str) -> PluginInfo:
        return self.load().registry.get(kind, name)

    def create(self, kind: PluginKind | str, name: str, params: dict[str, Any] | None = None) -> Any:
        """Instantiate plugin ``name`` of ``kind`` with validated ``params``."""
        return self.get(kind, name).cls(params)

    def all(self, kind: PluginKind | str | None = None) -> list[PluginInfo]:
        return self.load().registry.all(kind)

    def names(self, kind: PluginKind | str) -> list[str]:
        return self.load().registry.names(kind)


_default: PluginManager | None = None
_default_lock = threading.Lock()


def get_plugin_manager() -> PluginManager:
    """The process-wide manager (created and loaded on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = PluginManager()
    return _default.load()


def reset_plugin_manager() -> None:
    """Forget the process-wide manager (tests, or after installing a plugin at runtime)."""
    global _default
    with _default_lock:
        _default = None


def create(kind: PluginKind | str, name: str, params: dict[str, Any] | None = None) -> Any:
    """Shortcut: ``create("model", "hybrid", {"embedding_dim": 32})``."""
    return get_plugin_manager().create(kind, name, params)
