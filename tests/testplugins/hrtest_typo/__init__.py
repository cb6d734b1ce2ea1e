"""A misspelled hook implementation (a test distribution)."""

from hybridrec_core.hookspecs import hookimpl


@hookimpl
def register_rerankerz(register):  # should be register_rerankers
    pass
