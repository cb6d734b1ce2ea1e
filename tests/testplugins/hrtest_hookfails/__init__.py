"""A hook implementation that raises while registering (a test distribution)."""

from hybridrec_core.hookspecs import hookimpl


@hookimpl
def register_metrics(register):
    raise RuntimeError("metric backend unavailable")
