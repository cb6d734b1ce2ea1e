"""Built-in re-rankers (entry point `rerankers` of the `hybridrec` group)."""

from hybridrec_core.hookspecs import Register, hookimpl
from hybridrec_plugins.rerankers.explicit_filter import ExplicitFilter
from hybridrec_plugins.rerankers.genre_balance import GenreBalance
from hybridrec_plugins.rerankers.mmr_diversity import MMRDiversity
from hybridrec_plugins.rerankers.popularity import PopularityRerank

__all__ = ["ExplicitFilter", "GenreBalance", "MMRDiversity", "PopularityRerank"]


@hookimpl
def register_rerankers(register: Register) -> None:
    """Register the built-in re-rankers."""
    for cls in (MMRDiversity, GenreBalance, ExplicitFilter, PopularityRerank):
        register(cls)
