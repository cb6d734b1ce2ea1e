"""hybridrec_core: the framework. Interfaces, plugin manager, configs, storage and engines.

The core never imports a concrete plugin by name: everything concrete arrives through the
``hybridrec`` entry-point group (see :mod:`hybridrec_core.plugins`).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hybridrec")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
