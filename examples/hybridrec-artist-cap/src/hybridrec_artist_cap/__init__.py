"""Example third-party hybridrec plugins. hybridrec imports this module through the entry point
``artist_cap`` of the ``hybridrec`` group and calls the two hooks below."""

from hybridrec_core.hookspecs import Register, hookimpl

from hybridrec_artist_cap.metric import ArtistDiversity
from hybridrec_artist_cap.reranker import ArtistCap

__all__ = ["ArtistCap", "ArtistDiversity"]


@hookimpl
def register_rerankers(register: Register) -> None:
    register(ArtistCap)


@hookimpl
def register_metrics(register: Register) -> None:
    register(ArtistDiversity)
