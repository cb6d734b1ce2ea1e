"""A tiny in-memory FeatureSet with planted structure, for unit tests of models, metrics and
re-rankers that should not depend on the data layer. Users prefer one genre cluster; each track
belongs to one cluster, so a model that learns anything beats popularity."""

from __future__ import annotations

import numpy as np

from hybridrec_core.dataset import FeatureSet, InteractionSet, ItemFeatures, Vocab


def _vocab(prefix: str, n: int) -> Vocab:
    return Vocab(np.array(["<unk>"] + [f"{prefix}{i}" for i in range(1, n)], dtype=object))


def toy_feature_set(
    n_users: int = 200, n_items: int = 120, n_clusters: int = 4, per_user: int = 15, seed: int = 0
) -> FeatureSet:
    """Index 0 of users/items is the unknown slot; interactions use indices >= 1."""
    rng = np.random.default_rng(seed)
    n_genres = n_clusters + 1
    n_artists = n_items // 4 + 1
    item_cluster = rng.integers(0, n_clusters, size=n_items)
    user_cluster = rng.integers(0, n_clusters, size=n_users)
    artist = np.concatenate([[0], rng.integers(1, n_artists, size=n_items - 1)])
    genre_indices = (item_cluster + 1).astype(np.int64)
    genre_indices[0] = 1
    genre_indptr = np.arange(n_items + 1, dtype=np.int64)
    numeric = rng.normal(size=(n_items, 9)).astype(np.float32)
    numeric[:, 0] += item_cluster * 1.0
    binary = np.stack([rng.random(n_items) < 0.2, rng.random(n_items) < 0.5], axis=1).astype(np.float32)
    pop = 1.0 / np.arange(1, n_items) ** 0.7
    users, items, plays = [], [], []
    for u in range(1, n_users):
        w = pop * np.where(item_cluster[1:] == user_cluster[u], 8.0, 1.0)
        chosen = rng.choice(np.arange(1, n_items), size=per_user, replace=False, p=w / w.sum())
        users.append(np.full(per_user, u))
        items.append(chosen)
        plays.append(rng.poisson(3 + 10 * (item_cluster[chosen] == user_cluster[u])) + 1)
    user = np.concatenate(users).astype(np.int64)
    item = np.concatenate(items).astype(np.int64)
    play = np.concatenate(plays).astype(np.float32)
    target = (np.log1p(play) / np.log1p(play).max()).astype(np.float32)
    ts = (1_600_000_000 + rng.integers(0, 10_000_000, size=len(user))).astype(np.int64)
    order = rng.permutation(len(user))
    cut1, cut2 = int(0.8 * len(user)), int(0.9 * len(user))
    full = InteractionSet(user, item, play, target, ts)
    splits = {
        "train": full.subset(order[:cut1]),
        "valid": full.subset(order[cut1:cut2]),
        "test": full.subset(order[cut2:]),
    }
    train = splits["train"]
    tu = np.zeros(n_users, bool)
    tu[train.user] = True
    ti = np.zeros(n_items, bool)
    ti[train.item] = True
    return FeatureSet(
        users=_vocab("u", n_users),
        items=_vocab("t", n_items),
        artists=_vocab("a", n_artists),
        genres=Vocab(np.array(["<unk>"] + [f"genre{g}" for g in range(n_clusters)], dtype=object)),
        item_features=ItemFeatures(
            artist=artist.astype(np.int64),
            genre_indptr=genre_indptr,
            genre_indices=genre_indices,
            numeric=numeric,
            numeric_missing=np.zeros_like(numeric),
            binary=binary,
        ),
        splits=splits,
        train_user_mask=tu,
        train_item_mask=ti,
        item_titles=np.array([f"Track {i}" for i in range(n_items)], dtype=object),
        artist_names=np.array([f"Artist {i}" for i in range(n_artists)], dtype=object),
        metadata={"source": "toy", "user_cluster": user_cluster.tolist(), "item_cluster": item_cluster.tolist()},
    )
