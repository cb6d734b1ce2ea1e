"""``mf``: implicit-feedback matrix factorization (ALS, Hu, Koren & Volinsky 2008).

Confidence ``c = 1 + alpha * f(plays)`` with ``f`` linear or log; each sweep solves users then
items in closed form with a few warm-started conjugate-gradient steps, batched over *all* rows
at once (O(nnz * d) per step, no per-user Python loop), like the ``implicit`` library does.
Users without training history get the mean user vector (a popularity-like list).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field, field_validator, model_validator
from typing_extensions import Self

from hybridrec_core.dataset import FeatureSet
from hybridrec_core.device import resolve_device
from hybridrec_core.interfaces import FitContext, Model, PluginConfig, TrainingHistory
from hybridrec_core.seeding import seed_everything
from hybridrec_core.state import State
from hybridrec_plugins.models._common import check_items, clamp_users
from hybridrec_plugins.models.validation import full_ranking_validator, one_se_choice


DEFAULT_TUNE_GRID: tuple[tuple[float, float], ...] = ((50.0, 2.0), (20.0, 1.0), (50.0, 1.0), (20.0, 2.0))
"""``tune_grid``'s default (regularization, alpha) pairs, the first being ``regularization`` /
``alpha``'s own defaults."""


def explicit_pair_skips_grid(data: Any, reg: str, alpha: str, grid: str) -> Any:
    """Config input with ``grid`` set to [] when the penalty or alpha is given and the grid is not:
    a value the user chose by hand is used as given, never replaced by the default search."""
    if isinstance(data, dict) and grid not in data and (reg in data or alpha in data):
        return {**data, grid: []}
    return data


class ALSConfig(PluginConfig):
    """Implicit ALS settings."""

    factors: int = Field(
        256, ge=1, le=2048,
        description="Latent dimensions (Last.fm validation NDCG@10: 0.194 at 64, 0.201 at 256; MovieLens flat at penalty 50).",
    )
    regularization: float = Field(
        50.0, ge=0.0, le=1e4,
        description="L2 penalty on user and item factors. Chosen with alpha per dataset on its validation split "
        "(tune_grid, on by default, does that inside fit; setting this by hand turns it off): "
        "Last.fm best at 50 with alpha 2 (the defaults); MovieLens 100K best at 20 with alpha 1 (NDCG@10 with genre "
        "side rows 0.260 -> 0.278, seeds 42 and 1, frequency_exponent 0), where 50 over-smooths and 10 or less falls to "
        "0.15 - 0.25; with frequency_exponent 0.25 still best of 15 - 30 and alpha 1 - 2 (0.2800 over four seeds).",
    )
    alpha: float = Field(2.0, gt=0.0, le=1e4, description="Confidence scale: c = 1 + alpha * f(plays) (see regularization).")
    confidence: Literal["log", "linear", "binary"] = Field(
        "log", description="f(plays): log1p(plays), plays, or 1 for every interaction."
    )
    frequency_exponent: float = Field(
        0.25, ge=0.0, le=2.0,
        description="Frequency-scaled penalty: row r (a user or a track) gets regularization * (n_r / mean n)^this, "
        "n_r its number of training rows (weighted-lambda ALS, Zhou et al. 2008, takes 1; Rendle et al. 2022 tune "
        "it). Validation NDCG@10, four seeds, with genre side rows: Last.fm 0.2020 at 0 -> 0.2048 at 0.25 "
        "(0.2047 - 0.2050 over 0.15 - 0.25, 0.2010 at 0.5); MovieLens 100K (penalty 20, alpha 1) 0.2729 -> 0.2800 "
        "(0.2818 at 0.35 and 0.5). 0: one penalty for every row.",
    )
    iterations: int = Field(15, ge=1, le=500, description="ALS sweeps (users then items).")
    cg_steps: int = Field(3, ge=1, le=50, description="Conjugate-gradient steps per solve (warm-started).")
    init_scale: float = Field(0.01, gt=0.0, le=1.0, description="Std of the random initial factors.")
    tune_grid: list[tuple[float, float]] = Field(
        default_factory=lambda: [tuple(p) for p in DEFAULT_TUNE_GRID], max_length=64,
        description="(regularization, alpha) pairs tried on the validation split: each is fitted on the training "
        "rows and the one with the best full-ranking NDCG@10 on a seeded sample of validation users (training "
        "items excluded) is kept, replacing regularization and alpha (the choice is logged and kept in the "
        "training history); the first pair stays unless the best beats it by more than one standard error of the "
        "paired per-user difference, so a margin the sample cannot resolve does not move the model off it. Empty "
        "([]), or no validation rows: regularization and alpha as set; setting either of those without a tune_grid "
        "turns the search off. The default, penalty {50, 20} x alpha {2, 1}, holds the Last.fm optimum (50 / 2, "
        "kept there) and the MovieLens 100K one (20 / 1; test NDCG@10 on seed 42's split 0.2446 -> 0.2676); it "
        "costs one fit per pair.",
    )
    tune_max_users: int = Field(2000, ge=1, description="tune_grid: validation users scored (seeded sample).")

    @model_validator(mode="before")
    @classmethod
    def _explicit_pair(cls, data: Any) -> Any:
        return explicit_pair_skips_grid(data, "regularization", "alpha", "tune_grid")

    @field_validator("tune_grid")
    @classmethod
    def _grid_values(cls, v: list[tuple[float, float]]) -> list[tuple[float, float]]:
        for reg, alpha in v:
            if not (0.0 <= reg <= 1e4 and 0.0 < alpha <= 1e4):
                raise ValueError(f"tune_grid pair ({reg}, {alpha}): regularization must be in [0, 1e4], alpha in (0, 1e4]")
        return v


def batched_cg(
    x: torch.Tensor, matvec: Callable[[torch.Tensor], torch.Tensor], b: torch.Tensor, steps: int
) -> torch.Tensor:
    """``steps`` conjugate-gradient steps on A x_r = b_r for every row r at once, warm-started at
    ``x``; ``matvec`` applies each row's own (symmetric positive definite) A."""
    r = b - matvec(x)
    p = r.clone()
    rs = (r * r).sum(1, keepdim=True)
    for _ in range(steps):
        ap = matvec(p)
        alpha = rs / (p * ap).sum(1, keepdim=True).clamp_min(1e-20)
        x = x + alpha * p
        r = r - alpha * ap
        rs_new = (r * r).sum(1, keepdim=True)
        p = r + (rs_new / rs.clamp_min(1e-20)) * p
        rs = rs_new
    return x


def _cg_solve(
    x: torch.Tensor, fixed: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, conf: torch.Tensor,
    reg: torch.Tensor, steps: int,
) -> torch.Tensor:
    """Batched CG for (FᵀF + Fᵀ(C_r - I)F + reg_r I) x_r = Fᵀ C_r 1 for every row r at once
    (``reg``: one penalty per row of ``x``)."""
    gram = fixed.T @ fixed
    fr = fixed[cols]  # (nnz, d)
    reg = reg.unsqueeze(1)

    def matvec(v: torch.Tensor) -> torch.Tensor:
        out = torch.addcmul(v @ gram, reg, v)
        w = ((conf - 1.0) * (fr * v[rows]).sum(1)).unsqueeze(1) * fr
        return out.index_add_(0, rows, w)

    b = torch.zeros_like(x).index_add_(0, rows, conf.unsqueeze(1) * fr)
    return batched_cg(x, matvec, b, steps)


def _ridge_solve(
    x: torch.Tensor, fixed: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor,
    reg: float, steps: int,
) -> torch.Tensor:
    """Batched CG for (F_rᵀF_r + reg I) x_r = F_rᵀ v_r, F_r = the fixed factors of row r's observed
    entries only (explicit feedback: unobserved entries are missing, not zero)."""
    fr = fixed[cols]

    def matvec(v: torch.Tensor) -> torch.Tensor:
        return (reg * v).index_add_(0, rows, (fr * v[rows]).sum(1, keepdim=True) * fr)

    b = torch.zeros_like(x).index_add_(0, rows, values.unsqueeze(1) * fr)
    return batched_cg(x, matvec, b, steps)


def fit_explicit_als(
    user: np.ndarray, item: np.ndarray, values: np.ndarray, n_users: int, n_items: int, *,
    factors: int, regularization: float, iterations: int = 15, cg_steps: int = 3, init_scale: float = 0.1,
    seed: int, device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Factors (n_users x f, n_items x f) minimizing sum over the observed rows of
    (value - <x_u, y_i>)^2 + regularization * (|x_u|^2 + |y_i|^2): explicit-feedback MF by
    alternating ridge solves (batched CG, as in the implicit solver). Users and items without rows
    get 0, so their term vanishes. The hybrid model's regression warm start fits these to the
    residuals of its bias baseline. (``init_scale`` is larger than the implicit solver's: with a
    tiny start the ridge solves can settle in the all-zero fixed point.)"""
    users = torch.as_tensor(user, device=device)
    items = torch.as_tensor(item, device=device)
    vals = torch.as_tensor(values, dtype=torch.float32, device=device)
    x, y, _ = _start_factors(user, item, n_users, n_items, factors, init_scale, seed=seed, device=device)
    for _ in range(iterations):
        x = _ridge_solve(x, y, users, items, vals, regularization, cg_steps)
        y = _ridge_solve(y, x, items, users, vals, regularization, cg_steps)
    return x, y


def als_confidence(plays: np.ndarray, cfg: ALSConfig) -> np.ndarray:
    """Per-row confidence ``1 + alpha * f(plays)`` (float64)."""
    plays = plays.astype(np.float64)
    f = {"log": np.log1p(plays), "linear": plays, "binary": np.ones_like(plays)}[cfg.confidence]
    return 1.0 + cfg.alpha * f


def row_penalties(rows: np.ndarray, n_rows: int, cfg: ALSConfig, device: torch.device) -> torch.Tensor:
    """Per-row L2 penalty ``regularization * (n_r / mean n)^frequency_exponent`` (rows without
    training rows: ``regularization``; their solution is 0 either way). Frequent rows are shrunk
    harder and rare ones less, so ALS does not have to trade them off with one penalty."""
    n = np.bincount(rows, minlength=n_rows).astype(np.float64)
    scale = np.ones(n_rows)
    if cfg.frequency_exponent and (n > 0).any():
        scale = np.where(n > 0, (n / n[n > 0].mean()) ** cfg.frequency_exponent, 1.0)
    return torch.as_tensor(cfg.regularization * scale, dtype=torch.float32, device=device)


def _start_factors(
    user: np.ndarray, item: np.ndarray, n_users: int, n_items: int, factors: int, init_scale: float, *,
    seed: int, device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Seeded random starting factors, zero for users / items without rows; plus the has-rows mask
    of the users. Shared by the implicit and explicit solvers."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    x = (torch.randn(n_users, factors, generator=gen) * init_scale).to(device)
    y = (torch.randn(n_items, factors, generator=gen) * init_scale).to(device)
    has_user = torch.as_tensor(np.bincount(user, minlength=n_users) > 0, device=device)
    x[~has_user] = 0
    y[~torch.as_tensor(np.bincount(item, minlength=n_items) > 0, device=device)] = 0
    return x, y, has_user


def fit_als(
    user: np.ndarray, item: np.ndarray, plays: np.ndarray, n_users: int, n_items: int, cfg: ALSConfig, *,
    seed: int, device: torch.device,
    side: tuple[np.ndarray, np.ndarray, np.ndarray, int] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, TrainingHistory]:
    """Implicit ALS factors (n_users x f, n_items x f) for the (user, item, plays) rows under
    ``cfg``; users without rows get the mean user vector, items without rows 0.
    Shared by ``mf`` and the hybrid model's ALS warm start.

    ``side`` = (row, item, plays, n_rows): side information as pseudo-users (e.g. one per genre,
    collective factorization). They are solved with the users, so they shape the item factors,
    and are then dropped: neither returned nor part of the mean user. They count as rows for the
    frequency-scaled penalty, exactly as if they had been passed as users."""
    n_real = n_users
    if side is not None:
        s_row, s_item, s_plays, n_side = side
        user = np.concatenate([user, n_users + np.asarray(s_row, dtype=np.int64)])
        item = np.concatenate([item, s_item])
        plays = np.concatenate([plays, s_plays])
        n_users += n_side
    users = torch.as_tensor(user, device=device)
    items = torch.as_tensor(item, device=device)
    conf = torch.as_tensor(als_confidence(plays, cfg), dtype=torch.float32, device=device)
    x, y, has_user = _start_factors(user, item, n_users, n_items, cfg.factors, cfg.init_scale, seed=seed, device=device)
    reg_x, reg_y = row_penalties(user, n_users, cfg, device), row_penalties(item, n_items, cfg, device)
    history = TrainingHistory(device=str(device))
    for it in range(cfg.iterations):
        x = _cg_solve(x, y, users, items, conf, reg_x, cfg.cg_steps)
        y = _cg_solve(y, x, items, users, conf, reg_y, cfg.cg_steps)
        history.epochs.append({"epoch": float(it), "user_norm": float(x.norm(dim=1).mean()), "item_norm": float(y.norm(dim=1).mean())})
    x, has_user = x[:n_real], has_user[:n_real]
    mean_user = x[has_user].mean(0) if bool(has_user.any()) else torch.zeros_like(x[0])
    x[~has_user] = mean_user  # unknown / cold users (row 0 included): the mean profile
    return x, y, history


_Fit = tuple[ALSConfig, torch.Tensor, torch.Tensor, TrainingHistory]  # a config and its factors and history


def fit_als_tuned(
    features: FeatureSet, cfg: ALSConfig, *, seed: int, device: torch.device, logger: Any = None,
    side: tuple[np.ndarray, np.ndarray, np.ndarray, int] | None = None,
) -> tuple[ALSConfig, torch.Tensor, torch.Tensor, TrainingHistory]:
    """``fit_als`` on the training split, with ``cfg.tune_grid`` searched on the validation split.

    Returns the config actually used (regularization and alpha replaced by the chosen pair) and
    its factors, so nothing is refitted. Why: the best penalty and confidence scale differ by
    dataset far more than anything else in ALS (Last.fm 50 / 2, MovieLens 100K 20 / 1), and the
    validation split is the honest place to choose them. The validation users' training items are
    excluded and the report's own NDCG is used, as in the evaluation protocol. The first pair is
    kept unless the best beats it by more than one standard error (:func:`one_se_choice`)."""
    train, valid = features.train, features.valid
    n = (features.n_users, features.n_items)
    if not cfg.tune_grid or len(valid) == 0:
        x, y, history = fit_als(train.user, train.item, train.plays, *n, cfg, seed=seed, device=device, side=side)
        return cfg, x, y, history
    check, n_users = full_ranking_validator(features, max_users=cfg.tune_max_users, seed=seed)
    # Only two fits can be chosen, so only their factors are kept: the first and the best so far.
    first: _Fit | None = None
    best: tuple[int, float, _Fit] | None = None
    per_user: list[np.ndarray] = []
    tried: list[dict[str, float]] = []
    for i, (reg, alpha) in enumerate(cfg.tune_grid):
        trial = cfg.model_copy(update={"regularization": float(reg), "alpha": float(alpha), "tune_grid": []})
        x, y, history = fit_als(train.user, train.item, train.plays, *n, trial, seed=seed, device=device, side=side)
        scores = check(lambda u: x[torch.as_tensor(u, device=x.device)] @ y.T).ndcg_per_user
        mean = float(np.nanmean(scores))
        per_user.append(scores)
        tried.append({"regularization": float(reg), "alpha": float(alpha), "val_ndcg@10": mean})
        if first is None:
            first = (trial, x, y, history)
        if best is None or mean > best[1]:  # strict: ties keep the earlier pair, as one_se_choice's argmax does
            best = (i, mean, (trial, x, y, history))
    assert first is not None and best is not None
    pick, margin, se = one_se_choice(per_user)
    assert pick in (0, best[0])
    chosen, x, y, history = first if pick == 0 else best[2]
    history.extra["als_tuning"] = {
        "tried": tried, "chosen": {"regularization": chosen.regularization, "alpha": chosen.alpha},
        "rule": "the first pair unless the best beats it by more than one standard error (paired over users)",
        "best_margin_over_first": margin, "standard_error": se, "users": n_users,
    }
    if logger is not None:
        logger.info("ALS tune_grid: regularization %s, alpha %s (validation NDCG@10 %.4f; best margin over the "
                    "first pair %.4f, standard error %.4f, %d users)", chosen.regularization, chosen.alpha,
                    tried[pick]["val_ndcg@10"], margin, se, n_users)
    return chosen, x, y, history


class ImplicitALS(Model):
    """Matrix factorization for implicit feedback, solved by alternating least squares."""

    name: ClassVar[str] = "mf"
    description: ClassVar[str] = "Implicit-feedback matrix factorization (ALS with play-count confidence)."
    Config: ClassVar[type[PluginConfig]] = ALSConfig
    needs_whole_train: ClassVar[bool] = True  # each ALS half-step solves over every user's or track's rows

    def __init__(self, config: ALSConfig | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.user_factors: torch.Tensor | None = None
        self.item_factors: torch.Tensor | None = None

    def fit(self, features: FeatureSet, context: FitContext) -> TrainingHistory:
        features.require_whole_train(f"model {self.name!r}")
        cfg: ALSConfig = self.config
        seed_everything(context.seed, context.deterministic)
        device = resolve_device(context.device)
        train = features.train
        if len(train) == 0:
            raise ValueError("mf: the training split is empty")
        _, x, y, history = fit_als_tuned(features, cfg, seed=context.seed, device=device, logger=context.logger)
        self.user_factors, self.item_factors = x, y
        return history

    def _check(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.user_factors is None or self.item_factors is None:
            raise RuntimeError("mf model is not fitted")
        return self.user_factors, self.item_factors

    def score_items(self, users: np.ndarray, items: np.ndarray | None = None) -> torch.Tensor:
        x, y = self._check()
        users = clamp_users(users, x.shape[0])
        cand = check_items(items, len(users), y.shape[0])
        u = x[torch.as_tensor(users, device=x.device)]
        if cand is None:
            return u @ y.T
        c = torch.as_tensor(cand, device=y.device)
        scores = torch.einsum("bd,bpd->bp", u, y[c.clamp_min(0)])
        return scores.masked_fill(c < 0, float("-inf"))

    def retrieval_scores(self, users: np.ndarray) -> torch.Tensor | None:
        return self.score_items(users)

    def item_embeddings(self) -> np.ndarray | None:
        return self._check()[1].cpu().numpy()

    def get_state(self) -> State:
        x, y = self._check()
        return State(meta={}, arrays={"user_factors": x.cpu().numpy(), "item_factors": y.cpu().numpy()})

    @classmethod
    def from_state(cls, state: State, features: FeatureSet, config: Any = None) -> Self:
        model = cls(config)
        x = np.asarray(state.arrays["user_factors"], dtype=np.float32)
        y = np.asarray(state.arrays["item_factors"], dtype=np.float32)
        if x.shape[0] != features.n_users or y.shape[0] != features.n_items:
            raise ValueError(f"mf state has {x.shape[0]} users / {y.shape[0]} items, the FeatureSet {features.n_users} / {features.n_items}")
        model.user_factors, model.item_factors = torch.as_tensor(x), torch.as_tensor(y)
        return model
