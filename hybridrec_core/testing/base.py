"""Conformance tests every plugin inherits (lenskit-style).

Usage in a plugin author's test module::

    from hybridrec_core.testing import ModelTests

    class TestMyModel(ModelTests):
        plugin_class = MyModel
        example_params = {"factors": 8}

Per-kind classes live next to this one and add behaviour checks.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pytest

from hybridrec_core.errors import PluginConfigError
from hybridrec_core.interfaces import KIND_BASES, Plugin
from hybridrec_core.plugins import get_plugin_manager


class PluginTests:
    """Checks shared by every kind: metadata, config validation and JSON round-trip,
    registration through the ``hybridrec`` entry-point group."""

    plugin_class: ClassVar[type[Plugin]]
    example_params: ClassVar[dict[str, Any]] = {}
    registered: ClassVar[bool] = True  # set False for a plugin tested before it is installed

    def make(self, **overrides: Any) -> Plugin:
        return self.plugin_class({**self.example_params, **overrides})

    def test_metadata(self) -> None:
        cls = self.plugin_class
        assert isinstance(cls.name, str) and cls.name.strip(), "plugin needs a non-empty name"
        assert cls.kind in KIND_BASES and issubclass(cls, KIND_BASES[cls.kind])
        assert (cls.description or cls.__doc__ or "").strip(), "plugin needs a description"

    def test_config_defaults_are_documented(self) -> None:
        for fname, field in self.plugin_class.Config.model_fields.items():
            assert field.description, f"{self.plugin_class.name}: config field {fname!r} has no description"

    def test_config_json_round_trip(self) -> None:
        cfg = self.make().config
        again = self.plugin_class.Config.model_validate(json.loads(cfg.model_dump_json()))
        assert again == cfg

    def test_config_rejects_unknown_field(self) -> None:
        with pytest.raises(PluginConfigError) as info:
            self.plugin_class({**self.example_params, "no_such_field_xyz": 1})
        assert self.plugin_class.name in str(info.value)
        assert "no_such_field_xyz" in str(info.value)

    def test_registered_through_entry_points(self) -> None:
        if not self.registered:
            pytest.skip("plugin not installed in this environment")
        info = get_plugin_manager().get(self.plugin_class.kind, self.plugin_class.name)
        assert info.cls is self.plugin_class
