"""Pipeline config: YAML/TOML/JSON loading, errors that point at the offending key, plugin checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from hybridrec_core.config import PipelineConfig, config_from_mapping, load_config
from hybridrec_core.errors import ConfigError
from hybridrec_core.plugins import PluginManager

CONFIG = {
    "seed": 7,
    "source": {"name": "hrtest_source", "params": {"n_tracks": 5}},
    "models": [{"name": "hrtest_constant", "params": {"direction": "down"}}],
    "metrics": [{"name": "hrtest_list_length"}],
    "rerankers": [{"name": "hrtest_reverse", "params": {"keep": 2}}],
    "split": {"method": "temporal", "valid_fraction": 0.2},
    "recommend": {"k": 5, "pool_size": 20},
}
TOML = """
seed = 7
[source]
name = "hrtest_source"
params = { n_tracks = 5 }
[[models]]
name = "hrtest_constant"
params = { direction = "down" }
[[metrics]]
name = "hrtest_list_length"
[[rerankers]]
name = "hrtest_reverse"
params = { keep = 2 }
[split]
method = "temporal"
valid_fraction = 0.2
[recommend]
k = 5
pool_size = 20
"""


@pytest.fixture
def test_plugins(install_test_dist) -> PluginManager:
    install_test_dist("hrtest-allkinds", {"allkinds": "hrtest_allkinds"})
    return PluginManager(only=["allkinds"]).load()


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_yaml_toml_json_give_the_same_config(tmp_path: Path) -> None:
    from_yaml = load_config(_write(tmp_path, "p.yaml", yaml.safe_dump(CONFIG)))
    from_json = load_config(_write(tmp_path, "p.json", json.dumps(CONFIG)))
    from_toml = load_config(_write(tmp_path, "p.toml", TOML))
    assert from_yaml == from_json == from_toml
    assert from_yaml.models[0].params == {"direction": "down"}
    assert from_yaml.split.method == "temporal" and from_yaml.evaluation.k == 10  # defaults fill in
    assert from_yaml.primary_model == "hrtest_constant"


def test_config_round_trips_through_json() -> None:
    cfg = config_from_mapping(CONFIG)
    assert PipelineConfig.model_validate_json(cfg.model_dump_json()) == cfg


def test_empty_file_is_the_default_config(tmp_path: Path) -> None:
    assert load_config(_write(tmp_path, "empty.yml", "")) == PipelineConfig()


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        ({"sed": 1}, "sed: Extra inputs are not permitted"),
        ({"split": {"valid_fraction": 0.7}}, "split.valid_fraction: Input should be less than 0.5"),
        ({"models": [{"name": "a"}, {"params": {}}]}, "models[1].name: Field required"),
        ({"models": []}, "models: List should have at least 1 item"),
        ({"recommend": {"k": 50, "pool_size": 10}}, "pool_size (10) must be >= k (50)"),
        ({"models": [{"name": "a"}, {"name": "a"}]}, "models are listed twice: ['a']"),
        ({"evaluation": {"cold_buckets": [10, 5]}}, "evaluation.cold_buckets: Value error"),
    ],
)
def test_errors_name_the_file_and_key(tmp_path: Path, mapping: dict, expected: str) -> None:
    path = _write(tmp_path, "bad.yaml", yaml.safe_dump(mapping))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert expected in str(info.value)


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("p.yaml", "models: [unclosed", "is not valid YAML"),
        ("p.toml", "seed = = 1", "is not valid TOML"),
        ("p.json", "{seed: 1}", "is not valid JSON"),
        ("p.yaml", "- a\n- b\n", "top level must be a mapping, got list"),
        ("p.ini", "seed=1", "unknown extension '.ini'"),
    ],
)
def test_unreadable_files(tmp_path: Path, name: str, text: str, expected: str) -> None:
    path = _write(tmp_path, name, text)
    with pytest.raises(ConfigError, match="config file") as info:
        load_config(path)
    assert expected in str(info.value) and str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_validate_plugins_accepts_known_plugins(test_plugins: PluginManager) -> None:
    cfg = config_from_mapping({**CONFIG, "encoders": _encoders()})
    cfg.validate_plugins(test_plugins)  # no error


def _encoders() -> dict:
    return {role: {"name": "hrtest_scale"} for role in ("ids", "numeric", "genres", "text", "temporal", "strength")}


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ({"models": [{"name": "hrtest_constnt"}]}, "models[0].name: no model plugin named 'hrtest_constnt'"),
        ({"models": [{"name": "hrtest_constant", "params": {"direction": "sideways"}}]},
         "models[0].params.direction: Input should be 'up' or 'down'"),
        ({"rerankers": [{"name": "hrtest_reverse"}, {"name": "hrtest_reverse", "params": {"kep": 1}}]},
         "rerankers[1].params.kep: Extra inputs are not permitted"),
        ({"source": {"name": "hrtest_source", "params": {"n_tracks": 0}}},
         "source.params.n_tracks: Input should be greater than or equal to 1"),
        ({"encoders": {**_encoders(), "text": {"name": "nope"}}}, "encoders.text.name: no encoder plugin"),
    ],
)
def test_validate_plugins_points_at_the_key(test_plugins: PluginManager, patch: dict, expected: str) -> None:
    cfg = config_from_mapping({**CONFIG, "encoders": _encoders(), **patch})
    with pytest.raises(ConfigError) as info:
        cfg.validate_plugins(test_plugins)
    assert expected in str(info.value)


def test_validate_plugins_suggests_the_closest_name(test_plugins: PluginManager) -> None:
    cfg = config_from_mapping({**CONFIG, "encoders": _encoders(), "metrics": [{"name": "hrtest_list_lenght"}]})
    with pytest.raises(ConfigError, match="did you mean 'hrtest_list_length'"):
        cfg.validate_plugins(test_plugins)
