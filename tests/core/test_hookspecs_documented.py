"""Datasette-style discipline: every hookspec is documented in docs/plugins.md and has a
``test_hook_<name>`` in tests/core/test_plugins.py. Adding a hook without both fails here."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from hybridrec_core import hookspecs
from hybridrec_core.interfaces import PluginKind

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted(
    name for name, obj in vars(hookspecs).items()
    if callable(obj) and hasattr(obj, f"{hookspecs.PROJECT}_spec")
)


def _test_functions() -> set[str]:
    tree = ast.parse((ROOT / "tests" / "core" / "test_plugins.py").read_text())
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}


def test_specs_found_and_one_per_kind() -> None:
    assert SPECS == sorted(hookspecs.HOOK_FOR_KIND.values())
    assert set(hookspecs.HOOK_FOR_KIND) == {k.value for k in PluginKind}


@pytest.mark.parametrize("hook", SPECS)
def test_hook_is_documented(hook: str) -> None:
    docs = (ROOT / "docs" / "plugins.md").read_text()
    assert f"### `{hook}`" in docs, f"docs/plugins.md needs a '### `{hook}`' section"
    assert inspect.getdoc(getattr(hookspecs, hook)), f"hookspecs.{hook} needs a docstring"


@pytest.mark.parametrize("hook", SPECS)
def test_hook_is_tested(hook: str) -> None:
    assert f"test_hook_{hook}" in _test_functions(), f"tests/core/test_plugins.py needs test_hook_{hook}"


def test_docs_examples_register_and_work(tmp_path: Path) -> None:
    """Every code example of docs/plugins.md runs, registers through its hook and does its job."""
    import re

    import numpy as np

    from hybridrec_core.interfaces import FitContext, RerankContext
    from hybridrec_core.plugins import PluginManager
    from hybridrec_core.testing import toy_eval_input, toy_feature_set, toy_pool

    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "plugins.md").read_text(), re.S)
    namespace: dict = {"hookimpl": hookspecs.hookimpl}
    for block in blocks:
        if "@hookimpl" in block:
            exec(compile(block, "docs/plugins.md", "exec"), namespace)  # noqa: S102 - our own docs
    module = type("DocsModule", (), {h: staticmethod(namespace[h]) for h in SPECS})
    pm = PluginManager(only=[]).load()
    pm.add_module(module, entry_point="docs", distribution="docs")
    assert {i.name for i in pm.all()} == {"csv_plays", "max_scaler", "recent", "list_fill", "shuffle"}

    csv = tmp_path / "plays.csv"
    csv.write_text("user_id,track_id,plays\nu1,t1,3\nu2,t1,1\n")
    assert len(pm.create("source", "csv_plays", {"path": str(csv)}).load().tracks) == 1
    scaled = pm.create("encoder", "max_scaler").fit(np.array([[1.0, 4.0]])).transform(np.array([[0.5, 2.0]]))
    np.testing.assert_allclose(scaled, [[0.5, 0.5]])
    fs = toy_feature_set()
    model = pm.create("model", "recent")
    model.fit(fs, FitContext())
    assert model.score_items(np.array([1, 2])).shape == (2, fs.n_items)
    assert "list_fill@5" in pm.create("metric", "list_fill").compute(toy_eval_input()).values
    pool = toy_pool(fs)
    out = pm.create("reranker", "shuffle").rerank(pool, 5, RerankContext(fs))
    assert out.items.shape == (pool.items.shape[0], 5) and np.isin(out.items, pool.items).all()
