"""Evaluation group: the evaluation report (metrics.json, report.md, plots) for every trained model,
with the key metrics as a markdown table and the plots embedded in the asset's metadata."""

from pathlib import Path
from typing import Any

import pandas as pd
from dagster import AssetExecutionContext, AssetsDefinition, MaterializeResult, MetadataValue, asset
from dagster_duckdb import DuckDBResource

from dagster_project.assets.models import model_asset_name
from dagster_project.config import PipelineRunConfig
from dagster_project.metadata import embedded_png, frame_markdown
from dagster_project.resources import ArtifactsResource, resolve, store_of
from hybridrec_core import api

GROUP = "evaluation"
MAX_EMBEDDED_PNG_BYTES = 600_000  # keep the event log small; larger plots stay linked by path


def metrics_table(frame: pd.DataFrame, segment: str = "overall") -> pd.DataFrame:
    """Models as rows, metrics as columns, for one segment of ``EvaluationResult.to_frame()``."""
    part = frame[frame["segment"] == segment]
    if part.empty:
        return pd.DataFrame()
    return part.pivot_table(index="model", columns="metric", values="value", aggfunc="first").reset_index()


def report_metadata(result: Any, files: dict[str, Path], report_dir: Path) -> dict[str, Any]:
    frame = result.to_frame()
    table = metrics_table(frame)
    meta: dict[str, Any] = {
        "report_dir": MetadataValue.path(str(report_dir)),
        "key_metrics": MetadataValue.md(frame_markdown(table, rows=len(table) or 1)),
        "protocol": MetadataValue.json(result.to_dict().get("protocol", {})),
        "dagster/row_count": MetadataValue.int(len(frame)),
    }
    for name, path in sorted(files.items()):
        p = Path(path)
        if p.suffix == ".png" and p.exists() and p.stat().st_size <= MAX_EMBEDDED_PNG_BYTES:
            meta[f"plot/{p.stem}"] = MetadataValue.md(embedded_png(p))
        elif p.exists():
            meta[f"file/{name}"] = MetadataValue.path(str(p))
    return meta


def build_evaluation_asset(models: list[str]) -> AssetsDefinition:
    @asset(
        name="evaluation_report",
        group_name=GROUP,
        deps=[model_asset_name(m) for m in models] + ["splits"],
        kinds={"python"},
        description="Every configured metric for every model on the configured split (full ranking, "
        "train items excluded), with cold-start segments; report folder under <artifacts>/reports/<run>.",
    )
    def evaluation_report(
        context: AssetExecutionContext, pipeline: PipelineRunConfig, duckdb: DuckDBResource, artifacts: ArtifactsResource
    ) -> MaterializeResult:
        cfg = resolve(pipeline, duckdb, artifacts)
        features = api.load_features(cfg, store_of(duckdb))
        trained = {m.name: api.load_trained(cfg, features, m.name) for m in cfg.models}
        report_dir = artifacts.path("reports", context.run_id[:8])
        from hybridrec_core.report import write_report  # imported here: matplotlib stays out of code-location load

        result = api.evaluate(cfg, features, trained)
        files = write_report(result, report_dir)  # what api.evaluate(report_dir=...) writes, with names
        context.log.info(f"evaluation report written to {report_dir}")
        return MaterializeResult(metadata=report_metadata(result, files, report_dir))

    return evaluation_report
