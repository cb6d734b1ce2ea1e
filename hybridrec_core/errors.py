"""Exceptions with messages that say what is wrong and where."""

from __future__ import annotations


class HybridrecError(Exception):
    """Base class of every error hybridrec raises on purpose."""


class PluginError(HybridrecError):
    """A plugin could not be registered, loaded, found or configured."""


class DuplicatePluginError(PluginError):
    """Two plugins claim the same kind and name."""


class PluginLoadError(PluginError):
    """An entry point failed to import or register."""


class UnknownPluginError(PluginError, KeyError):
    """No plugin of that kind has that name."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class PluginConfigError(PluginError, ValueError):
    """A plugin's parameters failed validation."""


class ConfigError(HybridrecError, ValueError):
    """A pipeline configuration file or mapping is invalid."""


class DataError(HybridrecError, ValueError):
    """Input data cannot be used at all (missing columns, unreadable file...)."""


class ArtifactError(HybridrecError):
    """A saved model artifact is corrupt, missing or from an incompatible version."""
