"""Turn an :class:`~hybridrec_core.evaluation.EvaluationResult` into a report directory.

``metrics.json`` holds everything (protocol included), ``report.md`` the tables a person reads
with the protocol in words and links to the PNGs under ``plots/``. The Dagster evaluation asset
publishes this same directory.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from hybridrec_core import plots
from hybridrec_core.evaluation import EvaluationResult

HEADLINE = ("ndcg@{k}", "recall@{k}", "map@{k}", "coverage@{k}", "novelty@{k}", "rmse", "mae", "r2")
SEGMENT_METRICS = ("ndcg@{k}", "recall@{k}", "rmse")


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    """A GitHub-flavoured markdown table (no extra dependency)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


GROUPS = (
    ("Accuracy", ("ndcg@", "ndcg_graded@", "recall@", "precision@", "hitrate@", "mrr@", "map@")),
    ("Regression and reference protocol", ("rmse", "mae", "r2", "reference_ndcg")),
)


def _group_of(metric: str) -> str:
    for title, prefixes in GROUPS:
        if any(metric == p or metric.startswith(p) for p in prefixes):
            return title
    return "Beyond accuracy"


def _table(result: EvaluationResult, segment: str, metrics: list[str]) -> str:
    """Models as rows, ``metrics`` as columns, for one segment."""
    rows = [[model] + [result.values[model].get(segment, {}).get(m) for m in metrics] for model in result.models]
    return markdown_table(["model", *metrics], rows)


def _segment_tables(result: EvaluationResult, segment: str) -> list[str]:
    """One small table per metric group (accuracy / regression / beyond accuracy)."""
    present = {m for model in result.models for m in result.values[model].get(segment, {})}
    out = []
    for title in [t for t, _ in GROUPS] + ["Beyond accuracy"]:
        metrics = sorted(m for m in present if _group_of(m) == title)
        if not metrics:
            continue
        out += [f"**{title}**", "", _table(result, segment, metrics), ""]
    return out


def _protocol_text(result: EvaluationResult) -> str:
    p = result.protocol
    lines = [
        f"- Split evaluated: **{p['split']}**; seed {p['seed']}; cut-off k = {p['k']}.",
        f"- Ranking: {p['ranking']}. Excluded from every list: {', '.join(p['exclusions'])}.",
        f"- Users evaluated: {p['n_users_evaluated']}; known users skipped because they have no held-out "
        f"items: {p['n_users_skipped_no_heldout']}; left out by sampling (max_users={p['max_users']}): "
        f"{p['n_users_sampled_out']}.",
        f"- Evaluated users' held-out interactions with tracks that have no training interactions: "
        f"{p.get('n_heldout_untrained_items', 0)}; they stay in `overall` (and count against every model)"
        + ("; segment `trained_items` judges the same lists without them." if "trained_items" in result.segments else "."),
        f"- History buckets by {p['history_length']}, edges {p['cold_buckets']}.",
        f"- Baseline: `{p['baseline']['name']}` on the same users"
        + (" (fitted by the evaluation with the same seed)." if p["baseline"]["fitted_by_evaluation"] else "."),
        "- Regression metrics (RMSE, MAE, R²) only for models predicting the target: "
        + (", ".join(f"`{m}`" for m in p["target_scale_models"]) or "none") + ".",
        "- `reference_ndcg` is the reference design's protocol (each user's own held-out tracks ranked by "
        "predicted score), not comparable with the full-catalogue `ndcg@k`.",
    ]
    lines += [
        f"- Segment `{name}` ({info.get('n_users', '?')} users): {info.get('description', '')}"
        for name, info in result.segments.items()
    ]
    return "\n".join(lines)


def write_report(result: EvaluationResult, out_dir: Path) -> dict[str, Path]:
    """Write metrics.json, report.md and the PNGs; returns name -> path of every file written."""
    out_dir = Path(out_dir)
    plot_dir = out_dir / "plots"
    plot_dir.mkdir(parents=True, exist_ok=True)
    k = result.protocol["k"]
    files: dict[str, Path] = {}

    for model, history in result.histories.items():
        p = plots.training_curves(model, history, plot_dir / f"training_{model}.png")
        if p is not None:
            files[f"training_{model}"] = p
    for model, by_segment in result.predictions.items():
        sample = by_segment.get("overall")
        if sample is None or sample["prediction"].size < 2:
            continue
        pred, target = sample["prediction"], sample["target"]
        for kind, fn in (
            ("pred_vs_actual", plots.predicted_vs_actual),
            ("error_distribution", plots.error_distribution),
            ("residual_qq", plots.residual_qq),
            ("residuals_vs_predicted", plots.residuals_vs_predicted),
        ):
            files[f"{kind}_{model}"] = fn(model, pred, target, plot_dir / f"{kind}_{model}.png")

    cold_segments = [s for s in result.segments if s != "overall"]
    for metric in (m.format(k=k) for m in SEGMENT_METRICS):
        if any(metric in result.values[m].get(s, {}) for m in result.models for s in cold_segments):
            files[f"segments_{metric}"] = plots.metric_by_segment(
                result, metric, cold_segments, plot_dir / f"segments_{metric.replace('@', '_at_')}.png"
            )
    headline = [m.format(k=k) for m in HEADLINE]
    present = [m for m in headline if any(m in result.values[x].get("overall", {}) for x in result.models)]
    files["models_side_by_side"] = plots.models_side_by_side(
        result, present, plot_dir / "models_side_by_side.png"
    )

    metrics_path = out_dir / "metrics.json"
    metrics_path.write_text(json.dumps(result.to_dict(), indent=2, allow_nan=False), encoding="utf-8")
    files["metrics.json"] = metrics_path

    md = ["# hybridrec evaluation report", "", "## Protocol", "", _protocol_text(result), ""]
    md += ["## Headline (overall)", "", _table(result, "overall", present), ""]
    for segment in result.segments:
        if any(segment in result.values[m] for m in result.models):
            md += [f"## Segment `{segment}`", "", *_segment_tables(result, segment)]
    seconds = [[m, s] for m, s in result.seconds.items()]
    md += ["## Evaluation time", "", markdown_table(["model", "seconds"], seconds), "", "## Plots", ""]
    md += [
        f"### {name}\n\n![{name}]({path.relative_to(out_dir).as_posix()})\n"
        for name, path in files.items() if path.suffix == ".png"
    ]
    report_path = out_dir / "report.md"
    report_path.write_text("\n".join(md), encoding="utf-8")
    files["report.md"] = report_path
    return files
