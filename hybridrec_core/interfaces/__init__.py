"""The five plugin kinds. Import from here: ``from hybridrec_core.interfaces import Model``."""

from hybridrec_core.interfaces.base import Plugin, PluginConfig, PluginKind
from hybridrec_core.interfaces.encoder import FeatureEncoder
from hybridrec_core.interfaces.metric import EvalInput, Metric, MetricResult
from hybridrec_core.interfaces.model import FitContext, Model, TrainingHistory
from hybridrec_core.interfaces.reranker import Candidates, ReRanker, RerankContext
from hybridrec_core.interfaces.source import DataSource, SourceData

KIND_BASES: dict[PluginKind, type[Plugin]] = {
    PluginKind.SOURCE: DataSource,
    PluginKind.ENCODER: FeatureEncoder,
    PluginKind.MODEL: Model,
    PluginKind.METRIC: Metric,
    PluginKind.RERANKER: ReRanker,
}

__all__ = [
    "Candidates", "DataSource", "EvalInput", "FeatureEncoder", "FitContext", "KIND_BASES",
    "Metric", "MetricResult", "Model", "Plugin", "PluginConfig", "PluginKind", "ReRanker",
    "RerankContext", "SourceData", "TrainingHistory",
]
