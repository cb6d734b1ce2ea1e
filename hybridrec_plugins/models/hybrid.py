"""``hybrid``: the HybridMusicRecommender (user/track/artist/genre embeddings + audio + MLP).

Objectives:
- ``ranking`` (default): implicit feedback with sampled negatives (BPR, BCE or sampled softmax),
  positives weighted by play-count confidence. Full-catalogue top-k quality is what a
  recommender is judged on, and a pointwise MSE on play counts does not teach the model which
  unplayed tracks rank low, so ranking is the default.
- ``regression``: MSE on the normalized play-count strength ``target`` (the reference design's
  task); only then does the model predict the target (``predicts_target``).

Cold start: ids without a learned embedding (not in the training split) map to row 0, which is
trained by masking ids to 0 with probability ``id_dropout``; a new track is scored from its
artist/genre/audio features, a new user from the unknown-user row (a popularity-like profile).
"""

from __future__ import annotations

import copy
import hashlib
import math
import json
from typing import Any, Callable, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, field_validator, model_validator
from typing_extensions import Self

from hybridrec_core.dataset import FeatureSet
from hybridrec_core.device import resolve_device
from hybridrec_core.interfaces import FitContext, Model, PluginConfig, TrainingHistory
from hybridrec_core.seeding import seed_everything
from hybridrec_core.state import State
from hybridrec_core.training import TrainSettings, TrainTask, fit_module
from hybridrec_plugins.models._common import check_items, clamp_users, known_map, mask_empty
from hybridrec_plugins.models.hybrid_net import HybridNet, ItemTables
from hybridrec_plugins.models.mf import (
    ALSConfig, batched_cg, explicit_pair_skips_grid, fit_als, fit_als_tuned, fit_explicit_als,
)
from hybridrec_plugins.models.validation import full_ranking_validator

# (user, item) pairs in one scoring tile. On CPU a tile's (pairs, h1) activations must stay in the
# per-core L2 cache (4096 x 256 floats = 4 MiB over two cores): the head's elementwise passes are
# memory-bound, and a cache-resident tile made exhaustive scoring ~1.7x faster than whole
# (users x catalogue) chunks. A GPU wants the largest tile its memory allows.
SCORE_TILE_PAIRS = {"cpu": 4096, "cuda": 1 << 20}


def _backbone_field(name: str, description: str) -> Any:
    """The ``mf`` plugin's setting ``name`` (its default and bounds) as a warm_start 'als' setting:
    the backbone and the ``mf`` baseline share one set of defaults, so the report's ALS row is the
    hybrid's backbone as configured."""
    field = copy.copy(ALSConfig.model_fields[name])
    field.description = f"warm_start 'als': {description}"
    return field


class HybridConfig(PluginConfig):
    """Settings of the hybrid model (defaults follow the reference design)."""

    objective: Literal["ranking", "regression"] = Field(
        "ranking", description="'ranking' (implicit feedback, sampled negatives) or 'regression' (MSE on target)."
    )
    loss: Literal["bpr", "bce", "softmax"] = Field(
        "softmax", description="Ranking loss over one positive and its sampled negatives."
    )
    n_negatives: int = Field(8, ge=1, le=4096, description="Sampled negatives per positive (ranking).")
    shared_negatives: bool = Field(
        False,
        description="Sample n_negatives per batch and share them across its positives (cheaper, item half computed once).",
    )
    negative_sampling: Literal["uniform", "popularity", "mixed"] = Field(
        "mixed",
        description="Negative distribution over trained tracks (popularity: count^0.75; mixed: half each).",
    )
    catalogue_negatives: int = Field(
        0, ge=0, le=1 << 20,
        description="Ranking: also train the dot-product head with a logQ-corrected sampled softmax over this many "
        "negatives shared by the batch (one (batch x n) product), so the retrieval factors see much of the "
        "catalogue each step. 0 disables; needs the dot head. Experimental: on the Last.fm validation split 2048 "
        "gave NDCG@10 0.120 vs 0.105 with seed 0 but 0.054 vs 0.092 with seed 1 (see docs/models.md).",
    )
    catalogue_weight: float = Field(1.0, ge=0.0, le=100.0, description="Weight of the catalogue-softmax term.")
    logq_correction: bool = Field(
        True,
        description="Softmax loss: subtract log(n_negatives * q(item)) from each sampled negative's logit, "
        "so the sampled softmax estimates the full-catalogue softmax (Bengio & Senecal; Yi et al. 2019).",
    )
    confidence: Literal["none", "log"] = Field(
        "log", description="Weight positives by 1 + log1p(plays), normalized to mean 1 ('none': equal)."
    )
    embedding_dim: int = Field(64, ge=2, le=1024, description="Width of every embedding / input block.")
    hidden_layers: list[int] = Field(
        default_factory=lambda: [256, 128, 64], min_length=1, max_length=8, description="MLP widths."
    )
    dropout: float = Field(0.2, ge=0.0, lt=1.0, description="Dropout after each MLP layer.")
    dot_head: bool | None = Field(
        None,
        description="Add a dot-product term <user, P item> (ranks well; two-stage retrieval uses it). "
        "None: on for 'ranking', off for 'regression' (its random start adds noise to play-count predictions).",
    )
    bias_terms: bool = Field(
        False, description="Add learned per-user and per-track scalar biases to the score (b_u + b_i)."
    )
    warm_start: Literal["auto", "none", "bias", "als"] = Field(
        "auto",
        description="'bias': fit the regularized baseline predictor mu + b_u + b_i and residual factors "
        "<p_u, q_i> (bias_factors) in closed form, keep them fixed and start the MLP output at zero, so "
        "training only adds what the features explain beyond the baseline (regression; builds the bias terms). "
        "'als' (ranking): fit implicit-ALS factors in closed form as a fixed collaborative backbone "
        "s * <x_u, y_i> of the score, start the MLP output and the dot head at zero, and train what the ids "
        "and content add to it. 'auto': 'bias' for regression, 'als' for ranking ('none' when training on one rank's shard of the split).",
    )
    als_factors: int = _backbone_field(
        "factors",
        "latent dimensions of the backbone. Last.fm validation NDCG@10 (held-out tracks with training rows): "
        "0.1988 at 64, 0.2033 at 256; MovieLens flat at penalty 50, which is too strong there (see the mf plugin's "
        "regularization).",
    )
    als_regularization: float = _backbone_field(
        "regularization", "L2 penalty of the factors; by default chosen with als_alpha on the validation split from "
        "als_tune_grid (the mf plugin's regularization has the figures; MovieLens 100K: 20 with als_alpha 1).",
    )
    als_alpha: float = _backbone_field("alpha", "confidence 1 + alpha * log1p(plays).")
    als_frequency_exponent: float = _backbone_field(
        "frequency_exponent", "per-row penalty als_regularization * (n_r / mean n)^this (the mf plugin's "
        "frequency_exponent has the figures).",
    )
    als_iterations: int = _backbone_field("iterations", "ALS sweeps.")
    als_tune_grid: list[tuple[float, float]] = _backbone_field(
        "tune_grid", "(als_regularization, als_alpha) pairs searched on the validation split, with the genre side "
        "rows (the mf plugin's tune_grid); the chosen pair is used for the cross-fitted backbone too. Setting "
        "als_regularization or als_alpha without it turns the search off.",
    )
    als_genre_weight: float = Field(
        20.0, ge=0.0, le=1e6,
        description="warm_start 'als': genres as side information in the backbone: each genre is a pseudo-user "
        "who played every trained track of that genre this many times (collective factorization). Validation "
        "NDCG@10 vs plain ALS, three seeds: Last.fm +0.001 to +0.004, MovieLens +0.004. 0: plain ALS.",
    )
    als_mlp_inputs: Literal["backbone", "embedding"] = Field(
        "backbone",
        description="warm_start 'als': what the MLP reads for the user and track ids: the fixed backbone factors "
        "(no free per-user or per-track parameters to memorize training rows with) or trained id embeddings.",
    )
    als_lr_scale: float = Field(
        0.1, gt=0.0, le=1.0,
        description="warm_start 'als': multiplies learning_rate and the embedding learning rate, since the rest of "
        "the model fine-tunes on top of a closed-form solution (Last.fm validation NDCG@10: 0.182 at 0.1, level "
        "with ALS's 0.182; 0.172 at 1).",
    )
    als_residual_weight: float = Field(
        1.0, ge=0.0, le=10.0,
        description="warm_start 'als': weight of the loss term with the backbone (the residual on warm tracks); "
        "with als_content_share > 0 the content term has weight 1 next to it.",
    )
    als_content_share: float = Field(
        0.0, ge=0.0, le=1.0,
        description="warm_start 'als': share of each batch's positives also scored with every track's ids hidden "
        "(no backbone factors, no id embedding) in an extra loss term, so the MLP learns to rank new tracks from "
        "artist/genre/audio features, on every training row (no backbone is involved); the backbone explains warm "
        "tracks, and without this term the content path stays weak. For catalogues where new tracks matter, "
        "als_content_share 1 with als_lr_scale 1 and als_residual_weight 0.1 took the demo's cold_item candidates "
        "NDCG@10 from 0.079 to 0.269 but cost warm ranking (Last.fm validation 0.166 vs 0.182). 0 disables.",
    )
    als_holdout: float = Field(
        0.2, ge=0.0, lt=1.0,
        description="warm_start 'als': share of training rows held out of the backbone while the rest of the model "
        "trains on them (cross-fitting: it learns what ALS misses on interactions ALS did not see, instead of "
        "re-fitting the rows ALS already fits); the final backbone is refitted on every training row. 0: one "
        "backbone on every row, the rest of the model trained on the same rows.",
    )
    als_cold_factors: bool = Field(
        True,
        description="warm_start 'als': give tracks without training rows backbone factors predicted from their "
        "artist, genres and audio features (ridge regression fitted on the trained tracks' factors, as in van den "
        "Oord et al. 2013), so new tracks are ranked in the same space as known ones; off: their backbone term is 0 "
        "and only the MLP scores them (demo validation, cold_item candidates NDCG@10: 0.079 -> 0.173; warm "
        "ranking unchanged).",
    )
    als_cold_l2: float = Field(
        10.0, gt=0.0, le=1e6,
        description="als_cold_factors: ridge penalty (demo validation: 1 -> 0.171, 10 -> 0.173, 100 -> 0.168).",
    )
    bias_l2: float = Field(
        3.0, ge=0.0, le=1e6, description="Ridge penalty of the closed-form biases (chosen on the Last.fm validation split)."
    )
    bias_factors: int = Field(
        32, ge=0, le=2048,
        description="warm_start 'bias': latent dimensions of an explicit matrix factorization fitted (alternating "
        "ridge solves) to the baseline's training residuals and kept as a fixed term <p_u, q_i> of the prediction "
        "(biased MF); new users and tracks get 0 there. 0: biases only. Needs the whole training split (skipped, "
        "with a log line, on one rank's shard).",
    )
    bias_factor_l2: float | None = Field(
        None, ge=0.0, le=1e6,
        description="warm_start 'bias': ridge penalty of those factors. None: the one of 0.25, 0.5, 1, 2, 4, 8 with "
        "the lowest validation RMSE (it depends on the target's spread: 1 on Last.fm, 4 on MovieLens; too large "
        "and the factors vanish), 1 without a validation split.",
    )
    id_dropout: float = Field(
        0.05, ge=0.0, le=0.5, description="Probability of masking a user/track id to 0 in training (trains the unknown rows)."
    )
    learning_rate: float = Field(1e-3, gt=0.0, le=1.0, description="Adam learning rate of the dense layers.")
    embedding_learning_rate: float | None = Field(
        None, gt=0.0, le=10.0,
        description="SparseAdam learning rate of the embedding tables; follows the LR schedule. None: 0.01 "
        "for 'ranking', 0.03 for 'regression' (chosen on validation splits: Last.fm for ranking, demo for regression).",
    )
    weight_decay: float = Field(1e-5, ge=0.0, le=1.0, description="Adam weight decay of dense layers.")
    embedding_l2: float = Field(
        1e-3, ge=0.0, le=1.0, description="L2 penalty on the embedding rows of each batch (SparseAdam has no decay)."
    )
    max_grad_norm: float = Field(1.0, ge=0.0, description="Gradient clipping of dense layers (0 disables).")
    batch_size: int = Field(1024, ge=2, le=1 << 20, description="Training batch (interactions per step).")
    epochs: int = Field(50, ge=1, le=10_000, description="Maximum epochs.")
    early_stopping_patience: int = Field(10, ge=1, description="Epochs without validation improvement before stopping.")
    lr_patience: int = Field(5, ge=0, description="ReduceLROnPlateau patience (epochs).")
    lr_factor: float = Field(0.5, gt=0.0, lt=1.0, description="ReduceLROnPlateau factor.")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto", description="Mixed precision on CUDA ('auto': bf16 where supported); CPU always fp32."
    )
    sparse_embeddings: bool = Field(
        True, description="Sparse embedding gradients + SparseAdam so a step touches only the batch's rows."
    )
    bn_recalibration_batches: int = Field(
        20, ge=0, le=10_000,
        description="Before each validation, recompute the BatchNorm statistics over this many training batches "
        "(precise BN): the running averages lag the weights, so eval-mode scores drifted from the trained "
        "function for epochs. 0 keeps the running averages.",
    )
    valid_protocol: Literal["full", "sampled"] = Field(
        "full",
        description="Ranking: the early-stopping metric. 'full': NDCG@10 over the whole catalogue (training "
        "tracks excluded) for up to valid_max_users validation users, the protocol the model is judged by; "
        "'sampled': one validation positive against valid_negatives uniform negatives (cheaper, tracks full "
        "ranking loosely).",
    )
    valid_max_users: int = Field(500, ge=1, description="'full' validation: users scored (seeded sample).")
    valid_max_pairs: int = Field(2000, ge=10, description="'sampled' validation: positives used (seeded sample).")
    valid_negatives: int = Field(99, ge=1, le=10_000, description="'sampled' validation: uniform negatives per positive.")

    @model_validator(mode="before")
    @classmethod
    def _explicit_backbone_pair(cls, data: Any) -> Any:
        return explicit_pair_skips_grid(data, "als_regularization", "als_alpha", "als_tune_grid")

    @field_validator("hidden_layers")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if any(w < 1 or w > 8192 for w in v):
            raise ValueError("hidden_layers widths must lie in [1, 8192]")
        return v


def _rank_sum(context: FitContext) -> Callable[[np.ndarray], np.ndarray]:
    """Sum a float64 array over the data-parallel ranks (all-reduce on the job's device)."""
    import torch.distributed as dist

    if context.distributed is None or not dist.is_initialized():
        raise ValueError("hybrid: the training split is one rank's shard, but no process group is running")
    device = context.distributed.device

    def reduce(a: np.ndarray) -> np.ndarray:
        t = torch.as_tensor(a, dtype=torch.float64, device=device)
        dist.all_reduce(t)
        return t.cpu().numpy()

    return reduce


def played(train_keys: torch.Tensor, users: torch.Tensor, items: torch.Tensor, n_items: int) -> torch.Tensor:
    """(B, K) mask: did user ``users[b]`` play ``items[b, k]`` (or ``items[0, k]``) in training?
    ``train_keys`` are the sorted unique ``user * n_items + item`` keys of the training rows."""
    key = users.unsqueeze(1) * n_items + items
    at = torch.searchsorted(train_keys, key).clamp_max(train_keys.numel() - 1)
    return train_keys[at] == key


class HybridMusicRecommender(Model):
    """Hybrid neural recommender: id embeddings + artist/genre/audio content through an MLP."""

    name: ClassVar[str] = "hybrid"
    description: ClassVar[str] = "Hybrid neural recommender (ids, artist, genres, audio features, MLP)."
    Config: ClassVar[type[PluginConfig]] = HybridConfig

    def __init__(self, config: HybridConfig | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.net: HybridNet | None = None
        self.device = torch.device("cpu")
        self._user_map: torch.Tensor | None = None
        self._item_ids: torch.Tensor | None = None
        self._cache: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None] | None = None
        self._prior: torch.Tensor | None = None
        self._warm_start: str | None = None  # resolved by fit / from_state (see ``warm_start``)
        # warm_start 'als' with a holdout: (factors on every row, factors without the held-out rows).
        self._backbone_dim: int | None = None  # width of the fixed factor term (resolved by fit / from_state)
        self._backbones: tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = None

    @property
    def embedding_lr(self) -> float:
        cfg: HybridConfig = self.config
        if cfg.embedding_learning_rate is not None:
            return cfg.embedding_learning_rate
        return 0.01 if cfg.objective == "ranking" else 0.03

    @property
    def warm_start(self) -> str:
        """The warm start in effect: the config's, or for 'auto' 'bias' (regression) / 'als'
        (ranking). ``fit`` pins 'none' for an 'auto' ranking model trained on one rank's shard
        (ALS needs every user's rows) and artifacts store what was used."""
        cfg: HybridConfig = self.config
        if self._warm_start is not None:
            return self._warm_start
        if cfg.warm_start != "auto":
            return cfg.warm_start
        return "bias" if cfg.objective == "regression" else "als"

    @property
    def als_config(self) -> ALSConfig:
        """The ``mf`` plugin's settings for the backbone (log confidence, its solver defaults)."""
        cfg: HybridConfig = self.config
        return ALSConfig(
            factors=cfg.als_factors, regularization=cfg.als_regularization, alpha=cfg.als_alpha,
            frequency_exponent=cfg.als_frequency_exponent, iterations=cfg.als_iterations, confidence="log",
            tune_grid=cfg.als_tune_grid,
        )

    @property
    def uses_dot_head(self) -> bool:
        cfg: HybridConfig = self.config
        if cfg.dot_head is not None:
            return cfg.dot_head
        return cfg.objective == "ranking" and self.warm_start != "als"  # the backbone is the dot product then

    @property
    def backbone_dim(self) -> int:
        """Width of the fixed factor term in the dot channel: ALS factors ('als'), the residual
        factors of the baseline ('bias'), else 0."""
        if self._backbone_dim is not None:
            return self._backbone_dim
        return {"als": self.config.als_factors, "bias": self.config.bias_factors}.get(self.warm_start, 0)

    @property  # type: ignore[override]
    def predicts_target(self) -> bool:
        """Regression metrics apply only when trained on the target."""
        return self.config.objective == "regression"

    # -- building ------------------------------------------------------------------------
    def _build(self, features: FeatureSet, device: torch.device) -> None:
        cfg: HybridConfig = self.config
        f = features.item_features
        train_items = features.train_item_mask
        artist_known = np.zeros(features.n_artists, bool)
        artist_known[f.artist[train_items]] = True
        artist_known[0] = True
        artist = np.where(artist_known[f.artist], f.artist, 0)
        genres = f.genre_padded(pad=0)
        genre_known = np.zeros(max(features.n_genres, 1), bool)
        genre_known[genres[train_items].reshape(-1)] = True
        genre_known[0] = True
        genres = np.where(genre_known[genres], genres, 0)
        numeric = np.concatenate([f.numeric, f.numeric_missing], axis=1).astype(np.float32)
        tables = ItemTables(
            torch.as_tensor(artist, dtype=torch.long),
            torch.as_tensor(genres, dtype=torch.long),
            torch.as_tensor(numeric),
            torch.as_tensor(f.binary.astype(np.float32)),
        )
        self.net = HybridNet(
            features.n_users, features.n_items, features.n_artists, features.n_genres, numeric.shape[1], tables,
            embedding_dim=cfg.embedding_dim, hidden=tuple(cfg.hidden_layers), dropout=cfg.dropout,
            dot_head=self.uses_dot_head, sparse=cfg.sparse_embeddings, bias=cfg.bias_terms or self.warm_start == "bias",
            backbone_dim=self.backbone_dim,
            backbone_inputs=self.warm_start == "als" and cfg.als_mlp_inputs == "backbone",
        ).to(device)
        self.device = device
        self._user_map = torch.as_tensor(known_map(features.train_user_mask), device=device)
        self._item_ids = torch.as_tensor(known_map(features.train_item_mask), device=device)
        self._cache = None

    def _signature(self, features: FeatureSet) -> str:
        blob = self.config.model_dump_json() + features.fingerprint()
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    # -- training ------------------------------------------------------------------------
    def fit(self, features: FeatureSet, context: FitContext) -> TrainingHistory:
        cfg: HybridConfig = self.config
        if features.train_rows == 0:
            raise ValueError("hybrid: the training split is empty")
        device = resolve_device(context.device)
        seed_everything(context.seed, context.deterministic)
        self._warm_start = None  # re-resolve from the config for this FeatureSet
        resolved = self.warm_start
        if cfg.warm_start == "auto" and resolved == "als" and features.train_shard is not None:
            resolved = "none"
            context.logger.info("hybrid: warm_start auto -> none: the ALS backbone needs the whole training split, this rank holds a shard")
        self._warm_start = resolved
        self._backbone_dim = None
        if self.warm_start == "bias" and cfg.bias_factors and features.train_shard is not None:
            self._backbone_dim = 0
            context.logger.info("hybrid: no residual factors for the bias warm start: they need the whole training split, this rank holds a shard")
        if self.warm_start == "als":
            if cfg.objective != "ranking":
                raise ValueError("hybrid: warm_start 'als' needs objective 'ranking' (use 'bias' for regression)")
            features.require_whole_train("hybrid with warm_start 'als'")  # ALS solves over every user's rows
        self._build(features, device)
        assert self.net is not None
        # Sums over training rows are summed over ranks when this rank holds one shard of them.
        total = _rank_sum(context) if features.train_shard is not None else (lambda a: a)
        train = features.train
        warm_rows: torch.Tensor | None = None  # 'als' cross-fitting: rows the backbone term trains on
        als_tuning: dict[str, Any] | None = None  # the backbone's tune_grid trials and choice
        if self.warm_start == "bias":
            baseline = self._bias_warm_start(features, reduce=total)
            if self.backbone_dim:
                self._residual_factors(features, baseline, context, device)
        elif self.warm_start == "als":
            held, als_tuning = self._als_warm_start(features, context.seed, device, context.logger)
            if held is not None and cfg.als_content_share > 0:  # content term on every row, backbone term on held
                warm_rows = torch.as_tensor(held, device=device)
            elif held is not None:  # only the backbone term: train on the held-out rows alone
                train = train.subset(np.flatnonzero(held))
        tu = torch.as_tensor(train.user, device=device)
        ti = torch.as_tensor(train.item, device=device)
        if cfg.objective == "regression":
            if self.warm_start != "bias":  # (the warm start sets the whole split's mean itself)
                with torch.no_grad():  # start at the mean target: early epochs refine instead of climbing to it
                    n_rows, y_sum = total(np.array([len(train), float(train.target.astype(np.float64).sum())]))
                    self.net.out.bias.fill_(float(y_sum / max(n_rows, 1.0)))
            loss_fn = self._regression_loss(tu, ti, torch.as_tensor(train.target, device=device))
            validate, monitor, mode = self._regression_validation(features), "val_rmse", "min"
        else:
            loss_fn = self._ranking_loss(
                features, tu, ti, torch.as_tensor(train.plays, device=device), total,
                mask_hits=self.warm_start == "als", warm_rows=warm_rows,
            )
            if self.warm_start == "als":
                self._fit_backbone_scale(loss_fn, len(train), context.seed, device)
            if cfg.valid_protocol == "full":
                validate, monitor, mode = self._full_validation(features, context.seed), "val_ndcg@10", "max"
            else:
                validate, monitor, mode = self._ranking_validation(features, context.seed), "val_ndcg@10_sampled", "max"
            if self._backbones is not None:
                validate = self._with_final_backbone(validate)
        if len(features.valid) == 0:
            validate, monitor, mode = None, "train_loss", "min"
        lr_scale = cfg.als_lr_scale if self.warm_start == "als" else 1.0
        settings = TrainSettings(
            epochs=cfg.epochs, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate * lr_scale,
            weight_decay=cfg.weight_decay, max_grad_norm=cfg.max_grad_norm or None,
            early_stopping_patience=cfg.early_stopping_patience, lr_patience=cfg.lr_patience,
            lr_factor=cfg.lr_factor, precision=cfg.precision, sparse_learning_rate=self.embedding_lr * lr_scale,
            bn_recalibration_batches=cfg.bn_recalibration_batches,
        )
        task = TrainTask(
            module=self.net, n_samples=len(train), batch_loss=loss_fn, validate=validate,
            monitor=monitor, mode=mode, signature=self._signature(features),
            # Regression: if no epoch beats the closed-form baseline, keep the baseline. Not for 'als':
            # the MLP must train at least one epoch, or new tracks (no backbone factors) would all tie.
            validate_at_start=self.warm_start == "bias",
        )
        history = fit_module(task, settings, context)
        if self._backbones is not None:  # the backbone refitted on every training row goes into the model
            self._set_backbone(self._backbones[0])
            self._backbones = None
        if self.warm_start == "als" and cfg.als_cold_factors:
            self._cold_track_factors(features)
        history.extra["objective"] = cfg.objective
        if als_tuning is not None:
            history.extra["als_tuning"] = als_tuning
        self._cache = None
        return history

    def _bias_warm_start(
        self, features: FeatureSet, sweeps: int = 10, reduce: Callable[[np.ndarray], np.ndarray] | None = None
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """Regularized baseline predictor mu + b_u + b_i (alternating ridge sweeps, vectorized with
        bincount) copied into the bias terms; the MLP output starts at zero so the first prediction
        is exactly the baseline and training only adds what the features explain beyond it.

        ``reduce`` sums an array over data-parallel ranks when ``features.train`` is one rank's
        shard: every sum below is over training rows, so summing the shards' sums gives the
        whole split's, and every rank ends with the same biases."""
        total = reduce or (lambda a: a)
        net = self.net
        if net.user_bias is None or net.item_bias is None:
            raise RuntimeError("hybrid: bias terms were not built")
        t = features.train
        y = t.target.astype(np.float64)
        n_rows, y_sum = total(np.array([len(y), y.sum()]))
        mu = float(y_sum / max(n_rows, 1.0))
        lam = self.config.bias_l2
        n_u = total(np.bincount(t.user, minlength=features.n_users).astype(np.float64))
        n_i = total(np.bincount(t.item, minlength=features.n_items).astype(np.float64))
        b_u = np.zeros(features.n_users)
        b_i = np.zeros(features.n_items)
        for _ in range(sweeps):
            b_i = total(np.bincount(t.item, weights=y - mu - b_u[t.user], minlength=features.n_items)) / (n_i + lam + 1e-12)
            b_u = total(np.bincount(t.user, weights=y - mu - b_i[t.item], minlength=features.n_users)) / (n_u + lam + 1e-12)
        with torch.no_grad():
            net.user_bias.weight.copy_(torch.as_tensor(b_u, dtype=torch.float32).unsqueeze(1))
            net.item_bias.weight.copy_(torch.as_tensor(b_i, dtype=torch.float32).unsqueeze(1))
            net.out.weight.zero_()
            net.out.bias.fill_(mu)
        # Frozen: SparseAdam's per-row steps (embedding_learning_rate) are far coarser than the
        # precision a scalar bias needs, and the ridge solution is already the best bias fit.
        net.user_bias.weight.requires_grad_(False)
        net.item_bias.weight.requires_grad_(False)
        return mu, b_u, b_i

    def _residual_factors(
        self, features: FeatureSet, baseline: tuple[float, np.ndarray, np.ndarray], context: FitContext,
        device: torch.device,
    ) -> None:
        """Biased MF on top of the baseline: factors fitted to the training residuals
        ``y - mu - b_u - b_i`` by explicit ALS, frozen in the dot channel at scale 1. The ridge
        penalty (``bias_factor_l2``) is picked on the validation split when not set: one penalty
        under-regularizes on one dataset and wipes the factors out on another. (Users and tracks
        without training rows have zero biases and zero factors, so raw indices suffice here.)"""
        cfg: HybridConfig = self.config
        mu, b_u, b_i = baseline
        t, v = features.train, features.valid
        residual = t.target.astype(np.float64) - (mu + b_u[t.user] + b_i[t.item])
        grid = [cfg.bias_factor_l2] if cfg.bias_factor_l2 is not None else (
            [0.25, 0.5, 1.0, 2.0, 4.0, 8.0] if len(v) else [1.0])
        vu, vi = torch.as_tensor(v.user, device=device), torch.as_tensor(v.item, device=device)
        v_base = mu + b_u[v.user] + b_i[v.item]
        best: tuple[float, float, tuple[torch.Tensor, torch.Tensor]] | None = None
        for lam in grid:
            factors = fit_explicit_als(
                t.user, t.item, residual, features.n_users, features.n_items,
                factors=self.backbone_dim, regularization=lam, seed=context.seed, device=device,
            )
            rmse = 0.0
            if len(grid) > 1:
                pred = v_base + (factors[0][vu] * factors[1][vi]).sum(1).double().cpu().numpy()
                rmse = float(np.sqrt(np.mean((pred - v.target) ** 2)))
            if best is None or rmse < best[0]:
                best = (rmse, lam, factors)
        assert best is not None
        context.logger.info("hybrid: residual factors with ridge penalty %s", best[1])
        self._set_backbone(best[2])
        net = self._require()
        with torch.no_grad():
            net.cf_scale.fill_(1.0)
        net.cf_scale.requires_grad_(False)  # the ridge solution is the fit; a trained scale only drifts

    def _als_warm_start(
        self, features: FeatureSet, seed: int, device: torch.device, logger: Any = None
    ) -> tuple[np.ndarray | None, dict[str, Any] | None]:
        """Implicit-ALS factors as the fixed collaborative backbone; the MLP output and the dot head
        start at zero, so the first score is exactly ALS's and training only adds to it. Returns
        the held-out row mask (below) and ``als_tune_grid``'s record (None without a search).

        With ``als_holdout`` > 0 the backbone used while training is fitted without a seeded share
        of the training rows, and the loss term with the backbone trains on exactly those rows (the
        returned mask; the content term, which hides every track's ids, uses every row):
        trained on rows ALS already fits, it only learned to re-fit them (measured on the Last.fm
        validation split: full-ranking NDCG fell from ALS's 0.190 within an epoch). Validation and
        the final model use the backbone fitted on every row."""
        cfg: HybridConfig = self.config
        train = features.train
        n = (features.n_users, features.n_items)
        side = self._genre_side(features)
        als, x, y, als_history = fit_als_tuned(features, self.als_config, seed=seed, device=device, logger=logger, side=side)
        rows = None
        if cfg.als_holdout > 0:
            held = np.random.default_rng(seed + 29).random(len(train)) < cfg.als_holdout
            keep = ~held
            xa, ya, _ = fit_als(train.user[keep], train.item[keep], train.plays[keep], *n, als, seed=seed,
                                device=device, side=side)
            self._backbones = ((x, y), (xa, ya))
            rows = held
            if not rows.any():
                raise ValueError("hybrid: als_holdout left no training rows for the backbone term; raise it or set 0")
        self._set_backbone((x, y) if rows is None else (xa, ya))
        net = self._require()
        with torch.no_grad():
            net.out.weight.zero_()
            if net.dot_proj is not None:
                net.dot_proj.weight.zero_()
        return rows, als_history.extra.get("als_tuning")

    def _cold_track_factors(self, features: FeatureSet, cg_steps: int = 200) -> None:
        """Backbone factors for tracks without training rows, predicted from content: a ridge
        regression from [artist one-hot | genre bag | audio + missing flags | explicit, mode] to
        the trained tracks' ALS factors (centred, so the intercept is their mean), solved by CG on
        the device. The predictions go into the new tracks' own rows of the backbone table, which
        training never reads (a new or masked track uses row 0 there) and scoring reads by track,
        so known tracks and the MLP are unchanged. Why: the MLP alone ranked new tracks poorly
        with the backbone (demo cold_item candidates 0.079); in factor space they compete with
        known tracks on the same scale."""
        net = self._require()
        items = net.items
        device = net.cf_item.weight.device
        n = features.n_items
        warm = torch.as_tensor(features.train_item_mask, device=device).clone()
        warm[0] = False
        cold = ~warm
        cold[0] = False
        if not bool(cold.any()) or not bool(warm.any()):
            return
        n_art, n_gen = features.n_artists, max(features.n_genres, 1)
        # Design [sparse: artist one-hot | genre bag (1/len each) ; dense: audio, flags, binary],
        # the dense block centred on the trained tracks and kept dense (no per-cell sparse entries).
        dense = torch.cat([items.numeric, items.binary], dim=1).float()
        dense = dense - dense[warm].mean(0)
        art = items.artist
        has_art = art > 0
        g_rows, g_cols = self._track_genres()
        g_cnt = (items.genres > 0).sum(1).clamp_min(1).float()
        r = torch.cat([torch.arange(n, device=device)[has_art], g_rows])
        c = torch.cat([art[has_art], n_art + g_cols])
        v = torch.cat([torch.ones(int(has_art.sum()), device=device), 1.0 / g_cnt[g_rows]])
        n_sparse = n_art + n_gen
        sparse = torch.sparse_coo_tensor(torch.stack([r, c]), v, (n, n_sparse), check_invariants=True).coalesce()
        sw = sparse.index_select(0, torch.nonzero(warm).squeeze(1)).coalesce()  # the trained tracks' rows
        swt = sw.t().coalesce()
        dw = dense[warm]
        y = net.cf_item.weight.detach().float()
        y_mean = y[warm].mean(0)
        yc = y[warm] - y_mean
        lam = self.config.als_cold_l2

        def design_t(r_: torch.Tensor) -> torch.Tensor:  # X^T r for (n_warm, f) -> (f, width)
            return torch.cat([(swt @ r_).T, (dw.T @ r_).T], dim=1)

        def matvec(w_t: torch.Tensor) -> torch.Tensor:  # one system per output dimension (row)
            return design_t(sw @ w_t[:, :n_sparse].T + dw @ w_t[:, n_sparse:].T) + lam * w_t

        width = n_sparse + dense.shape[1]
        w = batched_cg(torch.zeros(y.shape[1], width, device=device), matvec, design_t(yc), cg_steps)
        pred = sparse @ w[:, :n_sparse].T + dense @ w[:, n_sparse:].T + y_mean
        with torch.no_grad():
            net.cf_item.weight[cold] = pred[cold].to(net.cf_item.weight.dtype)
        self._cache = None

    def _track_genres(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(track, genre) pairs of the model's genre table (genres unseen in training are 0 there
        and left out), on the model's device."""
        genres = self._require().items.genres
        rows, pos = torch.nonzero(genres > 0, as_tuple=True)
        return rows, genres[rows, pos]

    def _genre_side(self, features: FeatureSet) -> tuple[np.ndarray, np.ndarray, np.ndarray, int] | None:
        """``fit_als`` side rows for ``als_genre_weight``: genre g is a pseudo-user who played each
        trained track of that genre ``als_genre_weight`` times (collective factorization), so
        tracks sharing genres get related factors. None when off or without genres."""
        weight = self.config.als_genre_weight
        track, genre = (t.cpu().numpy() for t in self._track_genres())
        trained = features.train_item_mask[track]
        if weight <= 0 or not trained.any():
            return None
        n_side = int(genre.max()) + 1  # one pseudo-user slot per genre index of the table
        track, genre = track[trained], genre[trained]
        return genre, track, np.full(track.size, weight, dtype=np.float32), n_side

    def _set_backbone(self, factors: tuple[torch.Tensor, torch.Tensor]) -> None:
        net = self._require()
        with torch.no_grad():
            net.cf_user.weight.copy_(factors[0])
            net.cf_item.weight.copy_(factors[1])
        self._cache = None

    def _with_final_backbone(self, validate: Callable[[], dict[str, float]]) -> Callable[[], dict[str, float]]:
        """Validate the model as it will be used: with the backbone fitted on every training row."""
        assert self._backbones is not None
        full, fit = self._backbones

        def run() -> dict[str, float]:
            self._set_backbone(full)
            try:
                return validate()
            finally:
                self._set_backbone(fit)

        return run

    def _fit_backbone_scale(self, loss_fn: Callable, n_rows: int, seed: int, device: torch.device) -> None:
        """Start the backbone's scale s where the training loss of s * <x_u, y_i> is lowest (ALS
        scores live near [0, 1]; the softmax needs logits a few units apart). A grid over a few
        fixed batches: stepping s by Adam from 1 would take many epochs."""
        net = self._require()
        gen_seed = seed + 17
        idx = torch.randperm(n_rows, generator=torch.Generator().manual_seed(gen_seed))[: 4 * self.config.batch_size]
        idx = idx.to(device)
        best: tuple[float, float] | None = None
        net.eval()
        with torch.no_grad():
            for s in (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0):
                net.cf_scale.fill_(s)
                gen = torch.Generator(device=device).manual_seed(gen_seed)
                loss = float(loss_fn(idx, gen))
                if best is None or loss < best[0]:
                    best = (loss, s)
            net.cf_scale.fill_(best[1])
        net.train()

    def _mask_ids(self, ids: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        p = self.config.id_dropout
        if p <= 0:
            return ids
        drop = torch.rand(ids.shape, generator=gen, device=ids.device) < p
        return ids.masked_fill(drop, 0)

    def _l2(self, users: torch.Tensor, ids: torch.Tensor, items: torch.Tensor) -> torch.Tensor | float:
        """Embedding L2 on the batch's rows; ``ids`` are the (possibly masked) id rows, ``items``
        the tracks themselves (a masked track keeps its artist)."""
        lam = self.config.embedding_l2
        if lam <= 0:
            return 0.0
        net = self.net
        if net.backbone_inputs:  # the id tables are unused; the artist table is the free per-track part
            return lam * net.artist_emb(net.items.artist[items]).pow(2).sum(-1).mean()
        return lam * (net.user_emb(users).pow(2).sum(-1).mean() + net.item_emb(ids).pow(2).sum(-1).mean())

    def _regression_loss(self, tu: torch.Tensor, ti: torch.Tensor, target: torch.Tensor):
        def loss(idx: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
            users = self._mask_ids(tu[idx], gen)
            items = ti[idx]
            ids = self._mask_ids(items, gen)
            pred = self.net(users, items.unsqueeze(1), ids.unsqueeze(1))[:, 0]
            return F.mse_loss(pred.float(), target[idx]) + self._l2(users, ids, items)

        return loss

    def _negative_pool(self, features: FeatureSet, device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
        pool = np.flatnonzero(features.train_item_mask)
        pool = pool[pool > 0]
        if pool.size == 0:
            raise ValueError("hybrid: no trained tracks to sample negatives from")
        probs = None
        if self.config.negative_sampling != "uniform":
            pop = features.item_popularity()[pool].astype(np.float64) ** 0.75
            p = pop / pop.sum()
            if self.config.negative_sampling == "mixed":
                p = 0.5 * p + 0.5 / pool.size
            probs = torch.as_tensor(p, dtype=torch.float32, device=device)
        return torch.as_tensor(pool, device=device), probs

    def _ranking_loss(
        self, features: FeatureSet, tu: torch.Tensor, ti: torch.Tensor, plays: torch.Tensor,
        total: Callable[[np.ndarray], np.ndarray] = lambda a: a,
        mask_hits: bool = False,
        warm_rows: torch.Tensor | None = None,
    ):
        cfg: HybridConfig = self.config
        pool, probs = self._negative_pool(features, tu.device)
        n_items = features.n_items
        # Sampled "negatives" the user did play in training (any row, also those the loss does not
        # train on) are removed from the loss: with a backbone that scores them high, they would
        # teach the rest of the model to push the user's own tracks down.
        train_keys = (
            torch.as_tensor(np.unique(features.train.user.astype(np.int64) * n_items + features.train.item), device=tu.device)
            if mask_hits else None
        )
        if cfg.confidence == "log":
            w = 1.0 + torch.log1p(plays.clamp_min(0))
            n_rows, w_sum = total(np.array([w.numel(), float(w.double().sum())]))
            weights = w / float(w_sum / max(n_rows, 1.0))  # mean 1 over the whole split, on every rank
        else:
            weights = torch.ones_like(plays)
        k = cfg.n_negatives
        # log(k * q(item)) per pool position: the sampled-softmax correction (0 when disabled).
        if cfg.loss == "softmax" and cfg.logq_correction:
            q = probs if probs is not None else torch.full((pool.numel(),), 1.0 / pool.numel(), device=tu.device)
            log_kq = torch.log(q * k)
        else:
            log_kq = None

        if cfg.catalogue_negatives and not self.uses_dot_head:
            raise ValueError("hybrid: catalogue_negatives trains the dot-product head; set dot_head: true or catalogue_negatives: 0")
        m_cat = cfg.catalogue_negatives
        if m_cat:
            q_cat = probs if probs is not None else torch.full((pool.numel(),), 1.0 / pool.numel(), device=tu.device)
            cat_log_q = torch.log(q_cat * m_cat)

        def sample_catalogue(gen: torch.Generator) -> torch.Tensor:
            if probs is None:
                return torch.randint(pool.numel(), (m_cat,), generator=gen, device=tu.device)
            return torch.multinomial(probs, m_cat, replacement=True, generator=gen)

        content_share = cfg.als_content_share if self.warm_start == "als" else 0.0
        main_weight = cfg.als_residual_weight if self.warm_start == "als" else 1.0

        def pair_terms(s: torch.Tensor, hit: torch.Tensor | None, corr: torch.Tensor | None) -> torch.Tensor:
            """Per-row loss of (rows, 1 + K) scores, positive first; ``hit`` marks negatives the user
            played (left out), ``corr`` is the softmax's log(K q) correction."""
            pos, negs = s[:, :1], s[:, 1:]
            if cfg.loss == "bpr":
                terms = -F.logsigmoid(pos - negs)
            elif cfg.loss == "bce":
                terms = F.softplus(negs)
            else:
                if hit is not None:
                    negs = negs.masked_fill(hit, float("-inf"))
                if corr is not None:
                    negs = negs - corr
                return -torch.log_softmax(torch.cat([pos, negs], dim=1), dim=1)[:, 0]
            neg_term = terms.mean(1) if hit is None else terms.masked_fill(hit, 0.0).sum(1) / (~hit).sum(1).clamp_min(1)
            return neg_term if cfg.loss == "bpr" else F.softplus(-pos[:, 0]) + neg_term

        def draw(b: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
            """Negatives for b positives: (pool positions, track indices); k shared or k each."""
            n_neg = k if cfg.shared_negatives else b * k
            if probs is None:
                pick = torch.randint(pool.numel(), (n_neg,), generator=gen, device=pool.device)
            else:
                pick = torch.multinomial(probs, n_neg, replacement=True, generator=gen)
            return pick, pool[pick]

        def paired(parts: tuple, b: int) -> tuple:
            """Item parts of b positives then their negatives -> (b, 1 + k, .) per part."""
            return tuple(
                None if t is None else torch.cat(
                    [t[:b].unsqueeze(1), t[b:].unsqueeze(0).expand(b, -1, -1) if cfg.shared_negatives else t[b:].reshape(b, k, -1)],
                    dim=1,
                )
                for t in parts
            )

        def main(idx: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            # One item_repr / head call over positives and negatives together keeps BatchNorm
            # statistics shared: separate calls normalise each group by its own statistics, and the
            # model then learns to tell positives from negatives by that shift, which vanishes at
            # inference (measured: a separately normalised negative batch drove NDCG towards 0).
            b = idx.numel()
            pick, neg = draw(b, gen)
            n_neg = neg.numel()
            net = self.net
            cat_pick = sample_catalogue(gen) if m_cat else None
            users = self._mask_ids(tu[idx], gen)
            items = torch.cat([ti[idx], neg] + ([pool[cat_pick]] if m_cat else []))
            ids = self._mask_ids(items, gen)
            v = net.item_repr(items, ids)
            n_head = b + n_neg  # the catalogue negatives (if any) follow and only feed the dot head
            parts = net.item_part(v[:n_head], ids[:n_head])
            pair_parts = paired(parts, b)
            user_parts = net.user_part(users)
            s = net.head(user_parts, pair_parts).float()
            hit = None
            if train_keys is not None:
                hit = played(train_keys, tu[idx], neg.unsqueeze(0) if cfg.shared_negatives else neg.reshape(b, k), n_items)
            corr = None
            if log_kq is not None:
                corr = log_kq[pick].unsqueeze(0) if cfg.shared_negatives else log_kq[pick].reshape(b, k)
            per = pair_terms(s, hit, corr)
            if m_cat:  # the dot head alone against negatives shared by the batch, logQ-corrected
                uvec = user_parts[2]
                cat_pos = (uvec * parts[2][:b]).sum(-1, keepdim=True)
                cat_neg = uvec @ net.item_dot(v[n_head:], ids[n_head:]).T - cat_log_q[cat_pick].unsqueeze(0)
                cat_logits = torch.cat([cat_pos, cat_neg], dim=1).float()
                per = per - cfg.catalogue_weight * torch.log_softmax(cat_logits, dim=1)[:, 0]
            return per, users, ids[:b]

        def content(idx: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
            """Per-row loss with every track's ids hidden (no backbone factors, no id embedding):
            the positive ranked among sampled negatives by artist/genre/audio features alone."""
            b = idx.numel()
            pick, neg = draw(b, gen)
            n_neg = neg.numel()
            net = self.net
            items = torch.cat([ti[idx], neg])
            hidden = torch.zeros_like(items)
            parts = net.item_part(net.item_repr(items, hidden), hidden)
            pair = paired(parts, b)
            s = net.head(net.user_part(self._mask_ids(tu[idx], gen)), pair).float()
            shaped = neg.unsqueeze(0) if cfg.shared_negatives else neg.reshape(b, k)
            hit = played(train_keys, tu[idx], shaped, n_items) if train_keys is not None else None
            corr = None
            if log_kq is not None:
                corr = log_kq[pick].unsqueeze(0) if cfg.shared_negatives else log_kq[pick].reshape(b, k)
            return pair_terms(s, hit, corr)

        def loss(idx: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
            # 'als' cross-fitting: the backbone term only on the rows its backbone did not see.
            main_idx = idx if warm_rows is None else idx[warm_rows[idx]]
            total = torch.zeros((), device=idx.device)
            if main_idx.numel():
                per, users, ids_b = main(main_idx, gen)
                total = main_weight * (per * weights[main_idx]).mean() + self._l2(users, ids_b, ti[main_idx])
            if content_share:
                rows = idx[: max(1, math.ceil(idx.numel() * content_share))]
                total = total + (content(rows, gen) * weights[rows]).mean()
            return total

        return loss

    def _regression_validation(self, features: FeatureSet):
        valid = features.valid
        users, items, target = valid.user, valid.item, valid.target.astype(np.float64)

        def validate() -> dict[str, float]:
            self._cache = None
            pred = self.score(users, items).astype(np.float64)
            err = pred - target
            return {"val_rmse": float(np.sqrt(np.mean(err**2))), "val_mae": float(np.mean(np.abs(err)))}

        return validate

    def _full_validation(self, features: FeatureSet, seed: int):
        """NDCG@10 over the whole catalogue, training tracks excluded, for a seeded sample of
        validation users: the protocol the model is evaluated by. On a training shard only this
        rank's users are used (their training rows, which must be excluded, are all here)."""
        shard = features.train_shard
        keep = None if shard is None else (lambda users: users % shard.world_size == shard.rank)
        check, _ = full_ranking_validator(features, max_users=self.config.valid_max_users, seed=seed, keep=keep)

        def validate() -> dict[str, float]:
            self._cache = None
            values = check(self.score_items).values
            return {"val_ndcg@10": values["ndcg@10"], "val_recall@10": values["recall@10"]}

        return validate

    def _ranking_validation(self, features: FeatureSet, seed: int):
        cfg: HybridConfig = self.config
        rng = np.random.default_rng(seed + 1)
        valid = features.valid
        n = min(cfg.valid_max_pairs, len(valid))
        pick = rng.choice(len(valid), size=n, replace=False)
        users, pos = valid.user[pick], valid.item[pick]
        pool = np.flatnonzero(features.train_item_mask)
        pool = pool[pool > 0]
        neg = pool[rng.integers(0, pool.size, size=(n, cfg.valid_negatives))]
        cands = np.concatenate([pos[:, None], neg], axis=1)

        def validate() -> dict[str, float]:
            self._cache = None
            s = self.score_items(users, cands)
            rank = (s[:, 1:] > s[:, :1]).sum(1).float()
            ndcg = torch.where(rank < 10, 1.0 / torch.log2(rank + 2.0), torch.zeros_like(rank))
            return {"val_ndcg@10_sampled": float(ndcg.mean()), "val_hit@10_sampled": float((rank < 10).float().mean())}

        return validate

    # -- scoring -------------------------------------------------------------------------
    def _require(self) -> HybridNet:
        if self.net is None:
            raise RuntimeError("hybrid model is not fitted; call fit() or load an artifact")
        return self.net

    def _item_cache(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """First-layer item half for the whole catalogue, computed once per weights version."""
        net = self._require()
        if self._cache is None or net.training:
            was_training = net.training
            net.eval()
            with torch.no_grad():
                all_items = torch.arange(self._item_ids.numel(), device=self.device)
                parts = []
                for lo in range(0, all_items.numel(), 65536):
                    chunk = all_items[lo : lo + 65536]
                    ids = self._item_ids[chunk]
                    # Backbone rows by track: a new track's row holds factors predicted from content.
                    cf_rows = chunk if net.cf_item is not None else None
                    parts.append(net.item_part(net.item_repr(chunk, ids), ids, cf_rows))
                ai = torch.cat([p[0] for p in parts])
                ri = torch.cat([p[1] for p in parts])
                dot = torch.cat([p[2] for p in parts]) if parts[0][2] is not None else None
                # MLP score of the unknown user per item: a cheap item prior for retrieval.
                self._prior = net.head(net.user_part(torch.zeros(1, dtype=torch.long, device=self.device)), (ai, ri, None))[0]
            net.train(was_training)
            self._cache = (ai, ri, dot)
        return self._cache

    def _users(self, users: np.ndarray) -> torch.Tensor:
        u = torch.as_tensor(clamp_users(users, self._user_map.numel()), device=self.device)
        return self._user_map[u]

    def score_items(self, users: np.ndarray, items: np.ndarray | None = None) -> torch.Tensor:
        net = self._require()
        users = np.asarray(users, dtype=np.int64).reshape(-1)
        n_items = self._item_ids.numel()
        cand = check_items(items, len(users), n_items)
        ai, ri, dot = self._item_cache()
        was_training = net.training
        net.eval()
        try:
            with torch.no_grad():
                u = net.user_part(self._users(users))
                width = n_items if cand is None else cand.shape[1]
                if len(users) == 0 or width == 0:
                    return torch.zeros((len(users), width), device=self.device)
                tile = SCORE_TILE_PAIRS.get(self.device.type, SCORE_TILE_PAIRS["cpu"])
                if cand is None:
                    scores = self._score_all(u, (ai, ri, dot), tile)
                else:
                    step = max(1, tile // width)
                    cand_t = torch.as_tensor(cand, device=self.device).clamp_min(0)  # one host->device copy
                    out = []
                    for lo in range(0, len(users), step):
                        us = tuple(t[lo : lo + step] for t in u)
                        c = cand_t[lo : lo + step]
                        out.append(net.head(us, (ai[c], ri[c], None if dot is None else dot[c])))
                    scores = torch.cat(out)
                scores = scores.float()
        finally:
            net.train(was_training)
        return scores if cand is None else mask_empty(scores, cand)

    def _score_all(
        self,
        user: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
        item: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None],
        tile: int,
    ) -> torch.Tensor:
        """(B, N) scores against the whole catalogue, computed in (users x items) tiles of about
        ``tile`` pairs written into one preallocated matrix."""
        net = self._require()
        b, n = user[0].shape[0], item[0].shape[0]
        if tile >= n:  # whole rows fit in a tile (GPU): batch as many users as fit
            bu, bi = min(b, tile // n), n
        else:
            bu = min(b, 32, max(1, tile // 64))
            bi = max(64, tile // bu)
        out = torch.empty((b, n), device=self.device, dtype=user[0].dtype)
        for lo in range(0, b, bu):
            us = tuple(t[lo : lo + bu] for t in user)
            for jo in range(0, n, bi):
                part = tuple(None if t is None else t[jo : jo + bi] for t in item)
                out[lo : lo + bu, jo : jo + bi] = net.head(us, part)
        return out

    def retrieval_scores(self, users: np.ndarray) -> torch.Tensor | None:
        """Cheap first stage: the dot-product head plus a per-item prior (the MLP score of the
        unknown user, cached with the item half). One (B, d) x (d, N) product per batch; the prior
        restores the item-level (popularity/content) part of the MLP that a bare dot product lacks."""
        net = self._require()
        _, _, dot = self._item_cache()
        if dot is None:
            return None
        with torch.no_grad():
            return net.user_vector(self._users(users)) @ dot.T + self._prior

    def item_embeddings(self) -> np.ndarray | None:
        net = self._require()
        if self.warm_start == "als" and not net.dot_dim:  # the backbone's track factors
            return net.cf_item.weight.detach().float().cpu().numpy()
        _, _, dot = self._item_cache()
        vec = dot[:, : net.dot_dim] if dot is not None and net.dot_dim else net.item_emb.weight.detach()
        return vec.float().cpu().numpy()

    # -- persistence ---------------------------------------------------------------------
    def get_state(self) -> State:
        net = self._require()
        arrays = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}
        return State(meta={"config": json.loads(self.config.model_dump_json()), "warm_start": self.warm_start}, arrays=arrays)

    @classmethod
    def from_state(cls, state: State, features: FeatureSet, config: Any = None) -> Self:
        model = cls(config if config is not None else state.meta.get("config"))
        # Artifacts written before 'auto' meant 'als' for ranking were trained without a backbone.
        legacy = "bias" if model.config.objective == "regression" else "none"
        model._warm_start = state.meta.get("warm_start") or (
            model.config.warm_start if model.config.warm_start != "auto" else legacy
        )
        cf = state.arrays.get("cf_user.weight")  # the factor term's width as trained (0: none)
        model._backbone_dim = int(np.asarray(cf).shape[1]) if cf is not None else 0
        model._build(features, resolve_device("auto"))
        net = model._require()
        expected = net.state_dict()
        missing = sorted(set(expected) - set(state.arrays))
        if missing:
            raise ValueError(f"hybrid state lacks arrays {missing[:5]}")
        tensors = {}
        for key, ref in expected.items():
            arr = np.asarray(state.arrays[key])
            if arr.size == ref.numel() and arr.ndim != ref.dim():  # 0-d scalars round-trip as (1,)
                arr = arr.reshape(tuple(ref.shape))
            if tuple(arr.shape) != tuple(ref.shape):
                raise ValueError(
                    f"hybrid state array {key!r} has shape {arr.shape}, the FeatureSet needs {tuple(ref.shape)} "
                    "(vocabulary sizes differ from the data the model was trained on)"
                )
            tensors[key] = torch.as_tensor(arr).to(ref.dtype)
        net.load_state_dict(tensors)
        net.eval()
        return model
