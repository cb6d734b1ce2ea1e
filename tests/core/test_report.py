"""write_report: metrics.json, report.md and readable PNGs from a real evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

from hybridrec_core.config import EvaluationConfig
from hybridrec_core.evaluation import evaluate
from hybridrec_core.interfaces import FitContext, TrainingHistory
from hybridrec_core.plugins import get_plugin_manager
from hybridrec_core.report import markdown_table, write_report
from hybridrec_core.testing import toy_feature_set, with_cold_splits


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    pm = get_plugin_manager()
    fs = with_cold_splits(toy_feature_set(n_users=100, n_items=60), n_cold_users=10, n_cold_items=5)
    pop = pm.create("model", "popularity")
    pop.fit(fs, FitContext(seed=0, device="cpu"))
    pop.predicts_target = True  # popularity log-counts are not on the target scale; fine for plot wiring
    history = TrainingHistory(
        epochs=[{"epoch": e, "loss": 1 / e, "val_ndcg@10": 0.1 * e, "lr": 1e-3 / (1 + (e > 3)), "seconds": 0.1}
                for e in range(1, 7)],
        best_epoch=5, best_metric=0.5, monitor="val_ndcg@10",
    )
    metrics = [pm.create("metric", n) for n in ("ranking", "regression", "beyond_accuracy", "reference_ndcg")]
    result = evaluate(fs, {"popularity": pop}, metrics, EvaluationConfig(k=5), seed=0, histories={"popularity": history})
    out = tmp_path_factory.mktemp("report")
    return result, out, write_report(result, out)


def test_files_written(report) -> None:
    result, out, files = report
    expected = {"metrics.json", "report.md", "models_side_by_side", "training_popularity", "pred_vs_actual_popularity",
                "error_distribution_popularity", "residual_qq_popularity", "residuals_vs_predicted_popularity",
                "segments_ndcg@5", "segments_rmse"}
    assert expected <= set(files)
    for name, path in files.items():
        assert path.exists() and path.stat().st_size > 0, name
        if path.suffix == ".png":
            img = mpimg.imread(path)
            assert img.shape[0] > 300 and img.shape[1] > 400, name
            assert img[..., :3].std() > 0.05, f"{name} looks blank"


def test_metrics_json_has_protocol_and_every_segment(report) -> None:
    result, out, files = report
    payload = json.loads((out / "metrics.json").read_text())
    assert payload["protocol"]["split"] == "test"
    assert payload["protocol"]["exclusions"]
    assert set(payload["metrics"]["popularity"]) == set(result.values["popularity"])
    assert payload["histories"]["popularity"]["best_epoch"] == 5
    assert payload["metrics"]["popularity"]["overall"]["ndcg@5"] == pytest.approx(result.get("popularity", "ndcg@5"))


def test_report_md_tables_protocol_and_links(report) -> None:
    result, out, files = report
    md = (out / "report.md").read_text()
    assert "## Protocol" in md and "reference design" in md
    assert "| model | ndcg@5 |" in md
    for segment in ("overall", "cold_user", "cold_item", "history>=5"):
        assert f"## Segment `{segment}`" in md
    links = [line.split("](")[1].rstrip(")") for line in md.splitlines() if line.startswith("![")]
    assert links and all((out / link).exists() for link in links)


def test_markdown_table_formats_missing_values() -> None:
    table = markdown_table(["a", "b"], [["x", float("nan")], ["y", 0.123456]])
    assert table.splitlines() == ["| a | b |", "|---|---|", "| x | – |", "| y | 0.1235 |"]
