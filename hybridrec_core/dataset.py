"""In-memory, index-encoded data that models, metrics and re-rankers share.

Contract (stable, see README "Contracts"):
- External ids are strings and stay in DuckDB tables; dense integer indices are made by the id
  encoder. Index 0 of every vocabulary is reserved for *unknown*.
- The user and item vocabularies cover every known user and catalogue track (metadata is not a
  test statistic), but only ids seen in the *training* split have learned id-embeddings:
  ``FeatureSet.train_user_mask`` / ``train_item_mask`` say which. Models map the others to index 0,
  which is how cold-start users and tracks are scored from their content alone.
- Item-side arrays are dense and row-aligned with the item vocabulary (row 0 = unknown item).
- A FeatureSet may hold only one rank's shard of the training split (``train_shard`` set, see
  :class:`TrainShard`): ``train`` then has that rank's rows, while everything that describes the
  whole split (``item_popularity()``, ``fingerprint()``, ``train_rows``, the train masks) still
  answers for the whole split. Code that needs every training row calls ``require_whole_train``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from typing import Any, Iterable

import numpy as np

from hybridrec_core.errors import DataError

AUDIO_FEATURES: tuple[str, ...] = (
    "danceability",
    "energy",
    "loudness",
    "speechiness",
    "acousticness",
    "instrumentalness",
    "liveness",
    "valence",
    "tempo",
)
BINARY_FEATURES: tuple[str, ...] = ("explicit", "mode")
UNKNOWN_INDEX = 0
UNKNOWN_TOKEN = "<unk>"


@dataclass(frozen=True)
class Vocab:
    """Index -> external id. ``ids[0]`` is the unknown token."""

    ids: np.ndarray  # dtype object (str), shape (n,)

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def index_of(self, external: np.ndarray | list[str]) -> np.ndarray:
        """Vectorized lookup; ids not in the vocabulary map to ``UNKNOWN_INDEX``."""
        import pandas as pd

        idx = pd.Index(self.ids).get_indexer(np.asarray(external, dtype=object).reshape(-1))
        return np.where(idx < 0, UNKNOWN_INDEX, idx).astype(np.int64)


@dataclass(frozen=True)
class ItemFeatures:
    """Dense per-item feature arrays, row-aligned with the item vocabulary."""

    artist: np.ndarray  # int64 (n_items,), artist index, 0 = unknown
    genre_indptr: np.ndarray  # int64 (n_items + 1,), CSR row pointers into genre_indices
    genre_indices: np.ndarray  # int64 (nnz,), genre index per (item, genre), 0 never used
    numeric: np.ndarray  # float32 (n_items, n_numeric): scaled, missing values imputed
    numeric_missing: np.ndarray  # float32 (n_items, n_numeric): 1.0 where the raw value was missing
    binary: np.ndarray  # float32 (n_items, 2): explicit, mode (missing -> 0)
    numeric_names: tuple[str, ...] = AUDIO_FEATURES
    year: np.ndarray | None = None  # float32 (n_items,) raw release year, NaN unknown

    @property
    def n_items(self) -> int:
        return int(self.artist.shape[0])

    @property
    def explicit(self) -> np.ndarray:
        return self.binary[:, 0] > 0.5

    def genre_matrix(self, n_genres: int) -> "np.ndarray":
        """Dense multi-hot (n_items, n_genres) float32 matrix; fine for the catalogues we target."""
        out = np.zeros((self.n_items, n_genres), dtype=np.float32)
        rows = np.repeat(np.arange(self.n_items), np.diff(self.genre_indptr))
        out[rows, self.genre_indices] = 1.0
        return out

    def genre_padded(self, pad: int = 0) -> np.ndarray:
        """(n_items, max_genres) int64 genre indices padded with ``pad`` (for EmbeddingBag)."""
        counts = np.diff(self.genre_indptr)
        width = max(1, int(counts.max(initial=0)))
        out = np.full((self.n_items, width), pad, dtype=np.int64)
        rows = np.repeat(np.arange(self.n_items), counts)
        cols = np.arange(self.genre_indices.size) - np.repeat(self.genre_indptr[:-1], counts)
        out[rows, cols] = self.genre_indices
        return out


@dataclass
class InteractionSet:
    """One split of interactions, index-encoded. Arrays are aligned, one row per (user, item)."""

    user: np.ndarray  # int64 user index (into the user vocabulary)
    item: np.ndarray  # int64 item index
    plays: np.ndarray  # float32 raw play count (or rating) after duplicate merging
    target: np.ndarray  # float32 encoded interaction strength in [0, 1] (regression target)
    timestamp: np.ndarray | None = None  # int64 epoch seconds, or None when the source has none

    def __post_init__(self) -> None:
        n = self.user.shape[0]
        for f in fields(self):
            arr = getattr(self, f.name)
            if arr is not None and arr.shape[0] != n:
                raise ValueError(f"InteractionSet.{f.name} has {arr.shape[0]} rows, user has {n}")

    def __len__(self) -> int:
        return int(self.user.shape[0])

    @classmethod
    def empty(cls) -> "InteractionSet":
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z.copy(), np.zeros(0, np.float32), np.zeros(0, np.float32))

    def subset(self, mask: np.ndarray) -> "InteractionSet":
        ts = None if self.timestamp is None else self.timestamp[mask]
        return InteractionSet(self.user[mask], self.item[mask], self.plays[mask], self.target[mask], ts)

    def csr(self, n_users: int, n_items: int, values: str | None = None):
        """scipy CSR user x item matrix (values: None -> 1.0, or 'plays' / 'target')."""
        import scipy.sparse as sp

        data = np.ones(len(self), np.float32) if values is None else getattr(self, values).astype(np.float32)
        return sp.csr_matrix((data, (self.user, self.item)), shape=(n_users, n_items))


SPLIT_NAMES: tuple[str, ...] = ("train", "valid", "test", "cold_user", "cold_item")


class WholeTrainRequired(DataError):
    """Something that needs every training row was given a FeatureSet holding one rank's shard."""


def train_fingerprint(sizes: tuple[int, int, int, int], columns: Iterable[Iterable[np.ndarray]]) -> str:
    """The training-data fingerprint from the vocabulary sizes and the train split's ``user``,
    ``item`` and ``target`` columns, each an iterable of chunks in table order (hashed as raw bytes:
    pass the dtypes a loaded FeatureSet has, int64 / int64 / float32). One definition for in-memory
    arrays and for chunks streamed out of DuckDB, so a fingerprint computed either way is the same."""
    h = hashlib.sha256()
    h.update(":".join(str(int(n)) for n in sizes).encode())
    for chunks in columns:
        for chunk in chunks:
            h.update(np.ascontiguousarray(chunk).tobytes())
    return h.hexdigest()[:16]


@dataclass(frozen=True, eq=False)
class TrainShard:
    """Marks a FeatureSet's ``train`` split as shard ``rank`` of ``world_size``: the rows of the
    users with ``user_idx % world_size == rank`` (so each user's training rows live on one rank).

    It carries the facts about the WHOLE split that a shard cannot derive from its own rows; the
    FeatureSet answers ``fingerprint()``, ``item_popularity()`` and ``train_rows`` from them, so a
    model artifact saved from a shard matches the whole FeatureSet it is later loaded with."""

    rank: int
    world_size: int
    global_rows: int  # training rows of the whole split
    fingerprint: str  # FeatureSet.fingerprint() of the whole FeatureSet
    item_popularity: np.ndarray  # float64 (n_items,): training interactions per item, whole split

    def __post_init__(self) -> None:
        check_shard(self.rank, self.world_size)
        if self.global_rows < 0:
            raise ValueError(f"TrainShard.global_rows must be >= 0, got {self.global_rows}")

    def describe(self) -> str:
        return f"shard {self.rank} of {self.world_size} (users with user_idx % {self.world_size} == {self.rank})"


def check_shard(rank: Any, world_size: Any) -> tuple[int, int]:
    """``(rank, world_size)`` as ints after checking ``0 <= rank < world_size``; clear errors otherwise."""
    for name, value in (("rank", rank), ("world_size", world_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise DataError(f"train shard {name} must be an integer, got {value!r}")
    if world_size < 1 or not 0 <= rank < world_size:
        raise DataError(f"train shard (rank={rank}, world_size={world_size}) needs world_size >= 1 and 0 <= rank < world_size")
    return int(rank), int(world_size)


@dataclass
class FeatureSet:
    """Everything a model needs: vocabularies, item features and the splits.

    Built by the feature engine from DuckDB tables (``features_*``, ``split_*``), or by hand in
    tests. ``encoder_state`` holds the fitted encoders (JSON-able dicts + arrays) so a model
    artifact can carry them. ``train_shard`` is set when ``train`` holds only one rank's shard
    (``load_features(store, shard=(rank, world_size))``); None means the whole split.
    """

    users: Vocab
    items: Vocab
    artists: Vocab
    genres: Vocab
    item_features: ItemFeatures
    splits: dict[str, InteractionSet]
    train_user_mask: np.ndarray  # bool (n_users,)
    train_item_mask: np.ndarray  # bool (n_items,)
    item_titles: np.ndarray | None = None  # object (n_items,) display title
    artist_names: np.ndarray | None = None  # object (n_artists,) display name
    encoder_state: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    train_shard: TrainShard | None = None

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def n_artists(self) -> int:
        return len(self.artists)

    @property
    def n_genres(self) -> int:
        return len(self.genres)

    @property
    def train(self) -> InteractionSet:
        return self.splits["train"]

    @property
    def valid(self) -> InteractionSet:
        return self.splits.get("valid", InteractionSet.empty())

    @property
    def test(self) -> InteractionSet:
        return self.splits.get("test", InteractionSet.empty())

    @property
    def train_rows(self) -> int:
        """Rows of the whole training split (``len(train)`` unless ``train`` is a shard)."""
        return len(self.train) if self.train_shard is None else self.train_shard.global_rows

    def require_whole_train(self, who: str) -> None:
        """Raise :class:`WholeTrainRequired` naming ``who`` when ``train`` is only one rank's shard."""
        if self.train_shard is not None:
            raise WholeTrainRequired(
                f"{who} needs the whole training split, but this FeatureSet holds {self.train_shard.describe()}; "
                "use a FeatureSet loaded without shard="
            )

    def item_popularity(self) -> np.ndarray:
        """Number of training interactions per item (float64, row-aligned with items), over the
        whole training split even when ``train`` is a shard (popularity negative sampling must not
        depend on which users a rank holds)."""
        if self.train_shard is not None:
            return self.train_shard.item_popularity.copy()
        return np.bincount(self.train.item, minlength=self.n_items).astype(np.float64)

    def fingerprint(self) -> str:
        """A stable hash of the training data and vocab sizes (stored in model artifacts); a shard
        answers with the whole split's fingerprint, so its artifacts load against the whole set."""
        if self.train_shard is not None:
            return self.train_shard.fingerprint
        t = self.train
        return train_fingerprint(
            (self.n_users, self.n_items, self.n_artists, self.n_genres), ([t.user], [t.item], [t.target])
        )
