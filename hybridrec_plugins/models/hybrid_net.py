"""The HybridMusicRecommender network (reference design) with its first MLP layer split.

Input blocks: user id embedding | track id, artist, genre-bag (mean), audio block
(Linear -> ReLU -> BatchNorm over 9 features + 9 missing flags), binary block (explicit, mode).
They are concatenated into an MLP of Linear -> ReLU -> BatchNorm -> Dropout layers with a residual
projection where widths differ, then Linear(., 1).

Why the split: the first Linear over ``[user | item]`` equals ``W_u u + W_i v``. The item half
(and its residual projection) depends only on the item, so it is computed once for the whole
catalogue and cached; scoring B users is then a (B, N, h1) broadcast sum through the remaining
(cheap) layers. An optional dot-product head ``<u, P v>`` adds a GMF term that ranks well and
doubles as the cheap retrieval score for two-stage recommendation.
"""

from __future__ import annotations

import torch
from torch import nn


class ItemTables(nn.Module):
    """Item-side feature tensors, kept on the module's device as buffers (not trained)."""

    def __init__(self, artist: torch.Tensor, genres: torch.Tensor, numeric: torch.Tensor, binary: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("artist", artist, persistent=False)
        self.register_buffer("genres", genres, persistent=False)
        self.register_buffer("numeric", numeric, persistent=False)
        self.register_buffer("binary", binary, persistent=False)


class FastDropout(nn.Module):
    """Inverted dropout with its mask drawn by ``rand_like`` (uniform) instead of ``bernoulli_``.

    Same function as ``nn.Dropout`` (keep with probability 1 - p, scale by 1 / (1 - p), identity in
    eval mode), but on CPU torch's ``bernoulli_`` costs ~2.5x a uniform draw: with three dropout
    layers it took ~14 % of a training step at batch 1024 on 2 threads."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand_like(x) >= self.p
        return x * keep.to(x.dtype) * (1.0 / (1.0 - self.p))


class Block(nn.Module):
    """Linear -> ReLU -> BatchNorm -> Dropout, plus a residual projection when widths differ."""

    def __init__(self, d_in: int, d_out: int, dropout: float) -> None:
        super().__init__()
        self.linear = nn.Linear(d_in, d_out)
        self.norm = nn.BatchNorm1d(d_out)
        self.drop = FastDropout(dropout)
        self.residual = nn.Linear(d_in, d_out, bias=False) if d_in != d_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.drop(self.norm(torch.relu(self.linear(x))))
        return out + (self.residual(x) if self.residual is not None else x)

    def fused_eval(self, x: torch.Tensor) -> torch.Tensor:
        """Eval-mode forward: one matmul for linear + residual, BatchNorm as an in-place affine."""
        norm = self.norm
        scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
        shift = norm.bias - norm.running_mean * scale
        d_out = self.linear.out_features
        if self.residual is None:
            y = torch.addmm(self.linear.bias, x, self.linear.weight.T)
            return y.relu_().mul_(scale).add_(shift).add_(x)
        w = torch.cat([self.linear.weight, self.residual.weight]).T
        y = x @ w
        main = y[:, :d_out].add_(self.linear.bias).relu_().mul_(scale).add_(shift)
        return main.add_(y[:, d_out:])


class HybridNet(nn.Module):
    """Scores (user, item) pairs. ``n_*`` are vocabulary sizes (index 0 = unknown)."""

    def __init__(
        self,
        n_users: int,
        n_items: int,
        n_artists: int,
        n_genres: int,
        n_numeric: int,
        item_tables: ItemTables,
        embedding_dim: int = 64,
        hidden: tuple[int, ...] = (256, 128, 64),
        dropout: float = 0.2,
        dot_head: bool = True,
        sparse: bool = True,
        bias: bool = False,
        backbone_dim: int = 0,
        backbone_inputs: bool = False,
    ) -> None:
        super().__init__()
        d = embedding_dim
        self.user_emb = nn.Embedding(n_users, d, sparse=sparse)
        self.item_emb = nn.Embedding(n_items, d, sparse=sparse)
        self.artist_emb = nn.Embedding(n_artists, d, sparse=sparse)
        self.genre_bag = nn.EmbeddingBag(max(n_genres, 1), d, mode="mean", sparse=sparse, padding_idx=0)
        for emb in (self.user_emb, self.item_emb, self.artist_emb, self.genre_bag):
            nn.init.normal_(emb.weight, std=0.05)
        self.numeric_block = nn.Sequential(nn.Linear(n_numeric, d), nn.ReLU(), nn.BatchNorm1d(d))
        self.binary_block = nn.Sequential(nn.Linear(2, d), nn.ReLU(), nn.BatchNorm1d(d))
        self.items = item_tables
        h1 = hidden[0]
        # First layer, split: Linear([u | v]) == first_user(u) + first_item(v).
        # The MLP's id inputs: the user and track id embeddings, or (backbone_inputs) the fixed
        # backbone factors, so the MLP has no free per-user or per-track parameters to memorize
        # training rows with.
        if backbone_inputs and not backbone_dim:
            raise ValueError("HybridNet: backbone_inputs needs backbone_dim > 0")
        self.backbone_inputs = backbone_inputs
        d_user = backbone_dim if backbone_inputs else d
        item_width = 4 * d + d_user
        self.first_user = nn.Linear(d_user, h1, bias=False)
        self.first_item = nn.Linear(item_width, h1)
        self.first_norm = nn.BatchNorm1d(h1)
        self.first_drop = FastDropout(dropout)
        self.res_user = nn.Linear(d_user, h1, bias=False)
        self.res_item = nn.Linear(item_width, h1, bias=False)
        self.blocks = nn.ModuleList(Block(a, b, dropout) for a, b in zip(hidden[:-1], hidden[1:]))
        self.out = nn.Linear(hidden[-1], 1)
        self.dot_proj = nn.Linear(item_width, d, bias=False) if dot_head else None
        # Per-user and per-track scalar biases ride in the dot channel: the user vector gets
        # [.., 1, b_u] and the item vector [.., b_i, 1], so <user, item> adds b_u + b_i and every
        # scoring path (cache, tiles, candidates, retrieval) handles them without a special case.
        self.user_bias = nn.Embedding(n_users, 1, sparse=sparse) if bias else None
        self.item_bias = nn.Embedding(n_items, 1, sparse=sparse) if bias else None
        for emb in (self.user_bias, self.item_bias):
            if emb is not None:
                nn.init.zeros_(emb.weight)
        self.dot_dim = d if dot_head else 0  # width of the dot-product part of the dot channel
        # A fixed collaborative backbone (e.g. implicit-ALS factors, see HybridMusicRecommender's
        # warm_start 'als') also rides in the dot channel: [.., s * x_u] . [.., y_i] adds
        # s * <x_u, y_i>. The factor tables are frozen; only the scale s is trained.
        self.cf_user = nn.Embedding(n_users, backbone_dim) if backbone_dim else None
        self.cf_item = nn.Embedding(n_items, backbone_dim) if backbone_dim else None
        self.cf_scale = nn.Parameter(torch.ones(())) if backbone_dim else None
        for emb in (self.cf_user, self.cf_item):
            if emb is not None:
                nn.init.zeros_(emb.weight)
                emb.weight.requires_grad_(False)

    # -- the two halves -------------------------------------------------------------------
    def item_repr(self, items: torch.Tensor, ids: torch.Tensor | None = None) -> torch.Tensor:
        """(n, 5d) item-side input: id, artist, genres, audio block, binary block.

        ``ids`` are the id-embedding rows (``items`` with cold or masked tracks set to 0, so they
        use the learned unknown row while keeping their artist/genre/audio features)."""
        t = self.items
        id_table = self.cf_item if self.backbone_inputs else self.item_emb
        return torch.cat(
            [
                id_table(items if ids is None else ids),
                self.artist_emb(t.artist[items]),
                self.genre_bag(t.genres[items]),
                self.numeric_block(t.numeric[items]),
                self.binary_block(t.binary[items]),
            ],
            dim=-1,
        )

    def item_part(
        self, v: torch.Tensor, ids: torch.Tensor | None = None, cf_rows: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Item half of the first layer, its residual and the dot-channel vector (dot head and/or
        biases; ``ids`` are the id rows used for ``v``, needed when the model has biases)."""
        return self.first_item(v), self.res_item(v), self.item_dot(v, ids, cf_rows)

    def item_dot(
        self, v: torch.Tensor, ids: torch.Tensor | None = None, cf_rows: torch.Tensor | None = None
    ) -> torch.Tensor | None:
        """The item's dot-channel vector alone (dot head and/or biases; None without either).

        ``cf_rows``: rows of the backbone table to use instead of ``ids`` (scoring passes the
        tracks themselves, so a new track reads the factors predicted for it from content, which
        sit in its own row; training passes none, so a masked track reads the empty row 0)."""
        dot = self.dot_proj(v) if self.dot_proj is not None else None
        if self.item_bias is not None:
            if ids is None:
                raise ValueError("HybridNet.item_dot needs the item ids when bias terms are on")
            b = self.item_bias(ids)
            extra = torch.cat([b, torch.ones_like(b)], dim=-1)
            dot = extra if dot is None else torch.cat([dot, extra], dim=-1)
        if self.cf_item is not None:
            if ids is None:
                raise ValueError("HybridNet.item_dot needs the item ids when a backbone is set")
            y = self.cf_item(ids if cf_rows is None else cf_rows).to(v.dtype)
            dot = y if dot is None else torch.cat([dot, y], dim=-1)
        return dot

    def user_vector(self, users: torch.Tensor, u: torch.Tensor | None = None) -> torch.Tensor:
        """The user's dot-channel vector (dot head and/or [1, b_u]); ``u`` = its embedding rows if known."""
        u = self.user_emb(users) if u is None else u
        vec = u if self.dot_proj is not None else u[..., :0]
        if self.user_bias is not None:
            b = self.user_bias(users)
            vec = torch.cat([vec, torch.ones_like(b), b], dim=-1)
        if self.cf_user is not None:
            vec = torch.cat([vec, self.cf_scale * self.cf_user(users)], dim=-1)
        return vec

    def user_part(self, users: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """User half of the first layer, its residual and the user's dot-channel vector."""
        u = self.user_emb(users)
        m = self.cf_user(users) if self.backbone_inputs else u
        return self.first_user(m), self.res_user(m), self.user_vector(users, u)

    def head(
        self,
        user: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
        item: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None],
    ) -> torch.Tensor:
        """Combine user parts (B, .) with item parts (B, P, .) or (P, .) -> scores (B, P)."""
        if not self.training and not torch.is_grad_enabled():
            return self._inference_head(user, item)
        au, ru, u = user
        ai, ri, dot = item
        pre = au.unsqueeze(1) + (ai if ai.dim() == 3 else ai.unsqueeze(0))
        res = ru.unsqueeze(1) + (ri if ri.dim() == 3 else ri.unsqueeze(0))
        b, p, h = pre.shape
        x = self.first_drop(self.first_norm(torch.relu(pre.reshape(b * p, h)))) + res.reshape(b * p, h)
        for block in self.blocks:
            x = block(x)
        score = self.out(x).reshape(b, p)
        if dot is not None:
            score = score + (torch.einsum("bd,bpd->bp", u, dot) if dot.dim() == 3 else u @ dot.T)
        return score

    # -- inference: same function, fewer passes over the (B, P, h) activations ---------------
    @staticmethod
    def _bn_affine(norm: nn.BatchNorm1d) -> tuple[torch.Tensor, torch.Tensor]:
        """Eval-mode BatchNorm as ``x * scale + shift``."""
        scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
        return scale, norm.bias - norm.running_mean * scale

    def _inference_head(
        self,
        user: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
        item: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None],
    ) -> torch.Tensor:
        """Eval-mode ``head``: BatchNorm as an in-place affine, each Block's linear and residual
        projection fused into one matmul, and in-place ReLU/adds, so the memory-bound elementwise
        passes over the (B*P, h) activations drop from about five per layer to one or two.
        Dropout is the identity in eval mode. Numerically the same function as ``head``."""
        au, ru, u = user
        ai, ri, dot = item
        scale, shift = self._bn_affine(self.first_norm)
        ai3 = ai if ai.dim() == 3 else ai.unsqueeze(0)
        ri3 = (ri if ri.dim() == 3 else ri.unsqueeze(0)) + shift  # BN shift folded into the item residual
        x = au.unsqueeze(1) + ai3
        b, p, h = x.shape
        x.relu_().mul_(scale).add_(ri3).add_(ru.unsqueeze(1))
        x = x.reshape(b * p, h)
        for block in self.blocks:
            x = block.fused_eval(x)
        score = self.out(x).reshape(b, p)
        if dot is not None:
            score = score + (torch.einsum("bd,bpd->bp", u, dot) if dot.dim() == 3 else u @ dot.T)
        return score

    def forward(self, users: torch.Tensor, items: torch.Tensor, ids: torch.Tensor | None = None) -> torch.Tensor:
        """Scores for users (B,) against items (B, P) -> (B, P)."""
        b, p = items.shape
        v = self.item_repr(items.reshape(-1), None if ids is None else ids.reshape(-1))
        ai, ri, dot = self.item_part(v, (items if ids is None else ids).reshape(-1))
        part = (ai.reshape(b, p, -1), ri.reshape(b, p, -1), None if dot is None else dot.reshape(b, p, -1))
        return self.head(self.user_part(users), part)
