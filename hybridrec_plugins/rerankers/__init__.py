"""Built-in rerankers (entry point `rerankers` of the `hybridrec` group)."""

from hybridrec_core.hookspecs import hookimpl, Register


@hookimpl
def register_rerankers(register: Register) -> None:
    """Register the built-in rerankers."""
