"""Built-in metrics (entry point `metrics` of the `hybridrec` group)."""

from hybridrec_core.hookspecs import Register, hookimpl
from hybridrec_plugins.metrics.beyond_accuracy import BeyondAccuracyMetrics
from hybridrec_plugins.metrics.ranking import RankingMetrics
from hybridrec_plugins.metrics.reference_ndcg import ReferenceNDCG
from hybridrec_plugins.metrics.regression import RegressionMetrics


@hookimpl
def register_metrics(register: Register) -> None:
    """Register the built-in metrics."""
    for cls in (RankingMetrics, RegressionMetrics, BeyondAccuracyMetrics, ReferenceNDCG):
        register(cls)
