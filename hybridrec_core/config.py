"""The pipeline config: which plugins run, with which params. Loadable from YAML, TOML or JSON.

Errors name the file and the offending key path (``models[0].params.embedding_dim``).
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hybridrec_core.errors import ConfigError, PluginConfigError, UnknownPluginError


# A flag becomes a DuckDB column name: the same rule as storage.validate_identifier.
_FLAG_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class PluginSpec(_Strict):
    """A plugin chosen by name, with its parameters (validated against the plugin's config)."""

    name: str = Field(description="Registered plugin name, e.g. 'hybrid'.")
    params: dict[str, Any] = Field(default_factory=dict, description="The plugin's config fields.")


def _spec(name: str, **params: Any) -> PluginSpec:
    return PluginSpec(name=name, params=params)


class EncodersConfig(_Strict):
    """One encoder plugin per role of the feature pipeline."""

    ids: PluginSpec = Field(default_factory=lambda: _spec("id_index"), description="Id -> dense index.")
    numeric: PluginSpec = Field(
        default_factory=lambda: _spec("standard_scaler"), description="Audio features scaling + imputation."
    )
    genres: PluginSpec = Field(default_factory=lambda: _spec("multi_hot_genres"), description="Genre tokens.")
    text: PluginSpec = Field(default_factory=lambda: _spec("text_normalizer"), description="Artist/title text.")
    temporal: PluginSpec = Field(default_factory=lambda: _spec("temporal"), description="Time features.")
    strength: PluginSpec = Field(
        default_factory=lambda: _spec("log_strength"), description="Play count -> target in [0, 1]."
    )


class SplitConfig(_Strict):
    """How interactions are divided (see hybridrec_core.splits). Fractions are shares of interactions;
    temporal cuts at timestamp quantiles, so its test set is the latest `test_fraction` of them."""

    method: Literal["random", "temporal", "leave_last_n"] = Field("random", description="Split rule.")
    valid_fraction: float = Field(0.1, ge=0.0, lt=0.5, description="Share for validation.")
    test_fraction: float = Field(0.1, ge=0.0, lt=0.5, description="Share for test.")
    leave_last_n: int = Field(1, ge=1, description="Held-out interactions per user for leave_last_n.")
    cold_user_fraction: float = Field(
        0.05, ge=0.0, lt=0.5, description="Share of users held out entirely (cold-start user split)."
    )
    cold_item_fraction: float = Field(
        0.05, ge=0.0, lt=0.5, description="Share of tracks held out entirely (cold-start track split)."
    )
    seed: int | None = Field(None, description="Split seed; defaults to the pipeline seed.")


class EvaluationConfig(_Strict):
    """Evaluation protocol: full ranking over the catalogue, train items excluded."""

    k: int = Field(10, ge=1, description="Cut-off for ranking metrics.")
    cold_buckets: list[int] = Field(
        default_factory=lambda: [5],
        description="History-length bucket edges; [5] gives <5 (cold) and >=5 (warm) like the reference.",
    )
    batch_users: int = Field(1024, ge=1, description="Users scored per chunk (memory bound).")
    max_users: int | None = Field(None, ge=1, description="Evaluate a seeded sample of users (None = all).")
    split: Literal["valid", "test"] = Field("test", description="Split the report is computed on.")

    @field_validator("cold_buckets")
    @classmethod
    def _sorted(cls, v: list[int]) -> list[int]:
        if any(b <= 0 for b in v) or v != sorted(set(v)):
            raise ValueError("cold_buckets must be strictly increasing positive integers")
        return v


class RecommendConfig(_Strict):
    """Top-K generation for all users."""

    k: int = Field(10, ge=1, description="List length.")
    pool_size: int = Field(100, ge=1, description="Candidates handed to the re-ranker chain (>= k).")
    exclude_seen: bool = Field(True, description="Drop tracks the user played in training.")
    two_stage: bool = Field(False, description="Retrieve candidates by embedding dot product first.")
    retrieval_candidates: int = Field(200, ge=1, description="Candidates scored by the full model in two-stage mode.")
    batch_users: int = Field(1024, ge=1, description="Users per scoring chunk.")
    model: str | None = Field(None, description="Model that generates lists (default: the first in `models`).")

    @model_validator(mode="after")
    def _pool(self) -> "RecommendConfig":
        if self.pool_size < self.k:
            raise ValueError(f"pool_size ({self.pool_size}) must be >= k ({self.k})")
        return self


class UserFlagsConfig(_Strict):
    """Per-user boolean flags (e.g. `no_explicit`) that re-rankers such as explicit_filter act on:
    ingested with the source into the `user_flags` table (non-booleans quarantined, unknown users
    counted in the ingest report), handed to the re-ranker chain as RerankContext.user_flags (users
    without a row: false). See docs/data.md."""

    path: str | None = Field(
        None,
        description=(
            "CSV or Parquet file with user_id and one boolean column per flag; when set it replaces "
            "the flags the source provides (the demo flags a share of users no_explicit)."
        ),
    )
    columns: list[str] | None = Field(
        None, description="Flag columns to take (None = every column except user_id); others are ignored."
    )

    @field_validator("columns")
    @classmethod
    def _names(cls, v: list[str] | None) -> list[str] | None:
        """Flags become DuckDB column names: plain identifiers, distinct ignoring case."""
        if v is None:
            return v
        if not v:
            raise ValueError("columns must name at least one flag (or be null for every column)")
        bad = [c for c in v if not _FLAG_NAME.match(c) or c == "user_id"]
        if bad:
            raise ValueError(f"flag columns {bad} are not plain names (letters, digits, '_'; not user_id)")
        lowered = [c.lower() for c in v]
        if len(set(lowered)) != len(lowered):
            raise ValueError(f"flag columns are listed twice (names are case-insensitive): {v}")
        return v


class StorageConfig(_Strict):
    """Where tables and artifacts live."""

    database: str = Field(".hybridrec/hybridrec.duckdb", description="DuckDB file path.")
    artifacts_dir: str = Field(".hybridrec/artifacts", description="Model artifacts and reports.")


class PipelineConfig(_Strict):
    """The whole pipeline: source -> encoders -> split -> models -> metrics / re-rankers."""

    seed: int = Field(42, description="Seed for data generation, splits, training and sampling.")
    device: str = Field("auto", description="'auto', 'cpu', 'cuda' or 'cuda:N'.")
    source: PluginSpec = Field(default_factory=lambda: _spec("demo"), description="Data source plugin.")
    encoders: EncodersConfig = Field(default_factory=EncodersConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    models: list[PluginSpec] = Field(
        # The built-in pipeline caps the hybrid model at 8 epochs so the demo runs in about two minutes
        # on 2 cores; the plugin itself defaults to 50 epochs with early stopping (set params.epochs).
        default_factory=lambda: [_spec("hybrid", epochs=8), _spec("popularity"), _spec("item_knn"), _spec("mf")],
        min_length=1,
        description=(
            "Models to train; the first generates recommendations unless recommend.model says. The default "
            "caps hybrid at 8 epochs so the demo runs in about two minutes; raise it for real data."
        ),
    )
    metrics: list[PluginSpec] = Field(
        default_factory=lambda: [
            _spec("ranking"), _spec("regression"), _spec("beyond_accuracy"), _spec("reference_ndcg")
        ],
        description="Metric plugins computed in the evaluation report.",
    )
    rerankers: list[PluginSpec] = Field(default_factory=list, description="Re-ranker chain, applied in order.")
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    recommend: RecommendConfig = Field(default_factory=RecommendConfig)
    user_flags: UserFlagsConfig = Field(
        default_factory=UserFlagsConfig, description="Per-user flags for the re-ranker chain (e.g. no_explicit)."
    )
    storage: StorageConfig = Field(default_factory=StorageConfig)

    @model_validator(mode="after")
    def _unique_models(self) -> "PipelineConfig":
        names = [m.name for m in self.models]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"models are listed twice: {dupes}")
        if self.recommend.model is not None and self.recommend.model not in names:
            raise ValueError(f"recommend.model {self.recommend.model!r} is not in models {names}")
        return self

    @property
    def primary_model(self) -> str:
        return self.recommend.model or self.models[0].name

    def validate_plugins(self, manager: Any | None = None) -> None:
        """Check every named plugin exists and its params validate; errors name the key path."""
        from hybridrec_core.plugins import get_plugin_manager

        pm = manager or get_plugin_manager()
        checks: list[tuple[str, str, PluginSpec]] = [("source", "source", self.source)]
        checks += [(f"encoders.{role}", "encoder", spec) for role, spec in self.encoders]
        checks += [(f"models[{i}]", "model", s) for i, s in enumerate(self.models)]
        checks += [(f"metrics[{i}]", "metric", s) for i, s in enumerate(self.metrics)]
        checks += [(f"rerankers[{i}]", "reranker", s) for i, s in enumerate(self.rerankers)]
        for path, kind, spec in checks:
            try:
                pm.get(kind, spec.name).cls.make_config(spec.params)
            except UnknownPluginError as exc:
                raise ConfigError(f"{path}.name: {exc}") from exc
            except PluginConfigError as exc:
                cause = exc.__cause__
                if isinstance(cause, ValidationError):  # name each bad key: models[0].params.dim
                    detail = _format_validation(cause, f"{kind} plugin {spec.name!r}", prefix=f"{path}.params")
                    raise ConfigError(detail) from exc
                raise ConfigError(f"{path}.params: {exc}") from exc


def _format_validation(exc: ValidationError, where: str, prefix: str = "") -> str:
    lines = [f"invalid {'params for ' if prefix else 'pipeline config '}{where}:"]
    for err in exc.errors():
        loc = prefix
        for part in err["loc"]:
            loc += f"[{part}]" if isinstance(part, int) else (f".{part}" if loc else str(part))
        lines.append(f"  {loc or '(root)'}: {err['msg']}")
    return "\n".join(lines)


def config_from_mapping(data: dict[str, Any], where: str = "(mapping)") -> PipelineConfig:
    try:
        return PipelineConfig.model_validate(data or {})
    except ValidationError as exc:
        raise ConfigError(_format_validation(exc, where)) from exc


def load_config(path: str | Path) -> PipelineConfig:
    """Read a pipeline config from ``.yaml``/``.yml``, ``.toml`` or ``.json``."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"config file {p} does not exist")
    text = p.read_text(encoding="utf-8")
    try:
        if p.suffix in {".yaml", ".yml"}:
            data = yaml.safe_load(text)
        elif p.suffix == ".toml":
            data = tomllib.loads(text)
        elif p.suffix == ".json":
            data = json.loads(text)
        else:
            raise ConfigError(f"config file {p}: unknown extension {p.suffix!r} (use .yaml, .toml or .json)")
    except (yaml.YAMLError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"config file {p} is not valid {p.suffix[1:].upper()}: {exc}") from exc
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"config file {p}: top level must be a mapping, got {type(data).__name__}")
    return config_from_mapping(data or {}, where=str(p))
