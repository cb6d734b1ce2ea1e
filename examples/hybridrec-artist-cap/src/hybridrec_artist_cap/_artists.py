"""Artist ids of item lists, with unknown artists made distinct (never merged into one artist)."""

from __future__ import annotations

import numpy as np


def artist_codes(items: np.ndarray, item_artist: np.ndarray, n_artists: int) -> np.ndarray:
    """(B, L) artist index per list slot; ``-1`` for empty slots. Tracks of unknown artist
    (index 0) get a code of their own, since nothing says two unknown artists are the same."""
    valid = items >= 0
    artist = item_artist[np.where(valid, items, 0)].astype(np.int64)
    slot = np.broadcast_to(np.arange(items.shape[1], dtype=np.int64), items.shape)
    artist = np.where(artist == 0, n_artists + slot, artist)
    return np.where(valid, artist, -1)


def occurrence_rank(codes: np.ndarray) -> np.ndarray:
    """How many earlier slots of the same row share each slot's code (0 for the first one).

    Vectorized: a stable sort groups equal codes in slot order; the distance to the start of
    each run is the occurrence rank, scattered back to the original slots.
    """
    b, length = codes.shape
    order = np.argsort(codes, axis=1, kind="stable")
    srt = np.take_along_axis(codes, order, axis=1)
    pos = np.broadcast_to(np.arange(length), (b, length))
    starts = np.ones_like(srt, dtype=bool)
    starts[:, 1:] = srt[:, 1:] != srt[:, :-1]
    run_start = np.maximum.accumulate(np.where(starts, pos, 0), axis=1)
    rank = np.empty_like(codes)
    np.put_along_axis(rank, order, pos - run_start, axis=1)
    return rank
