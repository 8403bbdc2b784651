"""Rounding margins of the float32 filters."""

import numpy as np

from sklearn_sublinear._tree_index._margins import round_up_float32


def test_round_up_float32():
    rng = np.random.default_rng(3)
    v = np.concatenate(
        [
            rng.standard_normal(1000) * 10.0 ** rng.integers(-40, 30, 1000),
            [0.0, -np.inf, 1e-45, -1e-45],
        ]
    )
    up = round_up_float32(v)
    assert up.dtype == np.float32
    assert np.all(up.astype(np.float64) >= v)
