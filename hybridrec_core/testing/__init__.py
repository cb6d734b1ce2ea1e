"""Conformance test kit for plugin authors: inherit the class for your plugin's kind."""

from hybridrec_core.testing.base import PluginTests
from hybridrec_core.testing.toy import toy_feature_set

__all__ = ["PluginTests", "toy_feature_set"]
