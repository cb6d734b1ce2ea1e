"""Built-in models (entry point `models` of the `hybridrec` group)."""

from hybridrec_core.hookspecs import Register, hookimpl


@hookimpl
def register_models(register: Register) -> None:
    """Register the built-in models."""
    from hybridrec_plugins.models.hybrid import HybridMusicRecommender
    from hybridrec_plugins.models.item_knn import ItemKNN
    from hybridrec_plugins.models.mf import ImplicitALS
    from hybridrec_plugins.models.popularity import Popularity

    register(Popularity)
    register(ItemKNN)
    register(ImplicitALS)
    register(HybridMusicRecommender)
