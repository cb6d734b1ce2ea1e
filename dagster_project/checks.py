"""Asset checks: data (no null ids, quarantine share, feature ranges) and model quality
(the primary model beats popularity on the VALIDATION split). The model check is blocking:
when it fails, the run skips the downstream ``recommendations`` asset."""

from typing import Any

import numpy as np
from dagster import AssetCheckResult, AssetChecksDefinition, AssetCheckSeverity, MetadataValue, asset_check
from dagster_duckdb import DuckDBResource

from dagster_project.assets.models import model_asset_name
from dagster_project.config import PipelineRunConfig
from dagster_project.jobs import MODEL_CHECK
from dagster_project.resources import ArtifactsResource, resolve, store_of
from hybridrec_core import api
from hybridrec_core.config import PipelineConfig, PluginSpec
from hybridrec_core.dataset import FeatureSet
from hybridrec_core.storage import Store, validate_identifier

ID_COLUMNS: dict[str, tuple[str, ...]] = {
    "raw_tracks": ("track_id",),
    "raw_users": ("user_id",),
    "raw_interactions": ("user_id", "track_id"),
}
STANDARDIZED_LIMIT = 50.0  # |z| beyond this means a scaling bug, not an unusual track


def null_id_counts(store: Store, table: str, columns: tuple[str, ...]) -> dict[str, int]:
    """Null or blank ids per column (validation should have quarantined them all)."""
    validate_identifier(table)
    exprs = ", ".join(
        f"count(*) FILTER (WHERE \"{validate_identifier(c)}\" IS NULL OR trim(CAST(\"{c}\" AS VARCHAR)) = '')"
        for c in columns
    )
    with store.connect(read_only=True) as con:
        row = con.execute(f'SELECT {exprs} FROM "{table}"').fetchone()
    return dict(zip(columns, (int(v) for v in row)))


def quarantine_share(store: Store) -> tuple[float, dict[str, int]]:
    """Quarantined rows / (quarantined + accepted rows) over all ingested tables (the raw tables and
    ``user_flags``, whose rejects also land in ``quarantine``)."""
    counts = {t: store.row_count(t) for t in (*ID_COLUMNS, "user_flags", "quarantine")}
    accepted = sum(v for k, v in counts.items() if k != "quarantine")
    total = accepted + counts["quarantine"]
    return (counts["quarantine"] / total if total else 0.0), counts


def feature_range_problems(features: FeatureSet) -> list[str]:
    """Everything out of range in the encoded features and splits (empty list = fine)."""
    f = features.item_features
    problems: list[str] = []
    if not np.isfinite(f.numeric).all():
        problems.append(f"numeric features: {int((~np.isfinite(f.numeric)).sum())} non-finite values")
    elif f.numeric.size and np.abs(f.numeric).max() > STANDARDIZED_LIMIT:
        col = int(np.abs(f.numeric).max(axis=0).argmax())
        problems.append(
            f"numeric feature {f.numeric_names[col] if col < len(f.numeric_names) else col}: "
            f"|value| {float(np.abs(f.numeric[:, col]).max()):.3g} > {STANDARDIZED_LIMIT} after scaling"
        )
    for name, arr in (("binary", f.binary), ("numeric_missing", f.numeric_missing)):
        if arr.size and not np.isin(arr, (0.0, 1.0)).all():
            problems.append(f"{name} features: values other than 0/1")
    if f.artist.size and (f.artist.min() < 0 or f.artist.max() >= features.n_artists):
        problems.append("artist index outside the artist vocabulary")
    if f.genre_indices.size and (f.genre_indices.min() < 0 or f.genre_indices.max() >= features.n_genres):
        problems.append("genre index outside the genre vocabulary")
    for split, s in features.splits.items():
        if not len(s):
            continue
        if not (np.isfinite(s.target).all() and s.target.min() >= 0.0 and s.target.max() <= 1.0):
            problems.append(f"split {split}: target outside [0, 1] ({s.target.min():.3g}..{s.target.max():.3g})")
        if s.user.min() < 0 or s.user.max() >= features.n_users or s.item.min() < 0 or s.item.max() >= features.n_items:
            problems.append(f"split {split}: user/item index outside the vocabulary")
    return problems


def _make_null_id_check(table: str, columns: tuple[str, ...]) -> AssetChecksDefinition:
    @asset_check(asset=table, name="no_null_ids", description=f"No null or blank {', '.join(columns)} in {table}.")
    def _check(duckdb: DuckDBResource) -> AssetCheckResult:
        nulls = null_id_counts(store_of(duckdb), table, columns)
        return AssetCheckResult(
            passed=not any(nulls.values()),
            metadata={f"null_{c}": MetadataValue.int(n) for c, n in nulls.items()},
        )

    return _check


@asset_check(asset="quarantine", name="quarantine_share_below_threshold",
             description="Share of source rows quarantined stays under pipeline.max_quarantine_share.")
def quarantine_share_check(pipeline: PipelineRunConfig, duckdb: DuckDBResource) -> AssetCheckResult:
    share, counts = quarantine_share(store_of(duckdb))
    return AssetCheckResult(
        passed=share <= pipeline.max_quarantine_share,
        metadata={
            "quarantine_share": MetadataValue.float(share),
            "threshold": MetadataValue.float(pipeline.max_quarantine_share),
            "row_counts": MetadataValue.json(counts),
        },
    )


@asset_check(asset="feature_tables", name="feature_ranges", additional_deps=["splits"],
             description="Scaled features finite and bounded, flags 0/1, indices inside vocabularies, targets in [0, 1].")
def feature_ranges_check(pipeline: PipelineRunConfig, duckdb: DuckDBResource,
                         artifacts: ArtifactsResource) -> AssetCheckResult:
    features = api.load_features(resolve(pipeline, duckdb, artifacts), store_of(duckdb))
    problems = feature_range_problems(features)
    return AssetCheckResult(
        passed=not problems,
        metadata={"problems": MetadataValue.json(problems), "items": MetadataValue.int(features.n_items)},
    )


def validation_config(cfg: PipelineConfig) -> PipelineConfig:
    """The run's config narrowed to what the model check needs: ranking metrics on 'valid'."""
    ranking = [m for m in cfg.metrics if m.name == "ranking"] or [PluginSpec(name="ranking")]
    return cfg.model_copy(update={
        "metrics": ranking,
        "evaluation": cfg.evaluation.model_copy(update={"split": "valid"}),
    })


def compare_to_popularity(cfg: PipelineConfig, features: FeatureSet) -> dict[str, Any]:
    """Validation NDCG@k of the primary model and of popularity (trained artifacts loaded from disk)."""
    primary = cfg.primary_model
    names = [primary] + (["popularity"] if primary != "popularity" else [])
    trained = {n: api.load_trained(cfg, features, n) for n in names if n in {m.name for m in cfg.models}}
    result = api.evaluate(validation_config(cfg), features, trained)
    metric = f"ndcg@{cfg.evaluation.k}"
    return {"metric": metric, "primary": primary,
            "primary_value": float(result.get(primary, metric)),
            "popularity_value": float(result.get("popularity", metric))}


def build_model_check(primary_model: str, models: list[str]) -> AssetChecksDefinition:
    """Blocking check on the primary model's asset (waits for the popularity asset when there is one;
    otherwise the evaluation fits a popularity baseline itself)."""
    baseline = [model_asset_name("popularity")] if "popularity" in models and primary_model != "popularity" else []

    @asset_check(
        asset=model_asset_name(primary_model),
        name=MODEL_CHECK,
        blocking=True,
        additional_deps=baseline,
        description=f"{primary_model}'s NDCG@k on the validation split is above the popularity baseline's "
        "(by more than pipeline.min_ndcg_margin). Blocking: recommendations are not published otherwise.",
    )
    def _check(pipeline: PipelineRunConfig, duckdb: DuckDBResource, artifacts: ArtifactsResource) -> AssetCheckResult:
        cfg = resolve(pipeline, duckdb, artifacts)
        if cfg.primary_model == "popularity":
            return AssetCheckResult(passed=True, description="the primary model is the popularity baseline")
        cmp = compare_to_popularity(cfg, api.load_features(cfg, store_of(duckdb)))
        margin = cmp["primary_value"] - cmp["popularity_value"]
        return AssetCheckResult(
            passed=margin > pipeline.min_ndcg_margin,
            severity=AssetCheckSeverity.ERROR,
            metadata={
                f"{cmp['primary']}_{cmp['metric']}": MetadataValue.float(cmp["primary_value"]),
                f"popularity_{cmp['metric']}": MetadataValue.float(cmp["popularity_value"]),
                "margin": MetadataValue.float(margin),
                "required_margin": MetadataValue.float(pipeline.min_ndcg_margin),
            },
        )

    return _check


def build_checks(config: PipelineConfig) -> list[AssetChecksDefinition]:
    data = [_make_null_id_check(t, cols) for t, cols in ID_COLUMNS.items()]
    model = build_model_check(config.primary_model, [m.name for m in config.models])
    return [*data, quarantine_share_check, feature_ranges_check, model]
