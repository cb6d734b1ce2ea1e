"""Built-in models (entry point `models` of the `hybridrec` group)."""

from hybridrec_core.hookspecs import hookimpl, Register


@hookimpl
def register_models(register: Register) -> None:
    """Register the built-in models."""
