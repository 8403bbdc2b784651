"""partial_fit: Gauss-Newton steps on batches, scaling fixed by the first."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import (
    make_classification,
    make_friedman1,
    make_multilabel_classification,
)

from sklearn_sublinear import SublinearNewtonClassifier, SublinearNewtonRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# A fixed alpha: the tests count the steps of every batch.
SMALL = dict(n_neurons=256, alpha=1e-3, random_state=0)


def _batches(n_samples, size, n_passes):
    for epoch in range(n_passes):
        order = np.random.RandomState(epoch).permutation(n_samples)
        for start in range(0, n_samples, size):
            yield order[start : start + size]


@pytest.mark.parametrize("n_calls", [1, 2])
def test_calls_on_the_whole_data_are_fit_iterations(n_calls):
    # One call is one damped Gauss-Newton iteration from the current weights
    # and damping: n calls on all rows are a fit with max_iter=n.
    X, y = make_friedman1(n_samples=200, random_state=0)
    stream = SublinearNewtonRegressor(**SMALL)
    for _ in range(n_calls):
        stream.partial_fit(X, y)
    fit = SublinearNewtonRegressor(max_iter=n_calls, tol=0, **SMALL).fit(X, y)
    assert stream.n_iter_ == fit.n_iter_ == n_calls
    assert_allclose(stream.predict(X), fit.predict(X), rtol=1e-10, atol=1e-10)


def test_the_first_batch_fixes_the_scaling():
    X, y = make_friedman1(n_samples=300, random_state=0)
    reg = SublinearNewtonRegressor(**SMALL).partial_fit(X[:100], y[:100])
    mean, scale, y_mean = reg.input_mean_, reg.input_scale_, reg._y_mean
    assert_allclose(mean, X[:100].mean(axis=0))
    reg.partial_fit(X[100:] + 5.0, 3.0 * y[100:])
    assert_array_equal(reg.input_mean_, mean)
    assert_array_equal(reg.input_scale_, scale)
    assert_array_equal(reg._y_mean, y_mean)
    assert reg.n_iter_ == 2 and len(reg.loss_curve_) == 2


def test_partial_fit_continues_a_fit():
    X, y = make_friedman1(n_samples=300, random_state=0)
    reg = SublinearNewtonRegressor(**SMALL).fit(X[:200], y[:200])
    W, n_iter = reg.coefs_[0].copy(), reg.n_iter_
    reg.partial_fit(X[200:], y[200:])
    assert reg.n_iter_ == n_iter + 1
    assert not np.array_equal(reg.coefs_[0], W)
    # The stream's scaling stays the fit's.
    assert_allclose(reg.input_mean_, X[:200].mean(axis=0))


@pytest.mark.parametrize(
    "Estimator, make",
    [
        (SublinearNewtonRegressor, lambda: make_friedman1(1600, random_state=0)),
        (
            SublinearNewtonClassifier,
            lambda: make_classification(1600, n_informative=5, random_state=0),
        ),
    ],
)
def test_three_passes_of_batches_approach_the_fit(Estimator, make):
    X, y = make()
    train, test = slice(0, 1200), slice(1200, None)
    fit = Estimator(**SMALL).fit(X[train], y[train])
    stream = Estimator(**SMALL)
    extra = {"classes": np.unique(y)} if Estimator is SublinearNewtonClassifier else {}
    for rows in _batches(1200, 300, n_passes=3):
        stream.partial_fit(X[train][rows], y[train][rows], **extra)
    assert stream.n_iter_ == 12
    fit_score = fit.score(X[test], y[test])
    assert stream.score(X[test], y[test]) > fit_score - 0.02


def test_classes_on_the_first_call():
    X, y = make_classification(n_samples=200, n_classes=3, n_informative=4)
    clf = SublinearNewtonClassifier(**SMALL)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    # A batch need not hold every class.
    first = y != 2
    clf.partial_fit(X[first], y[first], classes=[0, 1, 2])
    assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.predict_proba(X).shape == (200, 3)
    clf.partial_fit(X, y)  # classes may be omitted later ...
    clf.partial_fit(X, y, classes=[2, 1, 0])  # ... or repeated
    with pytest.raises(ValueError, match="differs from classes_"):
        clf.partial_fit(X, y, classes=[0, 1, 2, 3])
    with pytest.raises(ValueError, match=r"cannot learn new classes \[7\]"):
        clf.partial_fit(X, np.where(y == 2, 7, y))
    with pytest.raises(ValueError, match="at least 2 classes"):
        SublinearNewtonClassifier(**SMALL).partial_fit(X, y, classes=[0])


def test_class_weight_in_partial_fit():
    X, y = make_classification(n_samples=200, weights=[0.8], random_state=0)
    clf = SublinearNewtonClassifier(class_weight="balanced", **SMALL)
    with pytest.raises(ValueError, match="balanced.*partial_fit"):
        clf.partial_fit(X, y, classes=[0, 1])
    weighted = SublinearNewtonClassifier(class_weight={1: 4.0}, **SMALL)
    weighted.partial_fit(X, y, classes=[0, 1])
    by_sample = SublinearNewtonClassifier(**SMALL)
    by_sample.partial_fit(X, y, classes=[0, 1], sample_weight=np.where(y == 1, 4.0, 1))
    assert_allclose(weighted.predict_proba(X), by_sample.predict_proba(X))


def test_label_sets_and_poisson_stream():
    X, Y = make_multilabel_classification(n_samples=200, n_classes=3, random_state=0)
    clf = SublinearNewtonClassifier(**SMALL)
    clf.partial_fit(X[:100], Y[:100], classes=np.arange(3))
    clf.partial_fit(X[100:], Y[100:])
    assert clf.predict(X).shape == (200, 3)
    counts = np.random.RandomState(0).poisson(np.exp(X[:, 0] / X[:, 0].max()))
    reg = SublinearNewtonRegressor(loss="poisson", **SMALL)
    reg.partial_fit(X[:100], counts[:100]).partial_fit(X[100:], counts[100:])
    assert np.all(reg.predict(X) > 0)


def test_early_stopping_is_ignored():
    X, y = make_friedman1(n_samples=200, random_state=0)
    reg = SublinearNewtonRegressor(early_stopping=True, **SMALL).partial_fit(X, y)
    assert reg.validation_scores_ is None and reg.n_iter_ == 1


def test_under_dask_ml_incremental():
    da = pytest.importorskip("dask.array")
    wrappers = pytest.importorskip("dask_ml.wrappers")
    X, y = make_classification(n_samples=600, random_state=0)
    dX, dy = da.from_array(X, chunks=(200, 20)), da.from_array(y, chunks=200)
    inc = wrappers.Incremental(
        SublinearNewtonClassifier(**SMALL), shuffle_blocks=False, scoring="accuracy"
    )
    inc.fit(dX, dy, classes=[0, 1])
    local = SublinearNewtonClassifier(**SMALL)
    for start in range(0, 600, 200):
        local.partial_fit(
            X[start : start + 200], y[start : start + 200], classes=[0, 1]
        )
    assert_allclose(inc.estimator_.predict_proba(X), local.predict_proba(X))
    assert inc.score(dX, dy) == pytest.approx(local.score(X, y))
