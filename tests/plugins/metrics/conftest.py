"""Small hand-made inputs for the metric tests."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from hybridrec_core.interfaces import EvalInput
from hybridrec_core.testing import toy_feature_set


def ranking_input(topk: list[list[int]], relevant: dict[int, dict[int, float]], k: int, n_items: int = 40) -> EvalInput:
    """EvalInput from literal lists: ``relevant[row] = {item: plays}``."""
    fs = toy_feature_set(n_users=20, n_items=n_items)
    rows, cols, vals = [], [], []
    for r, items in relevant.items():
        for i, p in items.items():
            rows.append(r), cols.append(i), vals.append(p)
    rel = sp.csr_matrix((vals, (rows, cols)), shape=(len(topk), n_items))
    return EvalInput(users=np.arange(1, len(topk) + 1), k=k, features=fs,
                     topk=np.array(topk, dtype=np.int64), relevant=rel)


@pytest.fixture
def make_input():
    """The :func:`ranking_input` builder (a fixture: tests/ is not a package)."""
    return ranking_input
