"""The evaluation engine: one protocol for every model, segment and metric.

Protocol (written into :attr:`EvaluationResult.protocol`):

- **Ranking**: every evaluated user's scores over the whole catalogue are ranked with
  :func:`hybridrec_core.ranking.topk_for_users`; the user's *training* items and the unknown slot
  (index 0) are excluded; ties go to the lower item index. Users are scored in chunks of
  ``config.batch_users``, so memory is ``batch_users * n_items`` floats plus the small
  (n_users, k) top-k matrix that the metric plugins read in one vectorized pass.
- **Users**: those with at least one held-out interaction in ``config.split`` (``test`` by
  default). Known users without held-out items are excluded and counted; ``max_users`` draws a
  seeded sample.
- **Pointwise**: each evaluated (user, item) held-out pair is scored with ``Model.score``.
  Metrics that need the target scale (``requires_target_scale``, e.g. RMSE) only run for models
  whose ``predicts_target`` is truthy; ranking-only pointwise metrics (``reference_ndcg``) run for all.
- **Segments**: ``overall``; history-length buckets of the overall users (``config.cold_buckets``,
  training interactions per user, e.g. ``history<5`` / ``history>=5``); ``cold_user`` (users held out
  entirely, ranked over the full catalogue); ``cold_item`` (users' interactions with held-out tracks,
  ranked over the full catalogue with train items excluded: are the new tracks found at all?) and
  ``cold_item_candidates`` (the same users, ranked *within* the set of held-out tracks: does the
  model order new tracks by taste?); ``trained_items`` (only when the overall users' held-out
  interactions include tracks that have no training interactions: their overall lists and pair
  predictions, judged against their held-out interactions with *trained* tracks only. This is the protocol of
  graph-recommender papers such as SELFRec / QRec (LightGCN, MHCN), whose models cannot score
  the others; ``overall`` keeps them, so they count against every model).
- **Baseline**: ``popularity`` is always evaluated on the same users; it is fitted here with the
  same seed when the caller did not pass one.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from hybridrec_core.config import EvaluationConfig
from hybridrec_core.dataset import FeatureSet, InteractionSet
from hybridrec_core.interfaces import EvalInput, FitContext, Metric, Model, PluginKind, TrainingHistory
from hybridrec_core.ranking import NEG_INF, topk_for_users

BASELINE = "popularity"
PREDICTION_SAMPLE = 5000
PAIR_CHUNK = 65536


@dataclass
class EvaluationResult:
    """Metric values per model and segment, with the protocol that produced them."""

    values: dict[str, dict[str, dict[str, float]]]  # model -> segment -> metric -> value
    protocol: dict[str, Any]
    segments: dict[str, dict[str, Any]] = field(default_factory=dict)  # segment -> n_users, description
    histories: dict[str, TrainingHistory] = field(default_factory=dict)
    predictions: dict[str, dict[str, dict[str, np.ndarray]]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # model -> evaluation wall time

    @property
    def models(self) -> list[str]:
        return list(self.values)

    def get(self, model: str, metric: str, segment: str = "overall") -> float:
        """One value; KeyError names what exists when the lookup fails."""
        if model not in self.values:
            raise KeyError(f"no model {model!r} in this evaluation; models: {self.models}")
        if segment not in self.values[model]:
            raise KeyError(f"model {model!r} has no segment {segment!r}; segments: {list(self.values[model])}")
        seg = self.values[model][segment]
        if metric not in seg:
            raise KeyError(f"no metric {metric!r} for {model!r}/{segment!r}; metrics: {sorted(seg)}")
        return seg[metric]

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: one row per (model, segment, metric)."""
        rows = [
            (m, s, k, v)
            for m, segs in self.values.items()
            for s, metrics in segs.items()
            for k, v in metrics.items()
        ]
        return pd.DataFrame(rows, columns=["model", "segment", "metric", "value"])

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (NaN -> None): protocol, segments, metrics, histories, timings."""
        return jsonable(
            {
                "protocol": self.protocol,
                "segments": self.segments,
                "metrics": self.values,
                "histories": {n: h.to_dict() for n, h in self.histories.items()},
                "evaluation_seconds": self.seconds,
            }
        )


def jsonable(obj: Any) -> Any:
    """Plain JSON types; NaN and infinities become None (strict JSON has no NaN)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return None if not math.isfinite(float(obj)) else float(obj)
    return obj


# -- segments --------------------------------------------------------------------------------


@dataclass
class _Segment:
    """Users to rank, what counts as relevant, and optionally a restricted candidate set."""

    name: str
    users: np.ndarray  # user indices, sorted
    relevant: sp.csr_matrix  # (len(users), n_items) play counts
    pairs: InteractionSet  # held-out pairs of these users
    pair_rows: np.ndarray  # row of each pair in ``users``
    description: str
    candidates: np.ndarray | None = None  # item indices allowed in the ranking (None = catalogue)
    pointwise: bool = True
    lists_from: str | None = None  # re-use that segment's top-k lists (same ranking, other relevance)
    pair_mask: np.ndarray | None = None  # with lists_from: which of that segment's pairs are this one's


def _segment(
    name: str,
    features: FeatureSet,
    split: InteractionSet,
    users: np.ndarray,
    description: str,
    candidates: np.ndarray | None = None,
    pointwise: bool = True,
    lists_from: str | None = None,
    pair_mask: np.ndarray | None = None,
) -> _Segment:
    users = np.asarray(np.sort(users), dtype=np.int64)
    row_of = np.full(features.n_users, -1, dtype=np.int64)
    row_of[users] = np.arange(users.size)
    pairs = split.subset(row_of[split.user] >= 0)
    relevant = pairs.csr(features.n_users, features.n_items, values="plays")[users]
    relevant.sum_duplicates()
    return _Segment(name, users, relevant, pairs, row_of[pairs.user], description, candidates, pointwise, lists_from, pair_mask)


def _sample(users: np.ndarray, max_users: int | None, rng: np.random.Generator) -> np.ndarray:
    if max_users is None or users.size <= max_users:
        return users
    return np.sort(rng.choice(users, size=max_users, replace=False))


def _known_users(split: InteractionSet) -> np.ndarray:
    return np.unique(split.user[split.user > 0])


def bucket_labels(edges: list[int]) -> list[str]:
    """``[5]`` -> ``["history<5", "history>=5"]``; ``[5, 20]`` adds ``"history5-19"``."""
    labels = [f"history<{edges[0]}"]
    labels += [f"history{lo}-{hi - 1}" for lo, hi in zip(edges[:-1], edges[1:])]
    return labels + [f"history>={edges[-1]}"]


def build_segments(
    features: FeatureSet, config: EvaluationConfig, seed: int
) -> tuple[list[_Segment], dict[str, Any]]:
    """The scored segments (overall, cold_user, cold_item...) and the user counts for the protocol."""
    rng = np.random.default_rng(seed)
    split = features.splits.get(config.split)
    if split is None or len(split) == 0:
        raise ValueError(
            f"evaluation split {config.split!r} is empty or missing; splits: {sorted(features.splits)}"
        )
    heldout_users = _known_users(split)
    overall_users = _sample(heldout_users, config.max_users, rng)
    train_users = np.flatnonzero(features.train_user_mask)
    counts: dict[str, Any] = {
        "n_users_evaluated": int(overall_users.size),
        "n_users_skipped_no_heldout": int(np.setdiff1d(train_users, heldout_users).size),
        "n_users_sampled_out": int(heldout_users.size - overall_users.size),
    }
    segments = [_segment(
        "overall", features, split, overall_users,
        f"users with held-out items in the {config.split!r} split; full catalogue, train items excluded",
    )]
    overall = segments[0]
    trained = features.train_item_mask[overall.pairs.item]
    counts["n_heldout_untrained_items"] = int((~trained).sum())
    if not trained.all():
        kept = overall.pairs.subset(trained)
        segments.append(_segment(
            "trained_items", features, kept, _known_users(kept),
            "overall lists, judged only against held-out tracks that have training interactions "
            "(the protocol of graph-model papers, e.g. SELFRec / QRec)",
            lists_from=overall.name, pair_mask=trained,
        ))
    cold_user = features.splits.get("cold_user")
    if cold_user is not None and len(cold_user):
        users = _sample(_known_users(cold_user), config.max_users, rng)
        segments.append(_segment(
            "cold_user", features, cold_user, users, "users held out of training entirely; full catalogue"
        ))
    cold_item = features.splits.get("cold_item")
    if cold_item is not None and len(cold_item):
        users = _sample(_known_users(cold_item), config.max_users, rng)
        new_items = np.unique(cold_item.item[cold_item.item > 0])
        segments.append(_segment(
            "cold_item", features, cold_item, users,
            "interactions with tracks held out of training; full catalogue, train items excluded",
        ))
        segments.append(_segment(
            "cold_item_candidates", features, cold_item, users,
            f"same users; ranked within the {new_items.size} held-out tracks only",
            candidates=new_items, pointwise=False,
        ))
    return segments, counts


# -- scoring ---------------------------------------------------------------------------------


def _score_fn(model: Model, candidates: np.ndarray | None, n_items: int):
    if candidates is None:
        return model.score_items
    blocked = torch.ones(n_items, dtype=torch.bool)
    blocked[torch.from_numpy(candidates)] = False

    def restricted(users: np.ndarray) -> torch.Tensor:
        s = model.score_items(users).float()
        return s.masked_fill(blocked.to(s.device), NEG_INF)

    return restricted


def _pointwise(model: Model, pairs: InteractionSet) -> np.ndarray:
    out = np.empty(len(pairs), dtype=np.float64)
    with torch.inference_mode():
        for start in range(0, len(pairs), PAIR_CHUNK):
            sl = slice(start, start + PAIR_CHUNK)
            out[sl] = np.asarray(model.score(pairs.user[sl], pairs.item[sl]), dtype=np.float64)
    return out


def _subset_input(data: EvalInput, rows: np.ndarray) -> EvalInput:
    """The same input restricted to some users (for history buckets: no re-scoring)."""
    sub = EvalInput(users=data.users[rows], k=data.k, features=data.features, item_vectors=data.item_vectors)
    if data.topk is not None:
        sub.topk, sub.topk_scores, sub.relevant = data.topk[rows], data.topk_scores[rows], data.relevant[rows]
    if data.predictions is not None:
        new_row = np.full(len(data.users), -1, dtype=np.int64)
        new_row[rows] = np.arange(rows.size)
        keep = new_row[data.pair_users] >= 0
        sub.predictions, sub.targets = data.predictions[keep], data.targets[keep]
        sub.pair_users = new_row[data.pair_users[keep]]
    return sub


def _run_metrics(metrics: list[Metric], data: EvalInput, target_scale: bool) -> dict[str, float]:
    values: dict[str, float] = {}
    for metric in metrics:
        if metric.needs == "pointwise":
            if data.predictions is None:
                continue
            if getattr(metric, "requires_target_scale", True) and not target_scale:
                continue
        values.update(metric.compute(data).values)
    return values


def _ensure_baseline(
    models: dict[str, Model], features: FeatureSet, seed: int
) -> tuple[dict[str, Model], bool]:
    if BASELINE in models:
        return models, False
    from hybridrec_core.plugins import get_plugin_manager

    baseline = get_plugin_manager().create(PluginKind.MODEL, BASELINE)
    baseline.fit(features, FitContext(seed=seed, device="cpu"))
    return {**models, BASELINE: baseline}, True


def _segment_input(
    model: Model, seg: _Segment, features: FeatureSet, config: EvaluationConfig, seen: sp.csr_matrix,
    vectors: np.ndarray | None,
) -> EvalInput:
    """Rank the segment's users (chunked) and score its held-out pairs."""
    topk, scores = topk_for_users(
        _score_fn(model, seg.candidates, features.n_items), seg.users, config.k, seen=seen,
        batch_users=config.batch_users,
    )
    data = EvalInput(users=seg.users, k=config.k, features=features, topk=topk, topk_scores=scores,
                     relevant=seg.relevant, item_vectors=vectors)
    if seg.pointwise:
        data.predictions = _pointwise(model, seg.pairs)
        data.targets = seg.pairs.target.astype(np.float64)
        data.pair_users = seg.pair_rows
    return data


def _relabelled_input(seg: _Segment, source: EvalInput) -> EvalInput:
    """``seg``'s users' top-k lists and pair predictions taken from the segment it was derived
    from (nothing is scored again), judged against ``seg``'s relevant items and pairs."""
    rows = np.searchsorted(source.users, seg.users)
    data = EvalInput(users=seg.users, k=source.k, features=source.features, topk=source.topk[rows],
                     topk_scores=source.topk_scores[rows], relevant=seg.relevant, item_vectors=source.item_vectors)
    if seg.pointwise and source.predictions is not None:
        data.predictions = source.predictions[seg.pair_mask]
        data.targets = source.targets[seg.pair_mask]
        data.pair_users = seg.pair_rows
    return data


def _bucket_rows(history_len: np.ndarray, users: np.ndarray, edges: list[int]) -> dict[str, np.ndarray]:
    """Row indices of ``users`` per history-length bucket label."""
    if not edges:
        return {}
    bucket = np.searchsorted(np.asarray(edges), history_len[users], side="right")
    return {label: np.flatnonzero(bucket == b) for b, label in enumerate(bucket_labels(edges))}


def evaluate(
    features: FeatureSet,
    models: dict[str, Model],
    metrics: list[Metric],
    config: EvaluationConfig,
    seed: int = 42,
    histories: dict[str, TrainingHistory] | None = None,
) -> EvaluationResult:
    """Evaluate every model on the same users and segments with every metric (see module doc)."""
    if not models:
        raise ValueError("evaluate() needs at least one model")
    features.require_whole_train("evaluation (seen items and history buckets)")
    models, fitted_baseline = _ensure_baseline(dict(models), features, seed)
    segments, counts = build_segments(features, config, seed)
    seen = features.train.csr(features.n_users, features.n_items)
    history_len = np.bincount(features.train.user, minlength=features.n_users)
    buckets = _bucket_rows(history_len, segments[0].users, list(config.cold_buckets))
    rng = np.random.default_rng(seed)
    reused = {s.lists_from for s in segments if s.lists_from is not None}  # lists kept for other segments

    seg_info: dict[str, dict[str, Any]] = {}
    for seg in segments:
        seg_info[seg.name] = {"n_users": int(seg.users.size), "n_pairs": len(seg.pairs),
                              "description": seg.description}
        if seg.name == "overall":
            seg_info.update({
                label: {"n_users": int(rows.size),
                        "description": f"overall users with {label.removeprefix('history')} training interactions"}
                for label, rows in buckets.items()
            })

    values: dict[str, dict[str, dict[str, float]]] = {}
    predictions: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    seconds: dict[str, float] = {}
    for name, model in models.items():
        t0 = time.perf_counter()
        target_scale = bool(getattr(model, "predicts_target", False))
        vectors = model.item_embeddings()
        values[name] = {}
        inputs: dict[str, EvalInput] = {}
        for seg in segments:
            if seg.lists_from is not None:
                data = _relabelled_input(seg, inputs[seg.lists_from])
            else:
                data = _segment_input(model, seg, features, config, seen, vectors)
            if seg.name in reused:
                inputs[seg.name] = data
            values[name][seg.name] = _run_metrics(metrics, data, target_scale)
            if target_scale and data.predictions is not None:
                take = np.sort(rng.permutation(len(seg.pairs))[:PREDICTION_SAMPLE])
                predictions.setdefault(name, {})[seg.name] = {
                    "prediction": data.predictions[take], "target": data.targets[take],
                }
            if seg.name == "overall":  # buckets re-use the overall lists: no re-scoring
                for label, rows in buckets.items():
                    if rows.size:
                        values[name][label] = _run_metrics(metrics, _subset_input(data, rows), target_scale)
        seconds[name] = time.perf_counter() - t0

    protocol = {
        "split": config.split,
        "seed": seed,
        "k": config.k,
        "ranking": "full catalogue, chunked top-k (ties -> lower item index)",
        "exclusions": ["user's training interactions", "unknown item (index 0)"],
        "candidate_set": {
            s.name: "catalogue" if s.candidates is None else f"{s.candidates.size} held-out tracks" for s in segments
        },
        "cold_buckets": list(config.cold_buckets),
        "history_length": "training interactions per user",
        "max_users": config.max_users,
        "baseline": {"name": BASELINE, "fitted_by_evaluation": fitted_baseline},
        "target_scale_models": [n for n, m in models.items() if getattr(m, "predicts_target", False)],
        "metrics": [m.name for m in metrics],
        **counts,
    }
    return EvaluationResult(values, protocol, seg_info, dict(histories or {}), predictions, seconds)
