"""Validation of the arrays given to an index."""

import tracemalloc

import numpy as np
import pytest

from sklearn_sublinear._tree_index import _validation
from sklearn_sublinear._tree_index._validation import check_weights


def test_check_weights_rejects_without_copying_w(monkeypatch):
    W = np.ones((20000, 8))
    monkeypatch.setattr(_validation, "CHECK_CHUNK_BYTES", W.nbytes // 5)
    tracemalloc.start()
    try:
        check_weights(W, 8)
        check_weights(W, 8, rows=np.arange(20000))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < W.nbytes / 2
    monkeypatch.undo()
    # wide weights (a wide sparse input): chunks of bytes, not of rows
    wide = np.ones((40, 50000))
    tracemalloc.start()
    try:
        check_weights(wide, 50000, rows=np.arange(40))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < wide.nbytes / 2
    for bad in (np.nan, np.inf, -np.inf, 2.0**101, -(2.0**101)):
        V = W.copy()
        V[5000, 3] = bad
        with pytest.raises(ValueError, match="finite"):
            check_weights(V, 8)
        with pytest.raises(ValueError, match="finite"):
            check_weights(V, 8, rows=[0, 5000])
        check_weights(V, 8, rows=[0, 4999])
