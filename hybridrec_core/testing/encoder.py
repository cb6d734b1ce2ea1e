"""Conformance tests for encoder plugins.

Usage::

    class TestMyScaler(EncoderTests):
        plugin_class = MyScaler
        fit_data = np.array([[1.0], [2.0], [np.nan]])
        transform_data = np.array([[1.5], [np.nan]])
        empty_data = np.zeros((0, 1))
        unknown_data = np.array([[1e6]])        # values never seen in fit

Outputs may be arrays, tuples/lists of arrays, dicts of arrays, or None.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import numpy as np
import pytest

from hybridrec_core.interfaces import FeatureEncoder
from hybridrec_core.state import State
from hybridrec_core.testing.base import PluginTests

ROLES = ("ids", "numeric", "genres", "text", "temporal", "strength")


def assert_same_output(a: Any, b: Any, path: str = "output") -> None:
    """Deep equality for encoder outputs (NaN-aware)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), f"{path}: keys differ"
        for k in a:
            assert_same_output(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, (tuple, list)):
        assert isinstance(b, (tuple, list)) and len(a) == len(b), f"{path}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_output(x, y, f"{path}[{i}]")
    elif a is None:
        assert b is None, f"{path}: expected None"
    else:
        x, y = np.asarray(a), np.asarray(b)
        assert x.shape == y.shape, f"{path}: shapes {x.shape} != {y.shape}"
        if x.dtype.kind == "f":
            np.testing.assert_array_equal(x, y, err_msg=path)
        else:
            assert x.tolist() == y.tolist(), f"{path}: values differ"


class EncoderTests(PluginTests):
    """Role, fit/transform contract, empty and unknown input, state round-trip (JSON + arrays)."""

    fit_data: ClassVar[Any]
    transform_data: ClassVar[Any]
    empty_data: ClassVar[Any]
    unknown_data: ClassVar[Any]
    fit_kwargs: ClassVar[dict[str, Any]] = {}
    transform_kwargs: ClassVar[dict[str, Any]] = {}

    def output_rows(self, out: Any) -> int | None:
        """Rows an output describes; override for layouts such as CSR (indptr, indices)."""
        if out is None:
            return None
        if isinstance(out, dict):
            return self.output_rows(next(iter(out.values())))
        if isinstance(out, (tuple, list)):
            return int(np.asarray(out[0]).shape[0])
        return int(np.asarray(out).shape[0])

    def fitted_encoder(self, **overrides: Any) -> FeatureEncoder:
        return self.make(**overrides).fit(self.fit_data, **self.fit_kwargs)

    def test_role_is_known(self) -> None:
        assert self.plugin_class.role in ROLES

    def test_transform_before_fit_raises(self) -> None:
        enc = self.make()
        assert not enc.fitted
        with pytest.raises(Exception, match=self.plugin_class.name):
            enc.transform(self.transform_data, **self.transform_kwargs)

    def test_fit_returns_self(self) -> None:
        enc = self.make()
        assert enc.fit(self.fit_data, **self.fit_kwargs) is enc
        assert enc.fitted

    def test_fit_is_deterministic(self) -> None:
        a, b = self.fitted_encoder().get_state(), self.fitted_encoder().get_state()
        assert json.dumps(a.meta, sort_keys=True) == json.dumps(b.meta, sort_keys=True)
        assert a.arrays.keys() == b.arrays.keys()
        for k in a.arrays:
            np.testing.assert_array_equal(a.arrays[k], b.arrays[k])

    def test_state_round_trip(self) -> None:
        enc = self.fitted_encoder()
        state = enc.get_state()
        meta = json.loads(json.dumps(state.meta))  # must survive JSON
        arrays = {k: np.array(v) for k, v in state.arrays.items()}
        for name, arr in arrays.items():
            assert arr.dtype != object, f"state array {name!r} has dtype object (would need pickle)"
        again = type(enc).from_state(State(meta=meta, arrays=arrays))
        assert again.fitted
        assert_same_output(enc.transform(self.transform_data, **self.transform_kwargs),
                           again.transform(self.transform_data, **self.transform_kwargs))

    def test_empty_input(self) -> None:
        out = self.fitted_encoder().transform(self.empty_data, **self.transform_kwargs)
        n = self.output_rows(out)
        assert n in (None, 0), f"empty input gave {n} rows"

    def test_unknown_input(self) -> None:
        out = self.fitted_encoder().transform(self.unknown_data, **self.transform_kwargs)
        assert out is None or self.output_rows(out) == len(self.unknown_data)

    def test_fit_on_empty_input(self) -> None:
        enc = self.make().fit(self.empty_data, **{k: (v[:0] if hasattr(v, "__getitem__") else v) for k, v in self.fit_kwargs.items()})
        assert enc.fitted
        enc.transform(self.transform_data, **self.transform_kwargs)
