"""Built-in encoders (entry point `encoders` of the `hybridrec` group)."""

from hybridrec_core.hookspecs import hookimpl, Register


@hookimpl
def register_encoders(register: Register) -> None:
    """Register the built-in encoders."""
