"""Degenerate but legal data: duplicates, constants, extreme scales, imbalance."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from sklearn_sublinear import SublinearNewtonClassifier, SublinearNewtonRegressor
from sklearn_sublinear._network import InputTransform, weighted_mean_scale

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

SMALL = dict(n_neurons=256, max_iter=5, random_state=0)


def _data(n_samples=80, n_features=4, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n_samples, n_features))
    return X, np.sin(X[:, 0]) + X[:, 1]


def test_duplicated_rows():
    X, y = _data()
    X_dup, y_dup = np.repeat(X[:10], 5, axis=0), np.repeat(y[:10], 5)
    reg = SublinearNewtonRegressor(**SMALL).fit(X_dup, y_dup)
    assert reg.score(X_dup, y_dup) > 0.99
    # Every row twice is the same weighted problem as every row once, under a
    # fixed alpha (alpha="auto" counts the rows: twice the data, less damping).
    once = SublinearNewtonRegressor(alpha=1e-3, **SMALL).fit(X, y)
    twice = SublinearNewtonRegressor(alpha=1e-3, **SMALL).fit(
        np.vstack([X, X]), np.r_[y, y]
    )
    assert_allclose(twice.predict(X), once.predict(X), rtol=1e-7, atol=1e-9)


def test_constant_feature_is_ignored():
    X, y = _data()
    X_const = np.c_[X, np.full(X.shape[0], 3.7)]
    reg = SublinearNewtonRegressor(**SMALL).fit(X_const, y)
    assert reg.input_scale_[-1] == 1.0
    assert reg.score(X_const, y) > 0.9
    assert np.all(np.isfinite(reg.predict(X_const)))


@pytest.mark.parametrize(
    "Estimator", [SublinearNewtonRegressor, SublinearNewtonClassifier]
)
def test_all_features_constant_predicts_the_weighted_mean(Estimator):
    rng = np.random.RandomState(0)
    X = np.ones((60, 3))
    y = rng.randint(0, 2, 60)
    est = Estimator(**SMALL).fit(X, y)
    if Estimator is SublinearNewtonRegressor:
        assert_allclose(est.predict(X[:2]), y.mean(), atol=1e-3)
    else:
        assert_allclose(est.predict_proba(X[:2])[:, 1], y.mean(), atol=1e-3)


def test_one_feature():
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, size=(80, 1))
    y = X[:, 0] ** 2
    reg = SublinearNewtonRegressor(n_neurons=512, max_iter=10, random_state=0)
    assert reg.fit(X, y).score(X, y) > 0.9
    clf = SublinearNewtonClassifier(**SMALL).fit(X, X[:, 0] > 0.5)
    assert clf.score(X, X[:, 0] > 0.5) > 0.9
    # The log-loss falls slowly here; the default stopping rule must not stop
    # the fit before it separates the classes.
    clf = SublinearNewtonClassifier(n_neurons=256, random_state=0)
    assert clf.fit(X, X[:, 0] > 0.5).score(X, X[:, 0] > 0.5) > 0.95
    assert clf.n_iter_ < clf.max_iter


def test_one_sample():
    X, y = _data()
    reg = SublinearNewtonRegressor(**SMALL).fit(X[:1], y[:1])
    # One sample is a constant target: predicted everywhere.
    assert_array_equal(reg.predict(X), np.full(X.shape[0], y[0]))
    with pytest.raises(ValueError, match="at least 2 classes"):
        SublinearNewtonClassifier(**SMALL).fit(X[:1], [1])
    # Two rows give GCV nothing to go on (alpha="auto" predicts the prior).
    clf = SublinearNewtonClassifier(alpha=1e-3, **SMALL).fit(X[:2], ["a", "b"])
    assert_array_equal(clf.predict(X[:2]), ["a", "b"])


@pytest.mark.parametrize("value", [7.5, -1e-9, 3e12])
@pytest.mark.parametrize("solver", ["cholesky", "cg"])
def test_constant_target_is_predicted_exactly(value, solver):
    X, _ = _data()
    y = np.full(X.shape[0], value)
    reg = SublinearNewtonRegressor(**SMALL, solver=solver).fit(X, y)
    # Also far from the training data.
    X_test = np.vstack([X, 100 * X])
    assert_allclose(reg.predict(X_test), value, rtol=1e-14, atol=0)
    assert_array_equal(reg.coefs_[1], 0.0)


def test_constant_target_column_among_others():
    X, y = _data()
    Y = np.c_[y, np.full(y.size, 2.0), -y]
    reg = SublinearNewtonRegressor(**SMALL).fit(X, Y)
    pred = reg.predict(X)
    assert_allclose(pred[:, 1], 2.0, rtol=1e-14)
    # The other outputs are fitted as without the constant column.
    alone = SublinearNewtonRegressor(**SMALL).fit(X, np.c_[y, -y])
    assert np.corrcoef(pred[:, 0], alone.predict(X)[:, 0])[0, 1] > 0.99


def test_constant_target_with_early_stopping_and_weights():
    X, _ = _data()
    weights = np.r_[np.zeros(40), np.ones(40)]
    reg = SublinearNewtonRegressor(**SMALL, early_stopping=True).fit(
        X, np.full(80, -4.0), sample_weight=weights
    )
    assert_allclose(reg.predict(X), -4.0, rtol=1e-14)


@pytest.mark.parametrize("scale", [1e-8, 1e8])
def test_uniform_feature_scale_does_not_matter(scale):
    X, y = _data()
    ref = SublinearNewtonRegressor(**SMALL).fit(X, y).predict(X)
    scaled = SublinearNewtonRegressor(**SMALL).fit(scale * X, y)
    assert_allclose(scaled.predict(scale * X), ref, rtol=1e-6, atol=1e-8)


def test_mixed_feature_scales_1e_minus8_to_1e8():
    X, y = _data()
    scales = np.logspace(-8, 8, X.shape[1])
    ref = SublinearNewtonRegressor(**SMALL).fit(X, y)
    reg = SublinearNewtonRegressor(**SMALL).fit(X * scales + 1e3 * scales, y)
    pred = reg.predict(X * scales + 1e3 * scales)
    assert np.all(np.isfinite(pred))
    assert_allclose(pred, ref.predict(X), rtol=1e-6, atol=1e-6)
    assert reg.score(X * scales + 1e3 * scales, y) > 0.9


@pytest.mark.parametrize("scale", [1e-20, 1e-150, 1e150])
def test_features_far_from_unit_scale_are_not_dropped(scale):
    # A feature is constant only relative to its own magnitude: a column of
    # spread 1e-20 around 0 carries as much information as one of spread 1.
    X, y = _data()
    X_small = X.copy()
    X_small[:, 1] *= scale
    ref = SublinearNewtonRegressor(**SMALL).fit(X, y)
    reg = SublinearNewtonRegressor(**SMALL).fit(X_small, y)
    assert reg.input_scale_[1] == pytest.approx(scale * ref.input_scale_[1])
    assert_allclose(reg.predict(X_small), ref.predict(X), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("scale", [1e-150, 1e-8, 1e8, 1e150])
def test_target_scale_does_not_matter(scale):
    X, y = _data()
    ref = SublinearNewtonRegressor(**SMALL).fit(X, y).predict(X)
    pred = SublinearNewtonRegressor(**SMALL).fit(X, scale * y).predict(X)
    assert_allclose(pred / scale, ref, rtol=1e-6, atol=1e-8)


# scikit-learn's finiteness check sums X first, which overflows here.
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_spread_beyond_float64_range_is_refused():
    X, y = _data()
    y_huge = np.where(np.arange(y.size) < 60, 1.5e308, -1.5e308)
    with pytest.raises(ValueError, match="spread of some columns of y.*rescale y"):
        SublinearNewtonRegressor(**SMALL).fit(X, y_huge)
    X_huge = X.copy()
    X_huge[:, 2] = y_huge
    with pytest.raises(ValueError, match="spread of some columns of X.*rescale X"):
        SublinearNewtonRegressor(**SMALL).fit(X_huge, y)


def test_weighted_mean_scale_matches_numpy():
    rng = np.random.RandomState(0)
    X = rng.standard_normal((50, 3)) * [1e-200, 1.0, 1e200]
    X = np.c_[X, np.full(50, 0.1), np.zeros(50)]
    w = rng.uniform(0, 2, 50)
    w[:5] = 0.0
    mean, scale, constant = weighted_mean_scale(X, w)
    assert_allclose(mean, np.average(X, axis=0, weights=w), rtol=1e-12)
    for j, unit in enumerate([1e-200, 1.0, 1e200]):
        # Squares of the raw columns would underflow or overflow.
        z = (X[:, j] - mean[j]) / unit
        assert_allclose(scale[j], unit * np.sqrt(np.average(z**2, weights=w)))
    expected = scale[1]
    assert_array_equal(constant, [False, False, False, True, True])
    assert_array_equal(scale[3:], 1.0)
    # Rows of weight zero do not count, however large.
    X[:5, 1] = 1e300
    assert_allclose(weighted_mean_scale(X, w)[1][1], expected, rtol=1e-12)
    Z = InputTransform().fit(X[5:], w[5:]).transform(X[5:])
    assert_allclose(np.linalg.norm(Z, axis=1), 1.0)


def test_imbalanced_classes():
    rng = np.random.RandomState(0)
    y = (rng.uniform(size=300) < 0.04).astype(int)
    X = rng.standard_normal((300, 3))
    X[y == 1] += 3.0
    clf = SublinearNewtonClassifier(**SMALL).fit(X, y)
    proba = clf.predict_proba(X)
    assert np.all((proba >= 0) & (proba <= 1))
    assert_allclose(proba.sum(axis=1), 1.0)
    # The minority is predicted, mostly where it is.
    predicted = clf.predict(X)
    assert 0 < np.sum(predicted == 1) <= 2 * np.sum(y == 1)
    assert np.mean(predicted[y == 1] == 1) > 0.5
    assert proba[y == 1, 1].mean() > 5 * proba[y == 0, 1].mean()


def test_single_minority_sample_gives_valid_probabilities():
    rng = np.random.RandomState(0)
    X = rng.standard_normal((200, 3))
    y = np.r_[["rare"], np.full(199, "common")]
    clf = SublinearNewtonClassifier(**SMALL).fit(X, y)
    proba = clf.predict_proba(X)
    assert np.all(np.isfinite(proba)) and np.all((proba >= 0) & (proba <= 1))
    assert_allclose(proba.sum(axis=1), 1.0)
    assert_allclose(np.exp(clf.predict_log_proba(X)), proba, rtol=1e-10)
    assert set(clf.predict(X)) <= {"rare", "common"}
    # The rare sample gets a higher probability than the typical one.
    assert proba[0, 1] > np.median(proba[:, 1])


# -- issue 21: no raw LinAlgError, no silent wrong answer ------------------------------
@pytest.mark.parametrize("solver", ["cholesky", "cg"])
def test_no_firing_neuron_fits_the_affine_part(solver):
    # Identical rows at high sparsity: on some seeds no neuron fires at all,
    # and the Gram is the intercept's rank-one matrix.
    X = np.full((30, 1), 3.0)
    y = np.random.RandomState(0).standard_normal(30)
    silent = 0
    for seed in range(40):
        reg = SublinearNewtonRegressor(sparsity=0.99, random_state=seed, solver=solver)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            reg.fit(X, y)
        silent += any("No neuron fires" in str(w.message) for w in caught)
        # Identical rows: the best prediction is the mean.
        assert_allclose(reg.predict(X[:1]), y.mean(), atol=1e-6)
    # the degenerate case is met, and said
    assert silent > 0


def test_large_target_offset_is_not_taken_for_a_constant():
    rng = np.random.RandomState(0)
    X = rng.standard_normal((1000, 3))
    signal = np.sin(X[:, 0]) + X[:, 1] * X[:, 2]
    reg = SublinearNewtonRegressor(n_neurons=512, random_state=0)
    reg.fit(X, 1e13 + signal)
    residual = reg.predict(X) - 1e13 - signal
    assert 1 - residual.var() / signal.var() > 0.95


@pytest.mark.parametrize("spread", [0.0, 1.0])
def test_constant_up_to_rounding_only(spread):
    # A target constant to the last bit is constant; a spread of a few
    # hundred units in the last place of 1e13 is data, however many rows.
    y = 1e13 + spread * (np.arange(5000) % 7)
    _, scale, constant = weighted_mean_scale(y[:, None], np.ones(5000))
    assert constant[0] == (spread == 0.0)


@pytest.mark.parametrize(
    "Estimator, linear_term",
    [
        (SublinearNewtonRegressor, "auto"),
        (SublinearNewtonClassifier, "auto"),
        (SublinearNewtonClassifier, False),
    ],
)
def test_far_out_inputs_have_finite_limits(Estimator, linear_term):
    X, y = _data()
    est = Estimator(**SMALL, linear_term=linear_term).fit(
        X, y if Estimator is SublinearNewtonRegressor else y > 0
    )
    scores = (
        est.predict
        if Estimator is SublinearNewtonRegressor
        else (est.decision_function)
    )
    far, farther = scores(X[:5] * 1e150), scores(X[:5] * 1e154)
    assert np.all(np.isfinite(farther))
    if linear_term == "auto":
        # a linear term (and for the regressor a homogeneous network): linear
        # along rays
        assert_allclose(farther, 1e4 * far, rtol=1e-6)
    else:
        # unit rows: the direction alone counts
        assert_allclose(farther, far, rtol=1e-6)


def test_input_transform_scales_before_the_norm():
    X, _ = _data()
    transform = InputTransform().fit(X, np.ones(X.shape[0]))
    rows = transform.transform(X[:3] * 1e200)
    assert np.all(np.isfinite(rows))
    assert_allclose(np.linalg.norm(rows, axis=1), 1.0)


def test_sample_weight_sum_overflow_is_refused():
    X, y = _data()
    with pytest.raises(ValueError, match="sample_weight.*overflow"):
        SublinearNewtonRegressor(**SMALL).fit(X, y, sample_weight=np.full(80, 1e307))
