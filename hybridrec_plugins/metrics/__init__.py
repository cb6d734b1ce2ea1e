"""Built-in metrics (entry point `metrics` of the `hybridrec` group)."""

from hybridrec_core.hookspecs import hookimpl, Register


@hookimpl
def register_metrics(register: Register) -> None:
    """Register the built-in metrics."""
