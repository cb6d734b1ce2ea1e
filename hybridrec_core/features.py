"""The feature engine: raw_* tables -> splits -> encoders fitted on TRAIN -> feature tables.

``build_features`` writes every output table (``vocab_*``, ``features_*``, ``split_*`` and the
fitted encoder states) in ONE transaction, so a failed build leaves the previous tables intact.
``load_features`` rebuilds exactly the same :class:`FeatureSet` from those tables, or, with
``shard=(rank, world_size)``, one data-parallel rank's view of it: only the ``split_train`` rows of
the users with ``user_idx % world_size == rank`` are read (filtered in SQL), everything else stays
whole, and the whole split's popularity (a SQL ``GROUP BY``) and fingerprint (stored in
``features_meta`` at build time) ride along in a :class:`~hybridrec_core.dataset.TrainShard`.

Heavy lifting is SQL: the split is assigned by hashing, ids are indexed by joining the vocab
tables, and only index arrays come back to numpy. Nothing here pickles: encoder arrays are
stored as ``.npy`` bytes loaded with ``allow_pickle=False``.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any, Iterator

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from hybridrec_core.config import PipelineConfig
from hybridrec_core.dataset import (
    AUDIO_FEATURES, UNKNOWN_TOKEN, FeatureSet, InteractionSet, ItemFeatures, TrainShard, Vocab, check_shard,
    train_fingerprint,
)
from hybridrec_core.errors import DataError, HybridrecError
from hybridrec_core.ingest import apply_memory_limit
from hybridrec_core.interfaces import FeatureEncoder, PluginKind
from hybridrec_core.plugins import get_plugin_manager
from hybridrec_core.splits import SPLITS, check_split_input, split_sql
from hybridrec_core.state import State
from hybridrec_core.storage import Store, validate_identifier

RAW_TABLES = ("raw_tracks", "raw_users", "raw_interactions")
SPLIT_CODES = {name: i for i, name in enumerate(SPLITS)}
ENCODER_ROLES = {  # encoder_state key -> config role
    "ids.users": "ids", "ids.items": "ids", "ids.artists": "ids",
    "numeric": "numeric", "genres": "genres", "text": "text", "temporal": "temporal", "strength": "strength",
}
FEATURE_TABLES = (
    "vocab_users", "vocab_items", "vocab_artists", "vocab_genres", "features_items", "features_users",
    *(f"split_{s}" for s in SPLITS), "features_encoders", "features_encoder_arrays", "features_meta",
)
# features_meta key of FeatureSet.fingerprint() as built: a shard reads it instead of hashing every
# training row (databases built before it existed are hashed by streaming split_train once).
TRAIN_FINGERPRINT_KEY = "train_fingerprint"
SPLIT_COLUMNS = 'user_idx, item_idx, plays, target, "timestamp"'


# --------------------------------------------------------------------------------- public API
def build_features(store: Store, config: PipelineConfig) -> FeatureSet:
    """Split raw_interactions, fit the configured encoders on TRAIN only, write all tables."""
    seed = config.split.seed if config.split.seed is not None else config.seed
    with store.connect() as con:
        missing = [t for t in RAW_TABLES if not _exists(con, t)]
        if missing:
            raise DataError(f"{store.path}: tables {missing} do not exist; run ingest first")
        apply_memory_limit(con)
        check_split_input(con, "raw_interactions", config.split)
        features, tables = _build(con, split_sql("raw_interactions", config.split, seed), config, seed)
        Store.replace_tables_in(con, tables)
    return features


def load_features(store: Store, shard: tuple[int, int] | None = None) -> FeatureSet:
    """Rebuild the FeatureSet that the last successful :func:`build_features` returned.

    ``shard=(rank, world_size)``: read only this rank's training rows (users with
    ``user_idx % world_size == rank``) so data-parallel ranks split the reading as well as the
    work; see the module docstring for what stays whole."""
    part = None if shard is None else _shard_arg(shard)
    if not store.path.exists():
        raise DataError(f"{store.path} does not exist; run ingest and build_features first")
    with store.connect(read_only=True) as con:
        missing = [t for t in FEATURE_TABLES if not _exists(con, t)]
        if missing:
            raise DataError(f"{store.path}: feature tables {missing} are missing; run build_features first")
        return _load(con, part)


def _shard_arg(shard: Any) -> tuple[int, int]:
    if not isinstance(shard, (tuple, list)) or len(shard) != 2:
        raise DataError(f"shard must be a (rank, world_size) pair, got {shard!r}")
    return check_shard(*shard)


def encoder_from_state(entry: dict[str, Any]) -> FeatureEncoder:
    """A fitted encoder from one ``FeatureSet.encoder_state`` entry (as saved with models)."""
    cls = get_plugin_manager().get(PluginKind.ENCODER, entry["name"]).cls
    return cls.from_state(State(meta=entry["meta"], arrays=dict(entry.get("arrays", {}))), entry.get("params"))


# --------------------------------------------------------------------------------- building
@dataclass
class _Encoders:
    users: Any
    items: Any
    artists: Any
    numeric: Any
    genres: Any
    text: Any
    temporal: Any
    strength: Any

    @classmethod
    def create(cls, config: PipelineConfig) -> "_Encoders":
        pm = get_plugin_manager()

        def make(role: str) -> Any:
            spec = getattr(config.encoders, role)
            enc = pm.create(PluginKind.ENCODER, spec.name, spec.params)
            if getattr(enc, "role", None) != role:
                raise HybridrecError(
                    f"encoders.{role} names plugin {spec.name!r}, whose role is {getattr(enc, 'role', None)!r}, not {role!r}"
                )
            return enc

        return cls(make("ids"), make("ids"), make("ids"), make("numeric"), make("genres"), make("text"),
                   make("temporal"), make("strength"))

    def specs(self, config: PipelineConfig) -> dict[str, tuple[Any, Any]]:
        e = config.encoders
        return {
            "ids.users": (self.users, e.ids), "ids.items": (self.items, e.ids), "ids.artists": (self.artists, e.ids),
            "numeric": (self.numeric, e.numeric), "genres": (self.genres, e.genres), "text": (self.text, e.text),
            "temporal": (self.temporal, e.temporal), "strength": (self.strength, e.strength),
        }


def _build(con: duckdb.DuckDBPyConnection, split_query: str, config: PipelineConfig, seed: int) -> tuple[FeatureSet, dict[str, Any]]:
    enc = _Encoders.create(config)
    tracks = con.execute("SELECT * FROM raw_tracks ORDER BY track_id").df()
    user_ids = con.execute("SELECT user_id FROM raw_users ORDER BY user_id").fetchnumpy()["user_id"]

    # Catalogue-level vocabularies: metadata, not test statistics (see dataset.py contract).
    enc.text.fit(None)
    artist_name_norm = enc.text.transform(tracks["artist_name"].to_numpy(object))
    title_norm = enc.text.transform(tracks["title"].to_numpy(object))
    artist_key = np.where(
        tracks["artist_id"].notna().to_numpy(),
        tracks["artist_id"].to_numpy(object),
        np.where(pd.notna(artist_name_norm), "name:" + pd.Series(artist_name_norm, dtype=object).fillna("").to_numpy(object), None),
    )
    enc.users.fit(np.asarray(user_ids, dtype=object))
    enc.items.fit(tracks["track_id"].to_numpy(object))
    enc.artists.fit(pd.Series(artist_key, dtype=object).dropna().to_numpy(object))
    n_users, n_items = len(enc.users.vocab), len(enc.items.vocab)

    ix = _index_interactions(con, split_query, enc.users.vocab, enc.items.vocab)
    uidx, iidx, plays, ts, sl = ix.user, ix.item, ix.plays, ix.timestamp, ix.slices
    has_ts = ts is not None
    tr = sl["train"]
    train_user_mask = np.bincount(uidx[tr], minlength=n_users) > 0
    train_item_mask = np.bincount(iidx[tr], minlength=n_items) > 0
    train_user_mask[0] = train_item_mask[0] = False

    # Interaction-side encoders: fitted on TRAIN rows only.
    enc.strength.fit(plays[tr], users=uidx[tr])
    enc.temporal.fit(ts[tr] if ts is not None else None)

    items = _item_side(tracks, enc, train_item_mask, n_items, artist_key, title_norm)

    splits: dict[str, InteractionSet] = {}
    temporal: dict[str, dict[str, np.ndarray] | None] = {}
    for s, r in sl.items():
        target = enc.strength.transform(plays[r], users=uidx[r])
        splits[s] = InteractionSet(uidx[r], iidx[r], plays[r].astype(np.float32), target,
                                   ts[r] if ts is not None else None)
        temporal[s] = enc.temporal.transform(ts[r]) if ts is not None else None

    encoder_state = {}
    for key, (e, spec) in enc.specs(config).items():
        st = e.get_state()
        encoder_state[key] = {"role": ENCODER_ROLES[key], "name": spec.name, "params": e.config.model_dump(mode="json"),
                              "meta": st.meta, "arrays": {k: np.asarray(v) for k, v in st.arrays.items()}}
    source = _ingest_source(con)
    metadata = {
        "source": source, "seed": seed, "split": config.split.model_dump(mode="json"), "has_timestamps": has_ts,
        "split_counts": {s: len(v) for s, v in splits.items()},
        "encoders": {k: v["name"] for k, v in encoder_state.items()},
    }
    fs = FeatureSet(
        users=enc.users.vocab, items=enc.items.vocab, artists=enc.artists.vocab, genres=items["genres"],
        item_features=items["features"], splits=splits, train_user_mask=train_user_mask,
        train_item_mask=train_item_mask, item_titles=items["titles"], artist_names=items["artist_names"],
        encoder_state=encoder_state, metadata=metadata,
    )
    metadata[TRAIN_FINGERPRINT_KEY] = fs.fingerprint()  # what a shard of this build reports as its fingerprint
    tables = _tables(fs, temporal, items["title_norm"], enc.artists.vocab.ids)
    return fs, tables


def _item_side(tracks: pd.DataFrame, enc: _Encoders, train_item_mask: np.ndarray, n_items: int,
               artist_key: np.ndarray, title_norm: np.ndarray) -> dict[str, Any]:
    """Item arrays row-aligned with the item vocabulary; numeric and genre encoders are fitted on
    the tracks that occur in TRAIN only (row 0 = unknown item: no genres, all features missing)."""
    pos = enc.items.transform(tracks["track_id"].to_numpy(object))
    audio = np.full((n_items, len(AUDIO_FEATURES)), np.nan)
    audio[pos] = tracks[list(AUDIO_FEATURES)].to_numpy(np.float64, na_value=np.nan)
    genre_str = np.full(n_items, None, dtype=object)
    genre_str[pos] = tracks["genres"].to_numpy(object)
    audio_df = pd.DataFrame(audio, columns=list(AUDIO_FEATURES))
    enc.numeric.fit(audio_df[train_item_mask])
    numeric, numeric_missing = enc.numeric.transform(audio_df)
    numeric[0], numeric_missing[0] = 0.0, 1.0
    enc.genres.fit(genre_str[train_item_mask])
    genre_indptr, genre_indices = enc.genres.transform(genre_str)
    genre_vocab = np.asarray(enc.genres.vocab, dtype=object)

    item_artist = np.zeros(n_items, np.int64)
    item_artist[pos] = enc.artists.transform(artist_key)
    binary = np.zeros((n_items, 2), np.float32)
    binary[pos, 0] = tracks["explicit"].fillna(False).to_numpy(bool)
    binary[pos, 1] = tracks["mode"].fillna(0).to_numpy(np.float64) > 0.5
    year = np.full(n_items, np.nan, np.float32)
    year[pos] = tracks["year"].to_numpy(np.float64, na_value=np.nan)
    titles = np.full(n_items, UNKNOWN_TOKEN, dtype=object)
    titles[pos] = tracks["title"].fillna(tracks["track_id"]).to_numpy(object)
    title_norm_items = np.full(n_items, None, dtype=object)
    title_norm_items[pos] = title_norm
    n_artists = len(enc.artists.vocab)
    artist_names = np.full(n_artists, UNKNOWN_TOKEN, dtype=object)
    named = pd.DataFrame({"a": item_artist[pos], "n": tracks["artist_name"].to_numpy(object)}).dropna()
    first = named[named["a"] > 0].drop_duplicates("a")
    artist_names[first["a"].to_numpy()] = first["n"].to_numpy(object)
    artist_ids = enc.artists.vocab.ids
    no_name = (artist_names == UNKNOWN_TOKEN) & (np.arange(n_artists) > 0)
    artist_names[no_name] = artist_ids[no_name]

    return {
        "features": ItemFeatures(
            artist=item_artist, genre_indptr=genre_indptr, genre_indices=genre_indices, numeric=numeric,
            numeric_missing=numeric_missing, binary=binary, numeric_names=AUDIO_FEATURES, year=year,
        ),
        "genres": Vocab(genre_vocab), "titles": titles, "title_norm": title_norm_items, "artist_names": artist_names,
    }


@dataclass
class _Indexed:
    """All interactions as index arrays, sorted by (split, user, item); ``slices`` per split."""

    user: np.ndarray
    item: np.ndarray
    plays: np.ndarray
    timestamp: np.ndarray | None
    slices: dict[str, slice]


def _index_interactions(con: duckdb.DuckDBPyConnection, split_query: str, users: Vocab, items: Vocab) -> _Indexed:
    """Assign splits and index ids by joining the vocab tables in SQL; only numbers come back."""
    con.register("__vu", pa.table({"idx": np.arange(len(users), dtype=np.int64), "user_id": pa.array(users.ids, pa.string())}))
    con.register("__vi", pa.table({"idx": np.arange(len(items), dtype=np.int64), "track_id": pa.array(items.ids, pa.string())}))
    codes = " ".join(f"WHEN '{s}' THEN {c}" for s, c in SPLIT_CODES.items())
    arr = con.execute(f"""
        WITH s AS ({split_query})
        SELECT CAST(CASE s.split {codes} END AS TINYINT) AS code, vu.idx AS u, vi.idx AS i,
               CAST(s.plays AS DOUBLE) AS plays, s."timestamp" AS ts
        FROM s JOIN __vu vu ON vu.user_id = s.user_id JOIN __vi vi ON vi.track_id = s.track_id
        ORDER BY code, u, i""").fetchnumpy()
    con.unregister("__vu")
    con.unregister("__vi")
    code = np.asarray(arr["code"])
    missing_ts = np.ma.getmaskarray(arr["ts"])
    # partial timestamps would make time features misleading: then there are none at all
    ts = None if (len(code) == 0 or missing_ts.any()) else np.asarray(np.ma.filled(arr["ts"], 0), np.int64)
    bounds = np.searchsorted(code, np.arange(len(SPLITS) + 1))
    return _Indexed(
        user=np.asarray(arr["u"], np.int64), item=np.asarray(arr["i"], np.int64),
        plays=np.asarray(arr["plays"], np.float64), timestamp=ts,
        slices={s: slice(int(bounds[c]), int(bounds[c + 1])) for s, c in SPLIT_CODES.items()},
    )


def _tables(fs: FeatureSet, temporal: dict[str, Any], title_norm: np.ndarray, artist_keys: np.ndarray) -> dict[str, Any]:
    f = fs.item_features
    n_u, n_i = fs.n_users, fs.n_items
    out: dict[str, Any] = {
        "vocab_users": pa.table({"idx": np.arange(n_u), "user_id": pa.array(fs.users.ids, pa.string()), "in_train": fs.train_user_mask}),
        "vocab_items": pa.table({"idx": np.arange(n_i), "track_id": pa.array(fs.items.ids, pa.string()), "in_train": fs.train_item_mask}),
        "vocab_artists": pa.table({"idx": np.arange(fs.n_artists), "artist_key": pa.array(artist_keys, pa.string()),
                                   "artist_name": pa.array(fs.artist_names, pa.string())}),
        "vocab_genres": pa.table({"idx": np.arange(fs.n_genres), "genre": pa.array(fs.genres.ids, pa.string())}),
    }
    items = {
        "idx": np.arange(n_i), "track_id": pa.array(fs.items.ids, pa.string()), "artist_idx": f.artist,
        "title": pa.array(fs.item_titles, pa.string()), "title_norm": pa.array(title_norm, pa.string()),
        "year": f.year, "explicit": f.binary[:, 0], "mode": f.binary[:, 1],
        "genre_idx": pa.ListArray.from_arrays(pa.array(f.genre_indptr.astype(np.int32)), pa.array(f.genre_indices)),
    }
    for j, name in enumerate(f.numeric_names):
        items[f"num_{name}"] = f.numeric[:, j]
        items[f"missing_{name}"] = f.numeric_missing[:, j]
    out["features_items"] = pa.table(items)
    counts = {s: np.bincount(fs.splits[s].user, minlength=n_u) for s in ("train", "valid", "test")}
    out["features_users"] = pa.table({"idx": np.arange(n_u), "user_id": pa.array(fs.users.ids, pa.string()),
                                      "in_train": fs.train_user_mask, **{f"n_{s}": c for s, c in counts.items()}})
    for s, inter in fs.splits.items():
        cols: dict[str, Any] = {"user_idx": inter.user, "item_idx": inter.item, "plays": inter.plays, "target": inter.target,
                                "timestamp": pa.array(inter.timestamp) if inter.timestamp is not None else pa.nulls(len(inter), pa.int64())}
        t = temporal.get(s)
        for name, typ in (("hour", pa.int8()), ("weekday", pa.int8()), ("recency_days", pa.float32())):
            cols[name] = pa.array(t[name]) if t is not None else pa.nulls(len(inter), typ)
        out[f"split_{s}"] = pa.table(cols)
    rows, arrays = [], []
    for key, e in fs.encoder_state.items():
        rows.append({"key": key, "role": e["role"], "name": e["name"], "params": json.dumps(e["params"]), "meta": json.dumps(e["meta"])})
        for name, a in e["arrays"].items():
            arrays.append({"key": key, "array_name": name, "npy": _npy_bytes(a)})
    out["features_encoders"] = pd.DataFrame(rows, columns=["key", "role", "name", "params", "meta"])
    out["features_encoder_arrays"] = pa.table({
        "key": pa.array([a["key"] for a in arrays], pa.string()),
        "array_name": pa.array([a["array_name"] for a in arrays], pa.string()),
        "npy": pa.array([a["npy"] for a in arrays], pa.binary()),
    })
    out["features_meta"] = pd.DataFrame({"key": list(fs.metadata), "value": [json.dumps(v) for v in fs.metadata.values()]})
    return out


# --------------------------------------------------------------------------------- loading
def _load(con: duckdb.DuckDBPyConnection, shard: tuple[int, int] | None = None) -> FeatureSet:
    def col(table: str, cols: str) -> dict[str, np.ndarray]:
        return con.execute(f"SELECT {cols} FROM {table} ORDER BY idx").fetchnumpy()

    vu = col("vocab_users", "user_id, in_train")
    vi = col("vocab_items", "track_id, in_train")
    va = col("vocab_artists", "artist_key, artist_name")
    vg = col("vocab_genres", "genre")
    items_tbl = con.sql("SELECT * FROM features_items ORDER BY idx").to_arrow_table()
    genre_list = items_tbl.column("genre_idx").combine_chunks()
    indptr = np.asarray(genre_list.offsets, dtype=np.int64)
    indices = np.asarray(genre_list.values.to_numpy(zero_copy_only=False), dtype=np.int64)
    names = AUDIO_FEATURES
    numeric = np.stack([items_tbl.column(f"num_{n}").to_numpy() for n in names], axis=1).astype(np.float32)
    missing = np.stack([items_tbl.column(f"missing_{n}").to_numpy() for n in names], axis=1).astype(np.float32)
    binary = np.stack([items_tbl.column("explicit").to_numpy(), items_tbl.column("mode").to_numpy()], axis=1).astype(np.float32)
    year = items_tbl.column("year").to_numpy(zero_copy_only=False).astype(np.float32)

    meta = {k: json.loads(v) for k, v in con.execute("SELECT key, value FROM features_meta").fetchall()}
    has_ts = bool(meta.get("has_timestamps"))
    splits = {}
    for s in SPLITS:
        query, params = _split_query(s, shard)
        a = con.execute(query, params).fetchnumpy()
        ts = np.asarray(a["timestamp"], np.int64) if has_ts else None
        splits[s] = InteractionSet(np.asarray(a["user_idx"], np.int64), np.asarray(a["item_idx"], np.int64),
                                   np.asarray(a["plays"], np.float32), np.asarray(a["target"], np.float32), ts)
    arrays: dict[str, dict[str, np.ndarray]] = {}
    for key, name, blob in con.execute("SELECT key, array_name, npy FROM features_encoder_arrays").fetchall():
        arrays.setdefault(key, {})[name] = np.load(io.BytesIO(blob), allow_pickle=False)
    encoder_state = {
        key: {"role": role, "name": name, "params": json.loads(params), "meta": json.loads(m), "arrays": arrays.get(key, {})}
        for key, role, name, params, m in con.execute("SELECT key, role, name, params, meta FROM features_encoders").fetchall()
    }
    sizes = (len(vu["user_id"]), len(vi["track_id"]), len(va["artist_key"]), len(vg["genre"]))
    return FeatureSet(
        users=Vocab(np.asarray(vu["user_id"], dtype=object)), items=Vocab(np.asarray(vi["track_id"], dtype=object)),
        artists=Vocab(np.asarray(va["artist_key"], dtype=object)), genres=Vocab(np.asarray(vg["genre"], dtype=object)),
        item_features=ItemFeatures(
            artist=items_tbl.column("artist_idx").to_numpy().astype(np.int64), genre_indptr=indptr, genre_indices=indices,
            numeric=numeric, numeric_missing=missing, binary=binary, numeric_names=names, year=year,
        ),
        splits=splits,
        train_user_mask=np.asarray(vu["in_train"], bool), train_item_mask=np.asarray(vi["in_train"], bool),
        item_titles=np.asarray(items_tbl.column("title").to_pylist(), dtype=object),
        artist_names=np.asarray(va["artist_name"], dtype=object),
        encoder_state=encoder_state, metadata=meta,
        train_shard=None if shard is None else _train_shard(con, shard, meta, sizes),
    )


def _split_query(split: str, shard: tuple[int, int] | None) -> tuple[str, list[int]]:
    """SELECT of one split table; the training split of a shard keeps only its users' rows."""
    table = validate_identifier(f"split_{split}")
    if split != "train" or shard is None:
        return f"SELECT {SPLIT_COLUMNS} FROM {table}", []
    rank, world = shard
    return f"SELECT {SPLIT_COLUMNS} FROM {table} WHERE user_idx % ? = ?", [world, rank]


def _train_shard(con: duckdb.DuckDBPyConnection, shard: tuple[int, int], meta: dict[str, Any],
                 sizes: tuple[int, int, int, int]) -> TrainShard:
    """The whole training split's facts a shard cannot derive from its own rows."""
    popularity = _item_popularity(con, sizes[1])
    return TrainShard(
        rank=shard[0], world_size=shard[1], global_rows=int(popularity.sum()),
        fingerprint=_whole_train_fingerprint(con, meta, sizes), item_popularity=popularity,
    )


def _item_popularity(con: duckdb.DuckDBPyConnection, n_items: int) -> np.ndarray:
    """Training interactions per item over the whole split, counted by DuckDB (float64, (n_items,))."""
    a = con.execute("SELECT item_idx, count(*) AS n FROM split_train GROUP BY item_idx").fetchnumpy()
    idx = np.asarray(a["item_idx"], np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= n_items):
        raise DataError(f"split_train has item_idx outside [0, {n_items}) of vocab_items; rebuild the features")
    return np.bincount(idx, weights=np.asarray(a["n"], np.float64), minlength=n_items)


def _whole_train_fingerprint(con: duckdb.DuckDBPyConnection, meta: dict[str, Any], sizes: tuple[int, int, int, int]) -> str:
    """The fingerprint build_features stored, else (older databases) hashed from split_train
    streamed in table order, one column at a time, so memory stays bounded."""
    stored = meta.get(TRAIN_FINGERPRINT_KEY)
    if isinstance(stored, str):
        return stored
    columns = (("user_idx", np.int64), ("item_idx", np.int64), ("target", np.float32))
    return train_fingerprint(sizes, (_train_column_chunks(con, c, t) for c, t in columns))


def _train_column_chunks(con: duckdb.DuckDBPyConnection, column: str, dtype: type) -> Iterator[np.ndarray]:
    """One split_train column in table order, as chunks of the dtype a loaded FeatureSet has."""
    reader = con.sql(f"SELECT {validate_identifier(column)} FROM split_train").to_arrow_reader(1 << 20)
    for batch in reader:
        yield np.asarray(batch.column(0).to_numpy(zero_copy_only=False), dtype=dtype)


# --------------------------------------------------------------------------------- helpers
def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ? AND table_schema = 'main'", [table]
    ).fetchall()[0][0])


def _ingest_source(con: duckdb.DuckDBPyConnection) -> str | None:
    if not _exists(con, "ingest_report"):
        return None
    rows = con.execute("SELECT source FROM ingest_report LIMIT 1").fetchall()
    return rows[0][0] if rows else None


def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(a), allow_pickle=False)
    return buf.getvalue()
