"""Built-in encoders (entry point `encoders` of the `hybridrec` group)."""

from hybridrec_core.hookspecs import Register, hookimpl
from hybridrec_plugins.encoders.id_index import IdIndexEncoder
from hybridrec_plugins.encoders.log_strength import LogStrength
from hybridrec_plugins.encoders.multi_hot_genres import MultiHotGenres
from hybridrec_plugins.encoders.standard_scaler import StandardScalerEncoder
from hybridrec_plugins.encoders.temporal import TemporalEncoder
from hybridrec_plugins.encoders.text_normalizer import TextNormalizer

ENCODERS = (IdIndexEncoder, StandardScalerEncoder, MultiHotGenres, TextNormalizer, TemporalEncoder, LogStrength)


@hookimpl
def register_encoders(register: Register) -> None:
    """Register the built-in encoders."""
    for cls in ENCODERS:
        register(cls)
