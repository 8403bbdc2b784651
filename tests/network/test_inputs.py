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


def _point_mass_data(n=300, seed=0):
    """Columns: a continuous spread with 30% of zeros (a point mass at its
    smallest value), its negative (at its largest), counts 0..9 (every value
    an end is 1 unit away) and a normal column."""
    rng = np.random.RandomState(seed)
    spread = np.where(rng.uniform(size=n) < 0.3, 0.0, rng.uniform(1.0, 100.0, n))
    spread[0] = 0.5  # next to the point mass
    counts = rng.randint(0, 10, size=n).astype(float)
    return np.column_stack([spread, -spread, counts, rng.standard_normal(n)])


def test_end_point_masses_are_moved_off_by_the_mean_distance():
    X = _point_mass_data()
    t = InputTransform().fit(X, np.ones(len(X)))
    positive = X[:, 0] > 0
    gap = np.mean(X[positive, 0])
    expected = np.zeros((2, 4))
    expected[0, 0] = expected[1, 1] = gap
    assert_allclose(t.gaps_, expected, rtol=1e-12)
    assert_allclose(t.ends_, [X.min(axis=0), X.max(axis=0)])
    # the slow reference: move, then standardize
    moved = X.copy()
    moved[positive, 0] += gap
    moved[~positive, 1] += gap  # the largest value, the point mass, rises
    assert_allclose(t.mean_, moved.mean(axis=0), rtol=1e-12)
    assert_allclose(t.scale_, moved.std(axis=0), rtol=1e-12)
    U = np.column_stack([(moved - t.mean_) / t.scale_, np.ones(len(X))])
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    assert_allclose(t.transform(X), U, rtol=1e-12, atol=1e-15)
    # new rows below the smallest value stay, those above the largest rise
    # with it
    beyond = np.array([[-1.0, 1.0, 0.0, 0.0]])
    u = (beyond[0] + [0.0, gap, 0.0, 0.0] - t.mean_) / t.scale_
    assert_allclose(t.transform(beyond)[0, :-1], u / np.sqrt(u @ u + 1.0))


def test_end_point_masses_weigh_as_repeated_rows_and_not_zero_weights():
    X = _point_mass_data(n=60, seed=1)
    w = np.random.RandomState(2).randint(0, 4, size=len(X)).astype(float)
    weighted = InputTransform().fit(X, w)
    repeated = InputTransform().fit(
        np.repeat(X, w.astype(int), axis=0), np.ones(int(w.sum()))
    )
    assert weighted.gaps_[0, 0] > 0
    for name in ("ends_", "gaps_", "mean_", "scale_"):
        assert_allclose(getattr(weighted, name), getattr(repeated, name), rtol=1e-12)
    assert_allclose(weighted.transform(X), repeated.transform(X), rtol=1e-12)


@pytest.mark.parametrize("share", [0.02, 1.0])
def test_no_gap_without_a_point_mass_or_other_values(share):
    # a 2% mass is below ATOM_SHARE; a constant column has no other values
    rng = np.random.RandomState(3)
    x = np.where(rng.uniform(size=500) < share, 0.0, rng.lognormal(size=500))
    t = InputTransform().fit(x[:, None], np.ones(500))
    assert t.gaps_ is None and t.ends_ is None
    assert_allclose(
        t.transform(x[:, None]),
        InputTransform("standard").fit(x[:, None], np.ones(500)).transform(x[:, None]),
    )


def test_point_masses_at_both_ends_keep_the_order():
    # 30% at 0, 30% at 100 and a spread between: the largest gap of one end
    # must not undo the other's
    rng = np.random.RandomState(4)
    u = rng.uniform(size=400)
    x = np.where(u < 0.3, 0.0, np.where(u > 0.7, 100.0, rng.uniform(0.5, 99.5, 400)))
    x[:2] = [0.1, 99.9]  # next to both point masses
    t = InputTransform().fit(x[:, None], np.ones(400))
    assert np.all(t.gaps_[:, 0] > 0)
    order = np.argsort(x, kind="stable")
    moved = t.transform(x[:, None])[:, 0] / t.transform(x[:, None])[:, 1]
    assert np.all(np.diff(moved[order]) >= 0)
    middle = (x > 0) & (x < 100)
    assert np.min(moved[middle]) - np.max(moved[x == 0]) > t.gaps_[0, 0] / t.scale_[0]
    assert np.min(moved[x == 100]) - np.max(moved[middle]) > t.gaps_[1, 0] / t.scale_[0]


def test_no_gap_where_distances_overflow():
    x = np.where(np.arange(200) < 60, 0.0, np.linspace(1e-3, 1.0, 200))
    x[-1] = 1.7e308
    x[-2] = -1.7e308
    t = InputTransform().fit(x[:, None], np.ones(200))
    assert t.gaps_ is None
