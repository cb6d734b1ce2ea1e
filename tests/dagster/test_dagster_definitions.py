"""The code location loads, with the groups, checks, jobs, schedules and sensor it promises."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dagster_project.config import PipelineRunConfig, pipeline_yaml
from dagster_project.definitions import defs
from dagster_project.jobs import FULL_REFRESH, RECOMMENDATIONS_REFRESH
from hybridrec_core.config import PipelineConfig
from hybridrec_core.errors import ConfigError

from dagster_testkit import make_definitions, small_config

EXPECTED_GROUPS = {
    "raw_tracks": "ingestion", "raw_users": "ingestion", "raw_interactions": "ingestion", "quarantine": "ingestion",
    "user_flags": "ingestion",
    "feature_tables": "features", "splits": "features",
    "evaluation_report": "evaluation", "recommendations": "recommendations",
}


def _groups(definitions) -> dict[str, str]:
    graph = definitions.resolve_asset_graph()
    return {k.to_user_string(): graph.get(k).group_name for k in graph.get_all_asset_keys()}


def test_default_definitions_load_with_one_model_asset_per_configured_model() -> None:
    groups = _groups(defs)
    for name, group in EXPECTED_GROUPS.items():
        assert groups[name] == group
    models = sorted(k for k, g in groups.items() if g == "models")
    assert models == sorted(f"model_{m.name}" for m in PipelineConfig().models)
    defs.resolve_job_def(FULL_REFRESH)
    defs.resolve_job_def(RECOMMENDATIONS_REFRESH)
    assert {s.name for s in defs.schedules} == {"daily_full_refresh", "daily_recommendations_refresh",
                                                "daily_partitions_refresh"}
    assert [s.name for s in defs.sensors] == ["new_interaction_files"]


def test_model_assets_follow_the_config_and_the_model_check_blocks(tmp_path: Path) -> None:
    d = make_definitions(tmp_path, small_config())
    groups = _groups(d)
    assert sorted(k for k, g in groups.items() if g == "models") == ["model_hybrid", "model_popularity"]
    checks = {(k.asset_key.to_user_string(), k.name) for k in d.resolve_asset_graph().asset_check_keys}
    assert ("model_hybrid", "beats_popularity_on_validation") in checks
    assert {("raw_interactions", "no_null_ids"), ("quarantine", "quarantine_share_below_threshold"),
            ("feature_tables", "feature_ranges")} <= checks
    spec = d.resolve_asset_graph().get_check_spec(
        next(k for k in d.resolve_asset_graph().asset_check_keys if k.name == "beats_popularity_on_validation"))
    assert spec.blocking


def test_run_config_maps_onto_the_core_config_and_storage_comes_from_resources(tmp_path: Path) -> None:
    cfg = small_config()
    run = PipelineRunConfig(pipeline_yaml=pipeline_yaml(cfg))
    out = run.to_pipeline_config(str(tmp_path / "x.duckdb"), str(tmp_path / "art"))
    assert out.storage.database == str(tmp_path / "x.duckdb")
    assert out.storage.artifacts_dir == str(tmp_path / "art")
    assert out.model_dump(exclude={"storage"}) == cfg.model_dump(exclude={"storage"})
    assert "storage" not in yaml.safe_load(run.pipeline_yaml)


def test_default_run_config_is_the_demo_pipeline() -> None:
    out = PipelineRunConfig().to_pipeline_config("db.duckdb", "art")
    assert out.source.name == "demo"
    assert [m.name for m in out.models] == [m.name for m in PipelineConfig().models]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("models:\n- name: hybrid\n  params: {embedding_dim: 0}\n", "models[0].params"),
        ("split: {valid_fraction: 2}\n", "split.valid_fraction"),
        ("models:\n- name: no_such_model\n", "models[0].name"),
        ("- just a list\n", "top level must be a mapping"),
    ],
)
def test_bad_run_config_names_the_offending_key(text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        PipelineRunConfig(pipeline_yaml=text).to_pipeline_config("db.duckdb", "art")
    assert needle in str(info.value)


def test_config_file_from_environment_drives_the_model_assets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster_project.config import base_pipeline_config

    path = tmp_path / "pipeline.yaml"
    path.write_text("models:\n- name: popularity\n")
    monkeypatch.setenv("HYBRIDREC_CONFIG", str(path))
    assert [m.name for m in base_pipeline_config().models] == ["popularity"]
