"""The ``hybridrec`` command line: output of every subcommand and the one-line error contract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hybridrec_core import __version__, plugins
from hybridrec_core.cli import format_table, main
from hybridrec_core.config import PipelineConfig, load_config
from hybridrec_core.config_reference import generate_reference
from hybridrec_core.plugins import PluginManager

ROOT = Path(__file__).resolve().parents[2]

TINY = {
    "source": {"name": "demo", "params": {"n_users": 80, "n_tracks": 120, "n_artists": 30, "n_genres": 5,
                                          "n_interactions": 2500}},
    "models": [{"name": "popularity"}],
    "metrics": [{"name": "ranking"}],
    "evaluation": {"k": 5},
    "recommend": {"k": 5, "pool_size": 20},
}


@pytest.fixture
def fresh_manager(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI uses the process-wide manager; start each test from an unloaded one."""
    monkeypatch.setattr(plugins, "_default", None)


@pytest.fixture
def only_test_plugins(install_test_dist, fresh_manager, monkeypatch) -> None:
    install_test_dist("hrtest-allkinds", {"allkinds": "hrtest_allkinds"}, version="1.2.3")
    monkeypatch.setenv("HYBRIDREC_LOAD_PLUGINS", "allkinds")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"hybridrec {__version__}"


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "hybridrec"
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == f"hybridrec {__version__}"


def test_plugins_table(only_test_plugins, capsys) -> None:
    code, out, err = run(capsys, "plugins")
    lines = out.splitlines()
    assert code == 0 and err == ""
    assert lines[0].split() == ["name", "kind", "distribution", "version", "description"]
    assert len(lines) == 2 + 5  # header, rule, one plugin per kind
    row = next(line for line in lines if line.startswith("hrtest_reverse"))
    assert row.split()[:4] == ["hrtest_reverse", "reranker", "hrtest-allkinds", "1.2.3"]
    assert row.endswith("Reverses the order of the valid candidates (worst first).")


def test_plugins_json_and_kind_filter(only_test_plugins, capsys) -> None:
    code, out, _ = run(capsys, "plugins", "--json", "--kind", "metric")
    [entry] = json.loads(out)
    assert code == 0
    assert entry == {
        "name": "hrtest_list_length", "kind": "metric", "distribution": "hrtest-allkinds", "version": "1.2.3",
        "entry_point": "allkinds", "description": "Mean number of filled slots per list.",
        "class": "hrtest_allkinds.ListLength",
    }


def test_plugins_reports_a_broken_entry_point(install_test_dist, fresh_manager, monkeypatch, capsys) -> None:
    install_test_dist("hrtest-allkinds", {"allkinds": "hrtest_allkinds"})
    install_test_dist("hrtest-broken", {"broken": "hrtest_broken"})
    monkeypatch.setenv("HYBRIDREC_LOAD_PLUGINS", "allkinds,broken")
    code, out, err = run(capsys, "plugins", "--kind", "model")
    assert code == 0 and "hrtest_constant" in out
    assert "warning: entry point 'broken' from 'hrtest-broken' failed to load: ModuleNotFoundError" in err


def test_builtin_plugins_come_from_entry_points(fresh_manager, capsys) -> None:
    _, out, _ = run(capsys, "plugins", "--json")
    builtins = [p for p in json.loads(out) if p["distribution"] == "hybridrec"]
    assert {p["kind"] for p in builtins} == {"source", "encoder", "model", "metric", "reranker"}
    assert all(p["class"].startswith("hybridrec_plugins.") for p in builtins)


def test_config_show_round_trips(tmp_path: Path, capsys) -> None:
    path = tmp_path / "p.toml"
    path.write_text('seed = 3\n[recommend]\nk = 7\n')
    code, out, _ = run(capsys, "config", "show", "--config", str(path))
    shown = yaml.safe_load(out)
    assert code == 0
    assert shown["seed"] == 3 and shown["recommend"]["k"] == 7 and shown["evaluation"]["k"] == 10
    assert PipelineConfig.model_validate(shown) == load_config(path)
    _, default_out, _ = run(capsys, "config", "show")
    assert PipelineConfig.model_validate(yaml.safe_load(default_out)) == PipelineConfig()


def test_config_schema(capsys) -> None:
    code, out, _ = run(capsys, "config", "schema")
    schema = json.loads(out)
    assert code == 0 and schema["title"] == "PipelineConfig"
    assert {"models", "rerankers", "split", "storage"} <= set(schema["properties"])


def test_config_reference_documents_plugins(only_test_plugins, tmp_path: Path, capsys) -> None:
    target = tmp_path / "ref.md"
    code, _, _ = run(capsys, "config", "reference", "--output", str(target))
    text = target.read_text()
    assert code == 0
    assert "| `split.valid_fraction` | float | `0.1` | ≥ 0.0, < 0.5 | Share for validation. |" in text
    assert "#### `hrtest_reverse` (reranker)" in text
    assert "| `keep` | int | `0` | ≥ 0 | Leading items kept in place. |" in text
    assert "| `direction` | 'up' \\| 'down' | `\"up\"` |  | Higher index first or last. |" in text
    code, _, _ = run(capsys, "config", "reference", "--builtin-only", "--output", str(target))
    assert "hrtest_reverse" not in target.read_text()


def test_committed_configuration_reference_is_up_to_date() -> None:
    committed = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    fresh = generate_reference(PluginManager(only=["hybridrec"]).load(), builtin_only=True)
    assert committed == fresh, (
        "docs/configuration.md is stale: run `hybridrec config reference --builtin-only "
        "--output docs/configuration.md`"
    )


def test_errors_are_one_line_and_exit_2(tmp_path: Path, capsys) -> None:
    code, out, err = run(capsys, "config", "show", "--config", str(tmp_path / "missing.yaml"))
    assert (code, out) == (2, "")
    assert err == f"hybridrec: error: config file {tmp_path / 'missing.yaml'} does not exist\n"
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: x\nsplit: {test_fraction: 0.9}\n")
    code, _, err = run(capsys, "config", "show", "--config", str(bad))
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "seed: Input should be a valid integer" in err and "split.test_fraction: Input should be less than 0.5" in err


def test_unknown_plugin_in_config_is_a_clean_error(only_test_plugins, tmp_path: Path, capsys) -> None:
    roles = ("ids", "numeric", "genres", "text", "temporal", "strength")
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({
        "source": {"name": "hrtest_source"},
        "encoders": {role: {"name": "hrtest_scale"} for role in roles},
        "models": [{"name": "hrtest_constnt"}],
        "metrics": [],
    }))
    code, out, err = run(capsys, "train", "--config", str(path))
    assert (code, out) == (2, "")
    assert err == (
        "hybridrec: error: models[0].name: no model plugin named 'hrtest_constnt'; known model plugins: "
        "hrtest_constant; did you mean 'hrtest_constant'?\n"
    )


def test_recommend_before_train_says_what_to_do(tmp_path: Path, capsys) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({**TINY, "storage": {"database": str(tmp_path / "none.duckdb")}}))
    code, _, err = run(capsys, "recommend", "--config", str(path), "--user", "u1")
    assert code == 2 and "run `hybridrec train` first" in err


@pytest.mark.slow
def test_train_evaluate_recommend(fresh_manager, tmp_path: Path, capsys) -> None:
    cfg = {**TINY, "storage": {"database": str(tmp_path / "db.duckdb"), "artifacts_dir": str(tmp_path / "art")}}
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(cfg))
    code, out, err = run(capsys, "train", "--config", str(path), "--no-progress")
    assert code == 0, err
    assert out.startswith("trained popularity in ")

    report = tmp_path / "report"
    code, out, err = run(capsys, "evaluate", "--config", str(path), "--report-dir", str(report))
    assert code == 0, err
    assert "popularity" in out and "ndcg@5" in out and any(report.iterdir())

    from hybridrec_core import api

    users = api.load_features(load_config(path)).users.ids[1:3].tolist()
    code, out, err = run(capsys, "recommend", "--config", str(path), "--user", users[0], "--user", users[1], "-k", "3")
    lines = out.splitlines()
    assert code == 0, err
    assert lines[0].split() == ["user", "rank", "track", "artist", "genres", "score"]
    assert len(lines) == 2 + 2 * 3
    assert [line.split()[1] for line in lines[2:5]] == ["1", "2", "3"]


@pytest.mark.slow
def test_demo(fresh_manager, tmp_path: Path, capsys) -> None:
    start = tmp_path / "tiny.yaml"
    start.write_text(yaml.safe_dump(TINY))
    out_dir = tmp_path / "demo"
    code, out, err = run(capsys, "demo", "--out", str(out_dir), "--config", str(start), "--users", "2", "-k", "4")
    assert code == 0, err
    assert (out_dir / "hybridrec.duckdb").exists() and (out_dir / "recommendations.csv").exists()
    assert f"all results are in {out_dir}" in out
    assert any((out_dir / "report").iterdir())


def test_format_table_aligns_columns() -> None:
    text = format_table([{"a": "x", "b": 1}, {"a": "longer", "b": None}], ["a", "b"])
    assert text.splitlines() == ["a       b", "------  -", "x       1", "longer"]


def test_recommendations_table_is_readable() -> None:
    import pandas as pd

    from hybridrec_core.cli import recommendations_table

    frame = pd.DataFrame({
        "user_id": ["u1", "u1"], "rank": [1, 2], "track_id": ["t9", "t3"], "score": [0.91234, 0.5],
        "title": ["Song A", None], "artist": ["Band", "Solo"], "genres": ["rock, pop", ""], "reranked_by": ["", ""],
    })
    assert recommendations_table(frame).splitlines() == [
        "user  rank  track   artist  genres     score",
        "----  ----  ------  ------  ---------  ------",
        "u1    1     Song A  Band    rock, pop  0.9123",
        "u1    2     t3      Solo               0.5000",
    ]
