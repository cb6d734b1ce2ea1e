"""Conformance test kit for plugin authors: inherit the class for your plugin's kind."""

from hybridrec_core.testing.base import PluginTests
from hybridrec_core.testing.encoder import EncoderTests, assert_same_output
from hybridrec_core.testing.metric import MetricTests, toy_eval_input, with_cold_splits
from hybridrec_core.testing.model import ModelTests
from hybridrec_core.testing.reranker import RerankerTests, toy_pool
from hybridrec_core.testing.source import SourceTests
from hybridrec_core.testing.toy import toy_feature_set

__all__ = ["EncoderTests", "MetricTests", "ModelTests", "PluginTests", "RerankerTests", "SourceTests",
    "assert_same_output", "toy_eval_input", "toy_feature_set", "toy_pool", "with_cold_splits"]
