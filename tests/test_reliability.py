"""Clear errors, the memory guard, warm starts and failed or interrupted fits."""

import re
import tracemalloc
import warnings

import joblib
import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from sklearn_sublinear import (
    SublinearNewtonClassifier,
    SublinearNewtonRegressor,
    _memory,
)
from sklearn_sublinear._solvers import GaussNewton
from sklearn_sublinear._tree_index import DenseIndex, TreeIndex

# A fixed alpha: these tests count iterations of the stopping rule.
SMALL = dict(n_neurons=64, max_iter=3, alpha=1e-3, random_state=0)
ESTIMATORS = [SublinearNewtonRegressor, SublinearNewtonClassifier]


@pytest.fixture(autouse=True)
def _quiet_convergence():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _data(n_samples=40, n_features=3, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n_samples, n_features))
    y = X[:, 0] + 0.1 * rng.standard_normal(n_samples)
    return X, y, (y > 0).astype(int)


def _with(X, row, col, value):
    X = X.copy()
    X[row, col] = value
    return X


# -- invalid data -------------------------------------------------------------
X0, Y0, C0 = _data()

FIT_ERRORS = {
    "nan in X": (_with(X0, 0, 0, np.nan), Y0, None, "contains NaN"),
    "inf in X": (_with(X0, 3, 1, np.inf), Y0, None, "contains infinity"),
    "nan in y": (X0, _with(Y0[:, None], 0, 0, np.nan)[:, 0], None, "y contains NaN"),
    "inf in y": (X0, _with(Y0[:, None], 5, 0, -np.inf)[:, 0], None, "infinity"),
    "1-d X": (X0[:, 0], Y0, None, "Expected 2D array"),
    "3-d X": (X0[:, :, None], Y0, None, "dim 3"),
    "no samples": (X0[:0], Y0[:0], None, "0 sample"),
    "no features": (X0[:, :0], Y0, None, "0 feature"),
    "mismatched lengths": (X0, Y0[:-1], None, "inconsistent numbers of samples"),
    "sample_weight length": (X0, Y0, np.ones(39), r"sample_weight.shape"),
    "negative weights": (X0, Y0, np.r_[-1.0, np.ones(39)], "Negative values"),
    "all-zero weights": (X0, Y0, np.zeros(40), "at least one non-zero"),
    "nan weights": (X0, Y0, np.r_[np.nan, np.ones(39)], "sample_weight contains NaN"),
}


@pytest.mark.parametrize(
    "Estimator", [SublinearNewtonRegressor, SublinearNewtonClassifier]
)
@pytest.mark.parametrize("case", sorted(FIT_ERRORS))
def test_invalid_data_is_refused_with_a_clear_message(Estimator, case):
    X, y, sample_weight, match = FIT_ERRORS[case]
    if Estimator is SublinearNewtonClassifier and "y" not in case.split():
        y = (y > 0).astype(int) if y.size else y
    with pytest.raises(ValueError, match=match):
        Estimator(**SMALL).fit(X, y, sample_weight=sample_weight)


@pytest.mark.parametrize("y", [["a", "b"] * 20, np.array(["1.5", "x"] * 20, object)])
def test_string_targets_point_the_regressor_to_the_classifier(y):
    with pytest.raises(ValueError, match="numeric targets.*SublinearNewtonClassifier"):
        SublinearNewtonRegressor(**SMALL).fit(X0, y)


def test_numeric_strings_are_valid_regression_targets():
    reg = SublinearNewtonRegressor(**SMALL).fit(X0, Y0.astype(str))
    assert np.all(np.isfinite(reg.predict(X0)))


@pytest.mark.parametrize(
    "y, match",
    [
        (Y0, "Unknown label type: continuous"),
        (np.zeros(40), "at least 2 classes.*only one class"),
        (np.full(40, "spam"), "only one class: 'spam'"),
    ],
)
def test_classifier_refuses_continuous_or_single_class_targets(y, match):
    with pytest.raises(ValueError, match=match):
        SublinearNewtonClassifier(**SMALL).fit(X0, y)


def test_zero_weight_in_the_early_stopping_training_part():
    # Only one row has weight; whenever it lands in the validation part, the
    # training part has no weight left, which must be said clearly.
    X, y, _ = _data(n_samples=10)
    raised = 0
    for row in range(10):
        sample_weight = np.zeros(10)
        sample_weight[row] = 1.0
        reg = SublinearNewtonRegressor(
            **SMALL, early_stopping=True, validation_fraction=0.5
        )
        try:
            reg.fit(X, y, sample_weight=sample_weight)
        except ValueError as exc:
            assert "zero total sample weight" in str(exc)
            assert "validation_fraction" in str(exc)
            raised += 1
        else:
            assert_array_equal(reg.predict(X), np.full(10, y[row]))
    assert 0 < raised < 10


# -- invalid parameters ---------------------------------------------------------
INVALID_PARAMS = [
    ("n_neurons", 0),
    ("n_neurons", -64),
    ("n_neurons", 1),
    ("n_neurons", 64.0),
    ("n_neurons", "64"),
    ("sparsity", 0.0),
    ("sparsity", 1.0),
    ("sparsity", -0.5),
    ("alpha", -1e-3),
    ("alpha", np.nan),
    ("index", "kdtree"),
    ("solver", "lbfgs"),
    ("max_iter", 0),
    ("max_iter", 2.5),
    ("tol", -1.0),
    ("batch_size", 0),
    ("n_iter_no_change", 0),
    ("validation_fraction", 1.0),
    ("n_jobs", 1.5),
    ("n_jobs", 0),
    ("warm_start", "yes"),
]


@pytest.mark.parametrize(
    "Estimator", [SublinearNewtonRegressor, SublinearNewtonClassifier]
)
@pytest.mark.parametrize("name, value", INVALID_PARAMS)
def test_invalid_parameters_name_the_parameter(Estimator, name, value):
    est = Estimator(**{**SMALL, name: value})
    y = C0 if Estimator is SublinearNewtonClassifier else Y0
    # InvalidParameterError derives from both ValueError and TypeError.
    with pytest.raises((ValueError, TypeError), match=f"'{name}' parameter"):
        est.fit(X0, y)
    assert not hasattr(est, "coefs_")


def test_numpy_integer_sizes_are_accepted():
    reg = SublinearNewtonRegressor(
        n_neurons=np.int64(64), max_iter=np.int32(2), random_state=0
    ).fit(X0, Y0)
    # Three features plus the bias coordinate.
    assert reg.coefs_[0].shape == (4, 64)


# -- prediction errors ----------------------------------------------------------
@pytest.mark.parametrize(
    "method", ["predict", "predict_proba", "predict_log_proba", "decision_function"]
)
def test_prediction_before_fit_raises_not_fitted(method):
    with pytest.raises(NotFittedError, match="not fitted yet.*Call 'fit'"):
        getattr(SublinearNewtonClassifier(**SMALL), method)(X0)
    if method == "predict":
        with pytest.raises(NotFittedError, match="not fitted yet"):
            SublinearNewtonRegressor(**SMALL).predict(X0)


@pytest.fixture(scope="module")
def fitted():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return {
            "regressor": SublinearNewtonRegressor(**SMALL).fit(X0, Y0),
            "classifier": SublinearNewtonClassifier(**SMALL).fit(X0, C0),
        }


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
@pytest.mark.parametrize(
    "X, error, match",
    [
        (X0[:, :2], ValueError, "X has 2 features, but .* is expecting 3"),
        (np.hstack([X0, X0]), ValueError, "X has 6 features, but .* is expecting 3"),
        (_with(X0, 4, 2, np.nan), ValueError, "contains NaN"),
        (_with(X0, 4, 2, np.inf), ValueError, "contains infinity"),
        (X0[0], ValueError, "(?s)Expected 2D array.*Reshape your data"),
        (X0[:0], ValueError, "0 sample"),
    ],
)
def test_bad_prediction_input_is_refused(fitted, kind, X, error, match):
    est = fitted[kind]
    methods = ["predict"] + (["predict_proba"] if kind == "classifier" else [])
    for method in methods:
        with pytest.raises(error, match=match):
            getattr(est, method)(X)


def test_warm_start_refuses_incompatible_refits():
    X, y, c = _data()
    reg = SublinearNewtonRegressor(**SMALL, warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match="warm_start=True needs n_neurons=64"):
        reg.set_params(n_neurons=128).fit(X, y)
    with pytest.raises(ValueError, match="needs 1 target column"):
        reg.set_params(n_neurons=64).fit(X, np.c_[y, y])
    with pytest.raises(ValueError, match="X has 4 features, but .* expecting 3"):
        reg.fit(np.c_[X, X[:, 0]], y)
    clf = SublinearNewtonClassifier(**SMALL, warm_start=True).fit(X, c)
    with pytest.raises(ValueError, match=r"cannot learn new classes \[2\]"):
        clf.fit(X, np.where(np.arange(40) == 0, 2, c))


# -- memory guard ---------------------------------------------------------------
@pytest.mark.parametrize("index", ["auto", "tree", "dense"])
def test_memory_guard_refuses_impossible_sizes_without_allocating(index):
    rng = np.random.RandomState(0)
    X = rng.standard_normal((20_000, 8))
    y = X[:, 0]
    reg = SublinearNewtonRegressor(n_neurons=2**31, index=index, max_iter=1)
    tracemalloc.start()
    try:
        with pytest.raises(
            ValueError, match=r"Fitting needs about [\d.e+]+ GiB"
        ) as exc:
            reg.fit(X, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The weights alone would take 2**31 * 9 * 8 bytes = 144 GiB.
    assert peak < 256 * 2**20
    message = str(exc.value)
    assert "weights" in message and "index" in message
    assert "Reduce n_neurons" in message
    assert not hasattr(reg, "coefs_")


class _GuardPassed(Exception):
    pass


def test_memory_guard_counts_the_gram_and_suggests_cg(monkeypatch):
    def reached(*args, **kwargs):
        raise _GuardPassed

    monkeypatch.setattr(GaussNewton, "solve", reached)
    X, y, _ = _data(n_samples=2000, n_features=2)
    limit = _memory.RUNTIME_BYTES + 128 * 2**20
    reg = SublinearNewtonRegressor(
        n_neurons=64, solver="cholesky", max_iter=1, memory_limit=limit
    )
    # The 2000 x 2000 Grams, systems and factor per n x n entry (alpha="auto"
    # selects from Lanczos runs at 2000 rows: no eigendecomposition).
    gib = f"{_memory.CHOLESKY_BYTES * 2000**2 / 2**30:.3g}"
    with pytest.raises(ValueError, match=rf"Gram matrices {gib} GiB.*solver='cg'"):
        reg.fit(X, y)
    with pytest.raises(ValueError, match=f"{limit / 2**30:.3g} GiB left by memory"):
        reg.set_params(n_neurons=2**22, solver="cg").fit(X, y)
    # Without the n x n Gram the same data gets past the guard.
    with pytest.raises(_GuardPassed):
        reg.set_params(n_neurons=64, solver="cg").fit(X, y)
    assert not hasattr(reg, "coefs_")


def test_memory_guard_also_covers_warm_starts(monkeypatch):
    X, y, _ = _data()
    reg = SublinearNewtonRegressor(**SMALL, warm_start=True).fit(X, y)
    before = joblib.hash(vars(reg))
    monkeypatch.setattr(_memory, "available_memory", lambda: (2**10, "physical memory"))
    with pytest.raises(ValueError, match="Fitting needs about.*physical memory"):
        reg.fit(X, y)
    assert joblib.hash(vars(reg)) == before


# -- warm start -----------------------------------------------------------------
@pytest.mark.parametrize(
    "Estimator", [SublinearNewtonRegressor, SublinearNewtonClassifier]
)
def test_warm_start_continues_from_the_fitted_state(Estimator, capsys):
    X, y, c = _data(n_samples=60)
    target = c if Estimator is SublinearNewtonClassifier else y
    est = Estimator(**SMALL, warm_start=True, tol=0.0).fit(X, target)
    first = list(est.loss_curve_)
    capsys.readouterr()
    est.set_params(verbose=1).fit(X, target)
    out = capsys.readouterr().out
    start = float(re.search(r"Iteration 0: loss=([\d.e+-]+)", out).group(1))
    # The second fit starts where the first one ended, not from scratch.
    np.testing.assert_allclose(start, first[-1], rtol=1e-5)
    assert first[-1] < first[0]
    assert est.loss_curve_[: len(first)] == first
    assert est.loss_curve_[len(first)] <= first[-1] + 1e-12
    assert est.n_iter_ == len(est.loss_curve_) == 2 * len(first)

    cold = Estimator(**SMALL, tol=0.0, verbose=1).fit(X, target)
    out = capsys.readouterr().out
    start = float(re.search(r"Iteration 0: loss=([\d.e+-]+)", out).group(1))
    assert start > first[-1]
    assert cold.loss_curve_ == first


# -- failed and interrupted fits --------------------------------------------------
class _Injected(Exception):
    pass


def _fail_on_second_call(monkeypatch, cls, method, error):
    original = getattr(cls, method)
    calls = {"n": 0}

    def failing(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise error("injected failure")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, method, failing)
    return calls


@pytest.mark.parametrize("error", [_Injected, KeyboardInterrupt])
@pytest.mark.parametrize(
    "index, cls, method",
    [("dense", DenseIndex, "query"), ("tree", TreeIndex, "update")],
)
@pytest.mark.parametrize("warm_start", [False, True])
@pytest.mark.parametrize(
    "Estimator", [SublinearNewtonRegressor, SublinearNewtonClassifier]
)
def test_failed_refit_leaves_the_previous_fit_untouched(
    monkeypatch, Estimator, warm_start, index, cls, method, error
):
    X, y, c = _data(n_samples=50, n_features=4)
    target = c if Estimator is SublinearNewtonClassifier else y
    est = Estimator(
        n_neurons=256,
        index=index,
        max_iter=3,
        alpha=1e-3,
        random_state=0,
        warm_start=warm_start,
    ).fit(X, target)
    before = joblib.hash(vars(est))
    predictions = est.predict(X)
    coefs = [a.copy() for a in est.coefs_]

    calls = _fail_on_second_call(monkeypatch, cls, method, error)
    X2, y2, c2 = _data(n_samples=30, n_features=4, seed=1)
    # A cold refit may even change the number of features.
    if not warm_start:
        X2 = np.c_[X2, X2[:, 0]]
    with pytest.raises(error, match="injected failure"):
        est.fit(X2, c2 if Estimator is SublinearNewtonClassifier else 3 * y2)
    assert calls["n"] == 2

    assert joblib.hash(vars(est)) == before
    assert est.n_features_in_ == 4
    for new, old in zip(est.coefs_, coefs):
        assert_array_equal(new, old)
    assert_array_equal(est.predict(X), predictions)
    monkeypatch.undo()
    # The estimator remains usable.
    est.fit(X, target)
    assert est.n_iter_ == (6 if warm_start else 3)


def test_failed_validation_keeps_feature_names():
    pd = pytest.importorskip("pandas")
    X, y, _ = _data()
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    reg = SublinearNewtonRegressor(**SMALL).fit(frame, y)
    predictions = reg.predict(frame)
    for bad in (_with(X, 0, 0, np.nan), pd.DataFrame(X, columns=["x", "y", "z"])):
        with pytest.raises(ValueError):
            reg.fit(bad, np.r_[np.nan, y[1:]])
        assert_array_equal(reg.feature_names_in_, ["a", "b", "c"])
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            assert_array_equal(reg.predict(frame), predictions)
