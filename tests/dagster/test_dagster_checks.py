"""Each asset check made to fail on purpose (they all pass on the clean demo run in
test_dagster_pipeline.py): dirty source, a null id slipped into a raw table, out-of-range
features, and a crippled hybrid model whose blocking check keeps recommendations unpublished."""

from __future__ import annotations

from pathlib import Path

from dagster import AssetCheckKey, AssetKey, AssetSelection

from dagster_project.checks import feature_range_problems
from dagster_project.jobs import RECOMMENDATIONS_REFRESH
from hybridrec_core.storage import Store
from hybridrec_core.testing import toy_feature_set

from dagster_testkit import check_results, make_definitions, materialized_keys, materialize_all, small_config

INGEST_AND_FEATURES = AssetSelection.groups("ingestion", "features")


def _check_only(asset: str, name: str) -> AssetSelection:
    return AssetSelection.checks(AssetCheckKey(AssetKey(asset), name))


def test_quarantine_share_check_fails_on_a_dirty_source(tmp_path: Path) -> None:
    dirty = small_config(source={"name": "demo", "params": {
        "n_users": 120, "n_tracks": 100, "n_artists": 20, "n_genres": 4, "n_interactions": 2000,
        "seed": 3, "dirty_fraction": 0.2}})
    result = materialize_all(make_definitions(tmp_path, dirty, max_quarantine_share=0.05),
                             selection=AssetSelection.groups("ingestion"))
    checks = check_results(result)
    assert checks[("quarantine", "quarantine_share_below_threshold")] is False
    assert checks[("raw_interactions", "no_null_ids")] is True  # bad ids went to quarantine, not raw
    share = next(e for e in result.get_asset_check_evaluations() if e.check_name.startswith("quarantine"))
    assert share.metadata["quarantine_share"].value > 0.05
    assert Store(tmp_path / "hybridrec.duckdb").row_count("quarantine") > 0


def test_null_id_and_feature_range_checks_fail_on_corrupted_tables(tmp_path: Path) -> None:
    definitions = make_definitions(tmp_path, small_config())
    first = materialize_all(definitions, selection=INGEST_AND_FEATURES)
    assert first.success and all(check_results(first).values())

    store = Store(tmp_path / "hybridrec.duckdb")
    with store.connect() as con:
        con.execute("INSERT INTO raw_interactions (user_id, track_id, plays) VALUES (NULL, '1', 3)")
        con.execute("UPDATE features_items SET num_energy = 1e6 WHERE idx = 1")
        con.execute("UPDATE split_train SET target = 3.0 WHERE rowid = 0")
    nulls = materialize_all(definitions, selection=_check_only("raw_interactions", "no_null_ids"))
    [evaluation] = nulls.get_asset_check_evaluations()
    assert evaluation.passed is False and evaluation.metadata["null_user_id"].value == 1

    ranges = materialize_all(definitions, selection=_check_only("feature_tables", "feature_ranges"))
    [evaluation] = ranges.get_asset_check_evaluations()
    problems = evaluation.metadata["problems"].value
    assert evaluation.passed is False
    assert any("energy" in p for p in problems) and any("split train" in p for p in problems)


def test_feature_range_problems_is_empty_for_sane_features() -> None:
    assert feature_range_problems(toy_feature_set(n_users=20, n_items=15, per_user=3)) == []


def test_crippled_hybrid_fails_the_blocking_model_check_and_recommendations_are_skipped(tmp_path: Path) -> None:
    crippled = small_config(models=[
        {"name": "hybrid", "params": {"embedding_dim": 8, "hidden_layers": [8], "epochs": 1,
                                      "learning_rate": 1e-7, "batch_size": 4096,
                                      "warm_start": "none"}},  # no ALS backbone to fall back on
        {"name": "popularity"},
    ])
    definitions = make_definitions(tmp_path, crippled)
    selection = AssetSelection.all() - AssetSelection.assets("evaluation_report")
    result = materialize_all(definitions, selection=selection)
    checks = check_results(result)
    assert checks[("model_hybrid", "beats_popularity_on_validation")] is False
    assert {"model_hybrid", "model_popularity"} <= materialized_keys(result)
    assert "recommendations" not in materialized_keys(result)
    assert not result.success  # a failed blocking check fails the run: visible in the UI
    assert "recommendations" not in Store(tmp_path / "hybridrec.duckdb").tables()

    # The daily recommendations-only refresh re-runs the gate and does not publish either.
    refresh = definitions.resolve_job_def(RECOMMENDATIONS_REFRESH).execute_in_process(raise_on_error=False)
    assert check_results(refresh) == {("model_hybrid", "beats_popularity_on_validation"): False}
    assert materialized_keys(refresh) == set()
    assert "recommendations" not in Store(tmp_path / "hybridrec.duckdb").tables()
