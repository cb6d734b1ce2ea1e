"""pluggy hook specifications for the ``hybridrec`` project.

A plugin module implements one or more of these hooks and calls ``register`` with each plugin
*class* it provides::

    from hybridrec_core.hookspecs import hookimpl

    @hookimpl
    def register_rerankers(register):
        register(ArtistCap)
"""

from __future__ import annotations

from typing import Callable

from pluggy import HookimplMarker, HookspecMarker

PROJECT = "hybridrec"
hookspec = HookspecMarker(PROJECT)
hookimpl = HookimplMarker(PROJECT)

Register = Callable[[type], None]


@hookspec
def register_sources(register: Register) -> None:
    """Register :class:`~hybridrec_core.interfaces.DataSource` subclasses."""


@hookspec
def register_encoders(register: Register) -> None:
    """Register :class:`~hybridrec_core.interfaces.FeatureEncoder` subclasses."""


@hookspec
def register_models(register: Register) -> None:
    """Register :class:`~hybridrec_core.interfaces.Model` subclasses."""


@hookspec
def register_metrics(register: Register) -> None:
    """Register :class:`~hybridrec_core.interfaces.Metric` subclasses."""


@hookspec
def register_rerankers(register: Register) -> None:
    """Register :class:`~hybridrec_core.interfaces.ReRanker` subclasses."""


HOOK_FOR_KIND: dict[str, str] = {
    "source": "register_sources",
    "encoder": "register_encoders",
    "model": "register_models",
    "metric": "register_metrics",
    "reranker": "register_rerankers",
}
