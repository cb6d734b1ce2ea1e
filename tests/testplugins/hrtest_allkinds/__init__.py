"""One small plugin of every kind, registered through every hook (a test distribution)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from pydantic import Field

from hybridrec_core.hookspecs import Register, hookimpl
from hybridrec_core.interfaces import (
    Candidates, DataSource, EvalInput, FeatureEncoder, FitContext, Metric, MetricResult, Model,
    PluginConfig, ReRanker, RerankContext, SourceData, TrainingHistory,
)
from hybridrec_core.state import State


class TinySource(DataSource):
    name = "hrtest_source"
    description = "Two users, three tracks."

    class Config(PluginConfig):
        n_tracks: int = Field(3, ge=1, le=100, description="Tracks to generate.")

    def load(self) -> SourceData:
        n = self.config.n_tracks
        tracks = pd.DataFrame({"track_id": [f"t{i}" for i in range(n)]})
        inter = pd.DataFrame({"user_id": ["u1"] * n, "track_id": tracks.track_id, "plays": np.arange(1, n + 1)})
        return SourceData(tracks=tracks, interactions=inter)


class ScaleEncoder(FeatureEncoder):
    name = "hrtest_scale"
    role = "numeric"
    description = "Multiplies by a learned maximum's inverse."

    class Config(PluginConfig):
        eps: float = Field(1e-9, gt=0, description="Added to the maximum.")

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self.max_: float | None = None

    def fit(self, data: Any) -> "ScaleEncoder":
        self.max_ = float(np.max(data))
        return self

    def transform(self, data: Any) -> Any:
        if self.max_ is None:
            raise RuntimeError("hrtest_scale is not fitted")
        return np.asarray(data) / (self.max_ + self.config.eps)

    @property
    def fitted(self) -> bool:
        return self.max_ is not None

    def get_state(self) -> State:
        return State(meta={"max": self.max_})

    @classmethod
    def from_state(cls, state: State, config: Any = None) -> "ScaleEncoder":
        enc = cls(config)
        enc.max_ = state.meta["max"]
        return enc


class ConstantModel(Model):
    name = "hrtest_constant"
    description = "Scores every item by its index (a fixed order)."

    class Config(PluginConfig):
        direction: Literal["up", "down"] = Field("up", description="Higher index first or last.")

    def fit(self, features, context: FitContext) -> TrainingHistory:
        self.n_items = features.n_items
        return TrainingHistory()

    def score_items(self, users: np.ndarray, items: np.ndarray | None = None) -> torch.Tensor:
        sign = 1.0 if self.config.direction == "up" else -1.0
        cols = torch.arange(self.n_items, dtype=torch.float32) if items is None else torch.as_tensor(items, dtype=torch.float32)
        return sign * cols.expand(len(users), -1).clone() if items is None else sign * cols

    def get_state(self) -> State:
        return State(meta={"n_items": self.n_items})

    @classmethod
    def from_state(cls, state: State, features, config: Any = None) -> "ConstantModel":
        m = cls(config)
        m.n_items = state.meta["n_items"]
        return m


class ListLength(Metric):
    name = "hrtest_list_length"
    description = "Mean number of filled slots per list."

    class Config(PluginConfig):
        label: str = Field("filled", min_length=1, description="Result key.")

    def compute(self, data: EvalInput) -> MetricResult:
        filled = (data.topk >= 0).sum(axis=1).astype(float)
        return MetricResult({self.config.label: float(filled.mean()) if filled.size else 0.0})


class Reverse(ReRanker):
    name = "hrtest_reverse"
    description = "Reverses the order of the valid candidates (worst first)."

    class Config(PluginConfig):
        keep: int = Field(0, ge=0, description="Leading items kept in place.")

    def rerank(self, candidates: Candidates, k: int, context: RerankContext) -> Candidates:
        # Sort by score ascending; empty slots (-inf) go last.
        key = np.where(candidates.valid, candidates.scores, np.inf)
        order = np.argsort(key, axis=1, kind="stable")[:, :k]
        return Candidates(
            candidates.users,
            np.take_along_axis(candidates.items, order, 1),
            np.take_along_axis(candidates.scores, order, 1),
        )


@hookimpl
def register_sources(register: Register) -> None:
    register(TinySource)


@hookimpl
def register_encoders(register: Register) -> None:
    register(ScaleEncoder)


@hookimpl
def register_models(register: Register) -> None:
    register(ConstantModel)


@hookimpl
def register_metrics(register: Register) -> None:
    register(ListLength)


@hookimpl
def register_rerankers(register: Register) -> None:
    register(Reverse)
