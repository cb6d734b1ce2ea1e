"""The plugin system: registry rules, entry-point loading through real (test) distributions, and
every error path. One ``test_hook_<name>`` per hookspec (checked by test_hookspecs_documented)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from hybridrec_core import plugins
from hybridrec_core.errors import (
    DuplicatePluginError,
    PluginConfigError,
    PluginError,
    PluginLoadError,
    UnknownPluginError,
)
from hybridrec_core.hookspecs import hookimpl
from hybridrec_core.interfaces import Candidates, PluginKind, RerankContext
from hybridrec_core.plugins import PluginManager, PluginRegistry
from hybridrec_core.testing import toy_feature_set

ALLKINDS = {"allkinds": "hrtest_allkinds"}


@pytest.fixture
def allkinds(install_test_dist) -> PluginManager:
    """A manager that loaded only the hrtest-allkinds distribution (via HYBRIDREC_LOAD_PLUGINS)."""
    install_test_dist("hrtest-allkinds", ALLKINDS, version="1.2.3")
    return PluginManager(only=["hrtest-allkinds"]).load()


# -- registry ------------------------------------------------------------------------------------
def _reranker(name: str):
    from hybridrec_core.interfaces import ReRanker

    return type(f"R_{name}", (ReRanker,), {"name": name, "rerank": lambda self, c, k, ctx: c})


def test_registry_groups_by_kind_and_sorts_names() -> None:
    reg = PluginRegistry()
    for n in ("zeta", "alpha"):
        reg.add(_reranker(n), distribution="d", version="1", entry_point="e")
    assert reg.names("reranker") == ["alpha", "zeta"]
    assert reg.names("model") == []
    assert [i.name for i in reg.all()] == ["alpha", "zeta"]


def test_registry_same_class_twice_is_idempotent() -> None:
    reg = PluginRegistry()
    cls = _reranker("same")
    reg.add(cls, distribution="d", version="1", entry_point="e")
    reg.add(cls, distribution="d", version="1", entry_point="e")
    assert reg.names(PluginKind.RERANKER) == ["same"]


def test_registry_rejects_non_plugin_and_nameless() -> None:
    reg = PluginRegistry()
    with pytest.raises(PluginError, match="not a subclass of DataSource"):
        reg.add(dict, distribution="evil-dist", version="1", entry_point="ep")
    nameless = type("Nameless", (_reranker("x"),), {"name": ""})
    with pytest.raises(PluginError, match="Nameless from entry point 'ep' .distribution d. has no 'name'"):
        reg.add(nameless, distribution="d", version="1", entry_point="ep")


def test_unknown_name_lists_known_and_closest(allkinds: PluginManager) -> None:
    with pytest.raises(UnknownPluginError) as info:
        allkinds.get("reranker", "hrtest_revers")
    msg = str(info.value)
    assert "known reranker plugins: hrtest_reverse" in msg
    assert "did you mean 'hrtest_reverse'?" in msg
    with pytest.raises(UnknownPluginError, match=r"known model plugins: hrtest_constant$"):
        allkinds.get("model", "zzz")


def test_bad_config_names_plugin_and_field(allkinds: PluginManager) -> None:
    with pytest.raises(PluginConfigError) as info:
        allkinds.create("reranker", "hrtest_reverse", {"keep": -1})
    assert "reranker plugin 'hrtest_reverse'" in str(info.value)
    assert "keep" in str(info.value) and "greater than or equal to 0" in str(info.value)


# -- entry points of real distributions ------------------------------------------------------------
def test_entry_point_metadata_comes_from_the_distribution(allkinds: PluginManager) -> None:
    info = allkinds.get("metric", "hrtest_list_length")
    assert (info.distribution, info.version, info.entry_point) == ("hrtest-allkinds", "1.2.3", "allkinds")
    assert info.as_dict()["class"] == "hrtest_allkinds.ListLength"
    assert info.description == "Mean number of filled slots per list."
    assert allkinds.failures == []


def test_builtins_load_from_our_own_entry_points() -> None:
    pm = PluginManager(only=["hybridrec"]).load()
    assert pm.failures == [], pm.failures
    infos = pm.all()
    assert infos, "no built-in plugins registered"
    assert {i.distribution for i in infos} == {"hybridrec"}
    assert {i.entry_point for i in infos} <= {"sources", "encoders", "models", "metrics", "rerankers"}
    for info in infos:  # each built-in lives in the entry point of its own kind
        assert info.entry_point == f"{info.kind.value}s"


def test_loading_is_lazy_and_idempotent(install_test_dist) -> None:
    install_test_dist("hrtest-allkinds", ALLKINDS)
    pm = PluginManager(only=["allkinds"])
    assert pm.registry.all() == []  # nothing happens before first use
    first = pm.get("model", "hrtest_constant")
    pm.load()
    pm.load()
    assert pm.get("model", "hrtest_constant") is first
    assert len(pm.pm.get_plugins()) == 1


def test_process_wide_manager_is_cached_and_resettable(install_test_dist, monkeypatch) -> None:
    monkeypatch.setattr(plugins, "_default", None)
    monkeypatch.setenv("HYBRIDREC_LOAD_PLUGINS", "allkinds")
    install_test_dist("hrtest-allkinds", ALLKINDS)
    pm = plugins.get_plugin_manager()
    assert plugins.get_plugin_manager() is pm
    assert plugins.create("reranker", "hrtest_reverse", {"keep": 1}).config.keep == 1
    plugins.reset_plugin_manager()
    assert plugins.get_plugin_manager() is not pm


def test_env_restricts_loading_by_entry_point_or_distribution(install_test_dist, monkeypatch) -> None:
    install_test_dist("hrtest-allkinds", ALLKINDS)
    install_test_dist("hrtest-dupe", {"dupe": "hrtest_dupe"})
    monkeypatch.setenv("HYBRIDREC_LOAD_PLUGINS", "hrtest-dupe")
    pm = PluginManager().load()
    assert [(i.name, i.distribution) for i in pm.all()] == [("hrtest_reverse", "hrtest-dupe")]
    monkeypatch.setenv("HYBRIDREC_LOAD_PLUGINS", " allkinds , nothing-else ")
    pm = PluginManager().load()
    assert {i.distribution for i in pm.all()} == {"hrtest-allkinds"}
    monkeypatch.setenv("HYBRIDREC_LOAD_PLUGINS", "")
    assert PluginManager().load().all() == []


def test_duplicate_kind_and_name_names_both_distributions(install_test_dist) -> None:
    install_test_dist("hrtest-allkinds", ALLKINDS)
    install_test_dist("hrtest-dupe", {"dupe": "hrtest_dupe"})
    with pytest.raises(DuplicatePluginError) as info:
        PluginManager(only=["allkinds", "dupe"]).load()
    msg = str(info.value)
    assert "'hrtest_reverse'" in msg and "'hrtest-allkinds'" in msg and "'hrtest-dupe'" in msg
    assert "HYBRIDREC_LOAD_PLUGINS" in msg


def test_same_name_in_different_kinds_is_fine() -> None:
    from hybridrec_core.interfaces import Metric, MetricResult

    pm = PluginManager(only=[]).load()
    metric = type("M", (Metric,), {"name": "shared", "compute": lambda self, d: MetricResult({})})

    class Mod:
        @staticmethod
        @hookimpl
        def register_metrics(register):
            register(metric)

        @staticmethod
        @hookimpl
        def register_rerankers(register):
            register(_reranker("shared"))

    pm.add_module(Mod, entry_point="both", distribution="inline")
    assert pm.get("metric", "shared").cls is metric
    assert pm.get("reranker", "shared").kind is PluginKind.RERANKER


def test_failing_import_warns_and_others_still_work(install_test_dist, caplog) -> None:
    install_test_dist("hrtest-allkinds", ALLKINDS)
    install_test_dist("hrtest-broken", {"broken": "hrtest_broken"}, version="0.0.1")
    with caplog.at_level(logging.WARNING, logger="hybridrec_core.plugins"):
        pm = PluginManager(only=["allkinds", "broken"]).load()
    [failure] = pm.failures
    assert (failure.entry_point, failure.distribution) == ("broken", "hrtest-broken")
    assert "ModuleNotFoundError" in failure.error and "hrtest_no_such_module_xyz" in failure.error
    assert "'broken'" in caplog.text and "'hrtest-broken'" in caplog.text
    assert pm.get("reranker", "hrtest_reverse").distribution == "hrtest-allkinds"


def test_failing_import_raises_in_strict_mode(install_test_dist, monkeypatch) -> None:
    install_test_dist("hrtest-broken", {"broken": "hrtest_broken"})
    monkeypatch.setenv("HYBRIDREC_STRICT_PLUGINS", "1")
    with pytest.raises(PluginLoadError) as info:
        PluginManager(only=["broken"]).load()
    msg = str(info.value)
    assert "'broken'" in msg and "'hrtest-broken'" in msg and "hrtest_no_such_module_xyz" in msg
    assert isinstance(info.value.__cause__, ModuleNotFoundError)


def test_hook_that_raises_is_reported_like_an_import_failure(install_test_dist) -> None:
    install_test_dist("hrtest-hookfails", {"hookfails": "hrtest_hookfails"})
    pm = PluginManager(only=["hookfails"]).load()
    [failure] = pm.failures
    assert failure.distribution == "hrtest-hookfails"
    assert "RuntimeError: metric backend unavailable" in failure.error
    with pytest.raises(PluginLoadError, match="metric backend unavailable"):
        PluginManager(only=["hookfails"], strict=True).load()


def test_check_pending_catches_misspelled_hook(install_test_dist) -> None:
    install_test_dist("hrtest-typo", {"typo": "hrtest_typo"})
    with pytest.raises(PluginLoadError, match="register_rerankerz"):
        PluginManager(only=["typo"]).load()


# -- one test per hookspec: a plugin registered through it arrives under its kind and works ----------
def test_hook_register_sources(allkinds: PluginManager) -> None:
    info = allkinds.get("source", "hrtest_source")
    assert info.kind is PluginKind.SOURCE
    data = allkinds.create("source", "hrtest_source", {"n_tracks": 4}).load()
    assert len(data.tracks) == 4 and list(data.interactions.plays) == [1, 2, 3, 4]


def test_hook_register_encoders(allkinds: PluginManager) -> None:
    enc = allkinds.create("encoder", "hrtest_scale").fit(np.array([1.0, 4.0]))
    again = type(enc).from_state(enc.get_state())
    np.testing.assert_allclose(again.transform(np.array([2.0])), [0.5])
    assert allkinds.get("encoder", "hrtest_scale").kind is PluginKind.ENCODER


def test_hook_register_models(allkinds: PluginManager) -> None:
    from hybridrec_core.interfaces import FitContext

    fs = toy_feature_set(n_users=5, n_items=6, per_user=2)
    model = allkinds.create("model", "hrtest_constant", {"direction": "down"})
    model.fit(fs, FitContext())
    scores = model.score_items(np.array([1, 2]))
    assert scores.shape == (2, 6) and scores[0, 5] < scores[0, 1]
    np.testing.assert_allclose(model.score(np.array([1]), np.array([3])), [-3.0])


def test_hook_register_metrics(allkinds: PluginManager) -> None:
    from hybridrec_core.interfaces import EvalInput

    fs = toy_feature_set(n_users=5, n_items=6, per_user=2)
    topk = np.array([[1, 2, -1], [3, -1, -1]])
    result = allkinds.create("metric", "hrtest_list_length").compute(EvalInput(np.array([1, 2]), 3, fs, topk=topk))
    assert result.values == {"filled": 1.5}


def test_hook_register_rerankers(allkinds: PluginManager) -> None:
    fs = toy_feature_set(n_users=5, n_items=6, per_user=2)
    cand = Candidates(
        np.array([1]), np.array([[4, 2, 5, -1]]), np.array([[0.9, 0.5, 0.1, -np.inf]], dtype=np.float32)
    )
    out = allkinds.create("reranker", "hrtest_reverse").rerank(cand, 2, RerankContext(fs))
    assert out.items.tolist() == [[5, 2]]
