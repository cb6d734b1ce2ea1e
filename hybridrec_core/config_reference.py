"""Markdown reference of every config field, generated from the pydantic models themselves.

``docs/configuration.md`` is this module's output (``hybridrec config reference --builtin-only``);
a test regenerates it and compares, so the documentation cannot drift from the code.
"""

from __future__ import annotations

import json
import re
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined, to_jsonable_python

from hybridrec_core.config import PipelineConfig
from hybridrec_core.interfaces import PluginKind

BUILTIN_DISTRIBUTION = "hybridrec"
_CONSTRAINTS = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<", "min_length": "min length", "max_length": "max length"}


def _type_name(annotation: Any) -> str:
    """A short, readable type: ``int | None``, ``'random' | 'temporal'``, ``list[int]``."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(annotation))
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(annotation))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    if annotation is type(None):
        return "None"
    if isinstance(annotation, type):
        return annotation.__name__
    return re.sub(r"\btyping\.", "", str(annotation))


def _default(field: FieldInfo) -> Any:
    if field.default_factory is not None:
        return field.default_factory()  # type: ignore[call-arg]
    return None if field.default is PydanticUndefined else field.default


def _default_text(field: FieldInfo) -> str:
    if field.is_required():
        return "*required*"
    return f"`{json.dumps(to_jsonable_python(_default(field)), default=str)}`"


def _constraints(field: FieldInfo) -> str:
    parts = []
    for meta in field.metadata:
        for attr, symbol in _CONSTRAINTS.items():
            value = getattr(meta, attr, None)
            if value is not None:
                parts.append(f"{symbol} {value}")
    return ", ".join(parts)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def model_table(model: type[BaseModel], prefix: str = "") -> tuple[list[str], list[tuple[str, type[BaseModel]]]]:
    """Rows of a markdown table for ``model``'s fields, plus nested models to document next."""
    lines = ["| key | type | default | constraints | description |", "|---|---|---|---|---|"]
    nested: list[tuple[str, type[BaseModel]]] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        sub = _nested_model(field.annotation)
        if sub is not None and sub.__name__ != "PluginSpec":
            nested.append((key, sub))
            default = f"see [`{key}`](#{key.replace('.', '')})"
        else:
            default = _default_text(field)
        desc = field.description or ((sub.__doc__ or "").strip().split("\n")[0] if sub else "")
        lines.append(
            f"| `{key}` | {_cell(_type_name(field.annotation))} | {_cell(default)} | "
            f"{_cell(_constraints(field))} | {_cell(desc)} |"
        )
    return lines, nested


def _pipeline_section() -> list[str]:
    out = ["## Pipeline config", "", (PipelineConfig.__doc__ or "").strip(), ""]
    queue: list[tuple[str, type[BaseModel]]] = [("", PipelineConfig)]
    while queue:
        key, model = queue.pop(0)
        if key:
            out += [f"### `{key}`", "", (model.__doc__ or "").strip(), ""]
        rows, nested = model_table(model, prefix=f"{key}." if key else "")
        out += rows + [""]
        queue += nested
    return out


def _plugin_section(manager: Any, distributions: set[str] | None) -> list[str]:
    out = ["## Plugins", "", "Each plugin's `params` (the `params:` mapping next to its `name:`).", ""]
    for kind in PluginKind:
        infos = [i for i in manager.all(kind) if distributions is None or i.distribution in distributions]
        out += [f"### {kind.value} plugins", ""]
        if not infos:
            out += ["(none installed)", ""]
            continue
        for info in infos:
            out += [f"#### `{info.name}` ({kind.value})", "", info.description or "", ""]
            out += [f"From distribution `{info.distribution}`, entry point `{info.entry_point}`.", ""]
            if not info.cls.Config.model_fields:
                out += ["No parameters.", ""]
                continue
            rows, _ = model_table(info.cls.Config)
            out += rows + [""]
    return out


def generate_reference(manager: Any | None = None, builtin_only: bool = False) -> str:
    """The whole reference as markdown. ``builtin_only`` keeps plugins of the ``hybridrec``
    distribution only (what ``docs/configuration.md`` documents, whatever else is installed)."""
    from hybridrec_core.plugins import get_plugin_manager

    pm = manager or get_plugin_manager()
    header = [
        "# Configuration reference",
        "",
        "<!-- Generated by `hybridrec config reference --builtin-only > docs/configuration.md`;"
        " do not edit by hand. -->",
        "",
        "A pipeline config is YAML, TOML or JSON (`hybridrec config show` prints the effective one;"
        " `hybridrec config schema` prints its JSON schema). Unknown keys are errors, and errors"
        " name the key path, e.g. `models[0].params.embedding_dim`.",
        "",
    ]
    body = _pipeline_section() + _plugin_section(pm, {BUILTIN_DISTRIBUTION} if builtin_only else None)
    text = "\n".join(header + body)
    return re.sub(r"\n{3,}", "\n\n", text).rstrip() + "\n"
