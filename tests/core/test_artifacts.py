"""Model artifacts: round trip, atomic replace, and clear errors for bad artifacts."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hybridrec_core.artifacts import (
    FORMAT_VERSION, MANIFEST, WEIGHTS, FingerprintWarning, load_encoder_state, load_model, read_manifest, save_model,
)
from hybridrec_core.errors import ArtifactError
from hybridrec_core.interfaces import FitContext
from hybridrec_core.testing import toy_feature_set
from hybridrec_plugins.models.hybrid import HybridMusicRecommender
from hybridrec_plugins.models.mf import ImplicitALS

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    fs = toy_feature_set()
    fs.encoder_state = {"strength": {"min": 0.0, "max": 5.5, "bins": np.arange(4, dtype=np.float32)}}
    model = HybridMusicRecommender({"embedding_dim": 8, "hidden_layers": [16], "epochs": 2, "batch_size": 512})
    history = model.fit(fs, FitContext(seed=0, device="cpu"))
    path = save_model(model, tmp_path_factory.mktemp("a") / "hybrid", features=fs, history=history)
    return model, fs, history, path


def test_manifest_contents(saved) -> None:
    model, fs, history, path = saved
    m = read_manifest(path)
    assert m["format_version"] == FORMAT_VERSION and m["plugin"]["name"] == "hybrid"
    assert m["config"] == json.loads(model.config.model_dump_json())
    assert m["data_fingerprint"] == fs.fingerprint() and m["version_id"] and m["created_at"]
    assert m["history"]["best_epoch"] == history.best_epoch
    enc = load_encoder_state(path)
    assert enc["strength"]["max"] == 5.5 and np.array_equal(enc["strength"]["bins"], np.arange(4))


def test_loaded_model_scores_exactly_like_saved(saved) -> None:
    model, fs, _, path = saved
    loaded, history = load_model(path, fs)
    users = np.arange(fs.n_users)
    assert torch.equal(loaded.score_items(users), model.score_items(users))
    assert history.best_epoch is not None


def test_weights_are_safetensors_not_pickle(saved) -> None:
    _, _, _, path = saved
    header_len = int.from_bytes((path / WEIGHTS).read_bytes()[:8], "little")
    header = json.loads((path / WEIGHTS).read_bytes()[8 : 8 + header_len])
    assert "user_emb.weight" in header
    assert not list(path.glob("*.pkl")) and not list(path.glob("*.pt"))


def test_corrupt_weights_give_artifact_error(saved, tmp_path) -> None:
    model, fs, history, _ = saved
    path = save_model(model, tmp_path / "m", features=fs, history=history)
    data = bytearray((path / WEIGHTS).read_bytes())
    data[-10:] = b"\x00" * 10
    (path / WEIGHTS).write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="corrupt"):
        load_model(path, fs)


def test_missing_and_broken_files(saved, tmp_path) -> None:
    model, fs, history, _ = saved
    with pytest.raises(ArtifactError, match="does not exist"):
        load_model(tmp_path / "nope", fs)
    path = save_model(model, tmp_path / "m", features=fs, history=history)
    (path / WEIGHTS).unlink()
    with pytest.raises(ArtifactError, match="missing"):
        load_model(path, fs)
    (path / MANIFEST).write_text("{not json")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load_model(path, fs)


def test_incompatible_format_version(saved, tmp_path) -> None:
    model, fs, history, _ = saved
    path = save_model(model, tmp_path / "m", features=fs, history=history)
    m = json.loads((path / MANIFEST).read_text())
    m["format_version"] = FORMAT_VERSION + 1
    (path / MANIFEST).write_text(json.dumps(m))
    with pytest.raises(ArtifactError, match="format version"):
        load_model(path, fs)


def test_fingerprint_mismatch_warns_or_raises(saved) -> None:
    _, fs, _, path = saved
    other = toy_feature_set(seed=1)  # same vocab sizes, different interactions
    with pytest.warns(FingerprintWarning):
        load_model(path, other)
    with pytest.raises(ArtifactError, match="fingerprint"):
        load_model(path, other, strict=True)
    with pytest.raises(ArtifactError, match="vocabularies"):
        load_model(path, toy_feature_set(n_users=50))


def test_failed_save_keeps_previous_artifact(saved, tmp_path) -> None:
    model, fs, history, _ = saved
    path = save_model(model, tmp_path / "m", features=fs, history=history)
    before = read_manifest(path)["version_id"]

    class Broken(ImplicitALS):
        def get_state(self):
            state = super().get_state()
            state.arrays["bad"] = np.array(["x"], dtype=object)
            return state

    broken = Broken({"factors": 4, "iterations": 1})
    broken.fit(fs, FitContext(device="cpu"))
    with pytest.raises(ArtifactError):
        save_model(broken, path, features=fs, history=history)
    assert read_manifest(path)["version_id"] == before
    assert [p.name for p in path.parent.iterdir()] == ["m"], "no temp folders left behind"
