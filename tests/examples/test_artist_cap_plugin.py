"""The example third-party package: built and installed for real (into a temporary site folder,
never into the project's virtualenv), listed by ``hybridrec plugins``, its own tests pass, and
its plugins work by name in a pipeline config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hybridrec_core import api, plugins
from hybridrec_core.testing import toy_feature_set

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "examples" / "hybridrec-artist-cap"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip install`` the example (wheel build via setuptools, no network) into a folder."""
    target = tmp_path_factory.mktemp("artist_cap_site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(PACKAGE)],
        check=True, capture_output=True, text=True, timeout=180,
    )
    assert (target / "hybridrec_artist_cap-0.1.0.dist-info" / "entry_points.txt").exists()
    return target


def _env(site: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYBRIDREC_LOAD")}
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _hybridrec(site: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hybridrec_core.cli", *args],
        env=_env(site), capture_output=True, text=True, timeout=120, check=True,
    )


def test_plugins_appear_in_hybridrec_plugins(site: Path) -> None:
    listed = json.loads(_hybridrec(site, "plugins", "--json").stdout)
    ours = {(p["name"], p["kind"]): p for p in listed if p["distribution"] == "hybridrec-artist-cap"}
    assert set(ours) == {("artist_cap", "reranker"), ("artist_diversity", "metric")}
    assert {p["version"] for p in ours.values()} == {"0.1.0"}
    assert {p["entry_point"] for p in ours.values()} == {"artist_cap"}


def test_the_example_packages_own_tests_pass(site: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(PACKAGE / "tests")],
        env=_env(site), capture_output=True, text=True, timeout=300, cwd=PACKAGE,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout


@pytest.fixture
def with_example(site: Path, monkeypatch: pytest.MonkeyPatch):
    """The example importable in this process, with a fresh process-wide plugin manager."""
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(plugins, "_default", None)
    yield
    for name in [m for m in sys.modules if m.startswith("hybridrec_artist_cap")]:
        del sys.modules[name]


def test_plugins_table_in_process(with_example, capsys) -> None:
    from hybridrec_core.cli import main

    assert main(["plugins", "--kind", "reranker"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert any(line.split()[:4] == ["artist_cap", "reranker", "hybridrec-artist-cap", "0.1.0"] for line in table)


def test_pipeline_uses_them_by_name(with_example, tmp_path: Path) -> None:
    cfg = api.config_from_mapping({
        "models": [{"name": "popularity"}],
        "metrics": [{"name": "ranking"}, {"name": "artist_diversity"}],
        "rerankers": [{"name": "artist_cap", "params": {"max_per_artist": 1}}],
        "recommend": {"k": 5, "pool_size": 40},
        "evaluation": {"k": 5},
        "storage": {"database": str(tmp_path / "db.duckdb"), "artifacts_dir": str(tmp_path / "artifacts")},
    })
    cfg.validate_plugins()
    fs = toy_feature_set()
    trained = api.train(cfg, fs)
    result = api.evaluate(cfg, fs, trained)
    diversity = result.get("popularity", "artist_diversity@5")
    assert 0.0 < diversity < 1.0  # the same popular list for all, with repeated artists

    users = fs.users.ids[1:6].tolist()
    capped = api.recommend(cfg, fs, trained["popularity"].model, users=users)
    plain = api.recommend(cfg.model_copy(update={"rerankers": []}), fs, trained["popularity"].model, users=users)
    per_list = capped.groupby("user_id")["artist"].agg(lambda s: s.value_counts().max())
    assert (per_list == 1).all(), per_list
    # popularity gives everyone the same list: without the cap some artist repeats in it
    assert plain.groupby("user_id")["artist"].agg(lambda s: s.value_counts().max()).max() > 1
    assert set(capped.groupby("user_id").size()) == {5}



def test_dagster_run_config_uses_them_by_name(with_example, tmp_path: Path, monkeypatch) -> None:
    """The same names in the Dagster run config (resources.pipeline.pipeline_yaml) drive a run."""
    from dagster import materialize

    from dagster_project.config import PipelineRunConfig, pipeline_yaml
    from dagster_project.definitions import build_definitions
    from dagster_project.resources import default_resources

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    cfg = api.config_from_mapping({
        "seed": 3,
        "source": {"name": "demo", "params": {"n_users": 60, "n_tracks": 90, "n_artists": 25, "n_genres": 4,
                                              "n_interactions": 1500, "seed": 3}},
        "models": [{"name": "popularity"}],
        "metrics": [{"name": "ranking"}, {"name": "artist_diversity"}],
        "rerankers": [{"name": "artist_cap", "params": {"max_per_artist": 1}}],
        "recommend": {"k": 4, "pool_size": 30},
        "evaluation": {"k": 4},
    })
    db, art = tmp_path / "db.duckdb", tmp_path / "artifacts"
    resources = default_resources(str(db), str(art), PipelineRunConfig(pipeline_yaml=pipeline_yaml(cfg)))
    defs = build_definitions(cfg, resources)
    from dagster_project.jobs import OUTSIDE_FULL_REFRESH  # day partitions and exports have their own jobs

    assets = [a for a in defs.assets if not set(a.group_names_by_key.values()) & set(OUTSIDE_FULL_REFRESH)]
    result = materialize(assets, resources=defs.resources, raise_on_error=False)
    assert result.success, [e.message for e in result.all_events if e.is_failure]

    key_metrics = " ".join(
        str(e.materialization.metadata.get("key_metrics"))
        for e in result.get_asset_materialization_events()
    )
    assert "artist_diversity@4" in key_metrics
    stored = cfg.model_copy(update={"storage": cfg.storage.model_copy(
        update={"database": str(db), "artifacts_dir": str(art)})})
    fs = api.load_features(stored)
    recs = api.open_store(stored).query_df("SELECT user_id, track_id FROM recommendations")
    recs["artist"] = fs.item_features.artist[fs.items.index_of(recs.track_id.to_numpy())]
    assert len(recs) > 0
    assert recs.groupby("user_id")["artist"].agg(lambda s: s.value_counts().max()).max() == 1
