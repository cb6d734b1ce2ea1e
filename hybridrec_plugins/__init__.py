"""hybridrec_plugins: every concrete part of hybridrec, registered through the ``hybridrec``
entry-point group exactly as a third-party package would be (see pyproject.toml)."""
