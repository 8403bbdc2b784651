"""Input preprocessing: weighted standardization and unit-length rows."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from sklearn_sublinear._network import InputTransform


def test_input_transform_unit_rows_and_weights_as_repetition():
    rng = np.random.RandomState(0)
    X = rng.standard_normal((10, 3)) * [1.0, 10.0, 0.0] + [0.0, 5.0, 2.0]
    w = rng.randint(0, 3, size=10).astype(float)
    t_w = InputTransform().fit(X, w)
    t_rep = InputTransform().fit(
        np.repeat(X, w.astype(int), axis=0), np.ones(int(w.sum()))
    )
    assert_allclose(t_w.mean_, t_rep.mean_)
    assert_allclose(t_w.scale_, t_rep.scale_)
    assert t_w.scale_[2] == 1.0  # constant column
    Xt = t_w.transform(X)
    assert Xt.shape == (10, 4)
    assert_allclose(np.linalg.norm(Xt, axis=1), 1.0)


def test_input_transform_norm_mean_is_weighted_mean_norm():
    rng = np.random.RandomState(5)
    X = rng.standard_normal((30, 4)) * [1.0, 10.0, 0.1, 3.0]
    w = rng.randint(0, 3, size=30).astype(float)
    t = InputTransform().fit(X, w)
    U = np.column_stack([(X - t.mean_) / t.scale_, np.ones(30)])
    norms = np.linalg.norm(U, axis=1)
    assert t.norm_mean_ == pytest.approx(np.sum(w * norms) / np.sum(w), rel=1e-12)
    repeated = InputTransform().fit(
        np.repeat(X, w.astype(int), axis=0), np.ones(int(w.sum()))
    )
    assert repeated.norm_mean_ == pytest.approx(t.norm_mean_, rel=1e-12)
