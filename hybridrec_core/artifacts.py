"""Model artifacts: one folder per model, safetensors weights + a ``model.json`` manifest.

Layout::

    <path>/model.json            plugin name, config, state meta, history, data fingerprint,
                                 encoder state (JSON part), library + format version, version id
    <path>/weights.safetensors   Model.get_state().arrays
    <path>/encoders.safetensors  array part of FeatureSet.encoder_state (when there is one)

Nothing is pickled: safetensors holds only numeric arrays, the manifest is JSON. Saves are
atomic per folder: the new artifact is written to a temp folder beside the target and swapped in
by rename, so a failed save leaves the previous artifact intact.

Fingerprint policy: loading against a FeatureSet whose training-data fingerprint differs from the
one saved emits :class:`FingerprintWarning` (scores still make sense when the vocabularies are the
same, e.g. a re-split); ``strict=True`` makes it an :class:`ArtifactError`. Vocabulary size
mismatches are always errors.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from hybridrec_core import __version__
from hybridrec_core.dataset import FeatureSet
from hybridrec_core.errors import ArtifactError, HybridrecError
from hybridrec_core.interfaces import Model, PluginKind, TrainingHistory
from hybridrec_core.state import State

FORMAT_VERSION = 1
MANIFEST = "model.json"
WEIGHTS = "weights.safetensors"
ENCODERS = "encoders.safetensors"


class FingerprintWarning(UserWarning):
    """The artifact was trained on different data than the FeatureSet it is loaded with."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _split_arrays(obj: Any, prefix: str, arrays: dict[str, np.ndarray]) -> Any:
    """Replace numpy arrays (and torch tensors) in a nested structure by ``{"__array__": key}``."""
    if isinstance(obj, dict):
        return {str(k): _split_arrays(v, f"{prefix}/{k}", arrays) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_split_arrays(v, f"{prefix}/{i}", arrays) for i, v in enumerate(obj)]
    if hasattr(obj, "detach") and hasattr(obj, "cpu"):
        obj = obj.detach().cpu().numpy()
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            return obj.tolist()
        arrays[prefix] = np.ascontiguousarray(obj)
        return {"__array__": prefix}
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _join_arrays(obj: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            return arrays[obj["__array__"]]
        return {k: _join_arrays(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_join_arrays(v, arrays) for v in obj]
    return obj


def _weights_dict(arrays: dict[str, Any]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for key, arr in arrays.items():
        if hasattr(arr, "detach"):
            arr = arr.detach().cpu().numpy()
        arr = np.asarray(arr)
        if arr.dtype == object:
            raise ArtifactError(f"state array {key!r} has dtype object; only numeric arrays can be saved")
        out[key] = np.ascontiguousarray(arr)
    return out


def save_model(model: Model, path: Path, *, features: FeatureSet, history: TrainingHistory) -> Path:
    """Write ``model`` to the folder ``path`` (replacing an existing artifact atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = model.get_state()
    weights = _weights_dict(state.arrays)
    enc_arrays: dict[str, np.ndarray] = {}
    enc_json = _split_arrays(features.encoder_state or {}, "enc", enc_arrays)
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir()
        save_file(weights, str(tmp / WEIGHTS))
        if enc_arrays:
            save_file(enc_arrays, str(tmp / ENCODERS))
        manifest = {
            "format_version": FORMAT_VERSION,
            "hybridrec_version": __version__,
            "version_id": uuid.uuid4().hex,
            "created_at": datetime.now(timezone.utc).isoformat(),
            "plugin": {"kind": PluginKind.MODEL.value, "name": model.name, "class": type(model).__qualname__},
            "config": json.loads(model.config.model_dump_json()),
            "meta": state.meta,
            "history": history.to_dict(),
            "data_fingerprint": features.fingerprint(),
            "vocab_sizes": {
                "users": features.n_users, "items": features.n_items,
                "artists": features.n_artists, "genres": features.n_genres,
            },
            "encoder_state": enc_json,
            "arrays": {k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in weights.items()},
            "weights_sha256": _sha256(tmp / WEIGHTS),
            "encoders_sha256": _sha256(tmp / ENCODERS) if enc_arrays else None,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, default=_json_default), encoding="utf-8")
        old = None
        if path.exists():
            old = path.parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def read_manifest(path: Path) -> dict[str, Any]:
    """The parsed ``model.json`` of an artifact folder, with clear errors."""
    path = Path(path)
    if not path.is_dir():
        raise ArtifactError(f"model artifact {path} does not exist (or is not a folder)")
    mpath = path / MANIFEST
    if not mpath.exists():
        raise ArtifactError(f"model artifact {path} has no {MANIFEST}")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"model artifact {mpath} is corrupt (not valid JSON): {exc}") from exc
    if not isinstance(manifest, dict):
        raise ArtifactError(f"model artifact {mpath} is corrupt (top level is not an object)")
    fmt = manifest.get("format_version")
    if fmt != FORMAT_VERSION:
        raise ArtifactError(
            f"model artifact {path} has format version {fmt!r} (written by hybridrec "
            f"{manifest.get('hybridrec_version', '?')}); this hybridrec ({__version__}) reads format "
            f"{FORMAT_VERSION}. Retrain the model or load it with a matching hybridrec version."
        )
    for key in ("plugin", "config", "meta", "history", "weights_sha256"):
        if key not in manifest:
            raise ArtifactError(f"model artifact {mpath} is corrupt: key {key!r} missing")
    return manifest


def _load_arrays(file: Path, sha: str | None) -> dict[str, np.ndarray]:
    if not file.exists():
        raise ArtifactError(f"model artifact file {file} is missing")
    if sha is not None and _sha256(file) != sha:
        raise ArtifactError(f"model artifact file {file} is corrupt (checksum does not match model.json)")
    try:
        return load_file(str(file))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ArtifactError(f"model artifact file {file} is corrupt: {exc}") from exc


def load_encoder_state(path: Path) -> dict[str, Any]:
    """The FeatureSet.encoder_state saved with an artifact (JSON part + arrays)."""
    manifest = read_manifest(path)
    arrays = {}
    if manifest.get("encoders_sha256"):
        arrays = _load_arrays(Path(path) / ENCODERS, manifest["encoders_sha256"])
    return _join_arrays(manifest.get("encoder_state") or {}, arrays)


def load_model(path: Path, features: FeatureSet, *, strict: bool = False) -> tuple[Model, TrainingHistory]:
    """Rebuild the saved model against ``features``; see the module doc for the fingerprint policy."""
    from hybridrec_core.plugins import get_plugin_manager

    path = Path(path)
    manifest = read_manifest(path)
    arrays = _load_arrays(path / WEIGHTS, manifest["weights_sha256"])
    name = manifest["plugin"].get("name")
    sizes = manifest.get("vocab_sizes") or {}
    have = {"users": features.n_users, "items": features.n_items, "artists": features.n_artists, "genres": features.n_genres}
    bad = {k: (v, have[k]) for k, v in sizes.items() if k in have and have[k] != v}
    if bad:
        detail = ", ".join(f"{k}: saved {a}, now {b}" for k, (a, b) in bad.items())
        raise ArtifactError(f"model artifact {path} ({name}) does not fit this FeatureSet's vocabularies ({detail})")
    fp = features.fingerprint()
    if manifest.get("data_fingerprint") != fp:
        msg = (
            f"model artifact {path} ({name}) was trained on data with fingerprint "
            f"{manifest.get('data_fingerprint')}, this FeatureSet has {fp}"
        )
        if strict:
            raise ArtifactError(msg)
        warnings.warn(msg, FingerprintWarning, stacklevel=2)
    try:
        cls = get_plugin_manager().get(PluginKind.MODEL, name).cls
    except HybridrecError as exc:
        raise ArtifactError(f"model artifact {path}: cannot resolve plugin {name!r}: {exc}") from exc
    try:
        config = cls.make_config(manifest["config"])
        model = cls.from_state(State(meta=manifest["meta"], arrays=arrays), features, config)
    except HybridrecError as exc:
        raise ArtifactError(f"model artifact {path} ({name}) could not be rebuilt: {exc}") from exc
    except (ValueError, KeyError, RuntimeError) as exc:
        raise ArtifactError(f"model artifact {path} ({name}) could not be rebuilt: {type(exc).__name__}: {exc}") from exc
    history = TrainingHistory.from_dict(manifest["history"])
    return model, history
