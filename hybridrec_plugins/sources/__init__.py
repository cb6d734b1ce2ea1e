"""Built-in sources (entry point `sources` of the `hybridrec` group)."""

from hybridrec_core.hookspecs import hookimpl, Register


@hookimpl
def register_sources(register: Register) -> None:
    """Register the built-in sources."""
