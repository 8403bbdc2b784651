"""Validation of the arrays given to an index."""

import tracemalloc

import numpy as np
import pytest

from sklearn_sublinear._tree_index._validation import check_weights


def test_check_weights_rejects_without_copying_w():
    W = np.ones((20000, 8))  # 5 chunks of rows
    tracemalloc.start()
    try:
        check_weights(W, 8)
        check_weights(W, 8, rows=np.arange(20000))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < W.nbytes / 2
    for bad in (np.nan, np.inf, -np.inf, 2.0**101, -(2.0**101)):
        V = W.copy()
        V[5000, 3] = bad
        with pytest.raises(ValueError, match="finite"):
            check_weights(V, 8)
        with pytest.raises(ValueError, match="finite"):
            check_weights(V, 8, rows=[0, 5000])
        check_weights(V, 8, rows=[0, 4999])
