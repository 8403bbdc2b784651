"""The same random_state gives the same fit: across n_jobs, indexes and copies."""

import pickle

import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import make_classification

from sklearn_sublinear import SublinearNewtonClassifier, SublinearNewtonRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# Wide and sparse enough for the tree index: about 12 of 4096 neurons fire per
# sample.
TREE = dict(n_neurons=2**12, sparsity=0.7, max_iter=4, random_state=0)


def _regression(n_samples=100, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n_samples, 4))
    return X, np.sin(X[:, 0]) + X[:, 1] * X[:, 2]


def _classification(n_classes=3):
    return make_classification(
        n_samples=90,
        n_features=4,
        n_informative=3,
        n_redundant=0,
        n_classes=n_classes,
        n_clusters_per_class=1,
        random_state=0,
    )


def _outputs(est, X):
    if isinstance(est, SublinearNewtonClassifier):
        return est.predict_proba(X)
    return est.predict(X)


def _assert_same_fit(a, b, X):
    assert a.loss_curve_ == b.loss_curve_
    assert_array_equal(_outputs(a, X), _outputs(b, X))
    for wa, wb in zip(a.coefs_, b.coefs_):
        assert_array_equal(wa, wb)


CASES = [
    ("regressor", {}),
    ("regressor", {"solver": "cg"}),
    ("regressor", {"early_stopping": True}),
    ("classifier", {}),
    ("classifier", {"solver": "cg", "early_stopping": True}),
]


def _make(kind, **params):
    if kind == "regressor":
        return SublinearNewtonRegressor(**params), _regression()
    X, y = _classification()
    return SublinearNewtonClassifier(**params), (X, y)


@pytest.mark.parametrize("index", ["tree", "dense"])
@pytest.mark.parametrize("kind, params", CASES)
def test_n_jobs_does_not_change_the_fit(kind, params, index):
    est, (X, y) = _make(kind, **TREE, **params, index=index)
    one = clone(est).set_params(n_jobs=1).fit(X, y)
    two = clone(est).set_params(n_jobs=2).fit(X, y)
    _assert_same_fit(one, two, X)


@pytest.mark.parametrize("kind, params", CASES)
def test_tree_and_dense_indexes_give_the_same_fit(kind, params):
    est, (X, y) = _make(kind, **TREE, **params)
    tree = clone(est).set_params(index="tree").fit(X, y)
    dense = clone(est).set_params(index="dense").fit(X, y)
    # The tree really was used (and updated in place at least once).
    assert "update" in tree.history_["index_action"]
    assert set(dense.history_["index_action"]) == {"dense"}
    assert len(tree.loss_curve_) == len(dense.loss_curve_) >= 2
    assert_allclose(tree.loss_curve_, dense.loss_curve_, rtol=1e-10, atol=0)
    assert_allclose(_outputs(tree, X), _outputs(dense, X), rtol=1e-10, atol=1e-12)
    assert tree.history_["active_per_sample"] == dense.history_["active_per_sample"]


@pytest.mark.parametrize("kind, params", CASES)
def test_repeated_fits_are_identical(kind, params):
    est, (X, y) = _make(kind, n_neurons=256, max_iter=4, random_state=0, **params)
    first = clone(est).fit(X, y)
    loss, outputs = list(first.loss_curve_), _outputs(first, X)
    # Refitting the same object, and fitting a clone, reproduce it exactly.
    first.fit(X, y)
    assert first.loss_curve_ == loss
    assert_array_equal(_outputs(first, X), outputs)
    _assert_same_fit(first, clone(est).fit(X, y), X)
    # ... and the seed matters, so the comparisons above can fail.
    other = clone(est).set_params(random_state=1).fit(X, y)
    assert not np.array_equal(_outputs(other, X), outputs)


def test_global_random_state_is_neither_used_nor_consumed():
    X, y = _regression()
    est = SublinearNewtonRegressor(n_neurons=256, max_iter=3, random_state=0)
    np.random.seed(0)
    a = clone(est).fit(X, y).predict(X)
    state = np.random.get_state()
    np.random.seed(12345)
    b = clone(est).fit(X, y).predict(X)
    assert_array_equal(a, b)
    np.random.seed(0)
    clone(est).fit(X, y)
    after = np.random.get_state()
    assert all(
        np.array_equal(s, t) if isinstance(s, np.ndarray) else s == t
        for s, t in zip(state, after)
    )


def test_a_random_state_instance_draws_fresh_networks():
    X, y = _regression()
    rng = np.random.RandomState(0)
    est = SublinearNewtonRegressor(n_neurons=256, max_iter=2, random_state=rng)
    a = est.fit(X, y).predict(X)
    b = est.fit(X, y).predict(X)
    assert not np.array_equal(a, b)
    # The same instance state gives the same network again.
    est.set_params(random_state=np.random.RandomState(0))
    assert_array_equal(est.fit(X, y).predict(X), a)


def _pickle_copy(est, tmp_path):
    return pickle.loads(pickle.dumps(est))


def _joblib_copy(est, tmp_path):
    path = tmp_path / "estimator.joblib"
    joblib.dump(est, path)
    return joblib.load(path)


def _joblib_mmap_copy(est, tmp_path):
    path = tmp_path / "estimator_mmap.joblib"
    joblib.dump(est, path)
    return joblib.load(path, mmap_mode="r")


@pytest.mark.parametrize("copy", [_pickle_copy, _joblib_copy, _joblib_mmap_copy])
@pytest.mark.parametrize("kind", ["regressor", "binary", "multiclass"])
def test_round_trips_predict_identically(kind, copy, tmp_path):
    if kind == "regressor":
        X, y = _regression()
        y = np.c_[y, -y]
        est = SublinearNewtonRegressor(n_neurons=256, max_iter=3, random_state=0)
    else:
        X, y = _classification(n_classes=2 if kind == "binary" else 3)
        y = np.array(["ham", "spam", "eggs"])[y]
        est = SublinearNewtonClassifier(n_neurons=256, max_iter=3, random_state=0)
    est.fit(X, y)
    loaded = copy(est, tmp_path)
    assert_array_equal(loaded.predict(X), est.predict(X))
    if kind != "regressor":
        assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
        assert_array_equal(loaded.decision_function(X), est.decision_function(X))
        assert_array_equal(loaded.classes_, est.classes_)
    assert loaded.loss_curve_ == est.loss_curve_
    # The copy refits to the very same model.
    refit = copy(clone(est), tmp_path).fit(X, y)
    assert_array_equal(refit.predict(X), est.predict(X))


def test_warm_start_continues_identically_after_a_round_trip(tmp_path):
    X, y = _regression()
    est = SublinearNewtonRegressor(
        n_neurons=256,
        max_iter=2,
        alpha=1e-3,
        random_state=0,
        warm_start=True,
        tol=0.0,
    ).fit(X, y)
    loaded = _joblib_copy(est, tmp_path)
    est.fit(X, y)
    loaded.fit(X, y)
    assert loaded.loss_curve_ == est.loss_curve_
    assert_array_equal(loaded.predict(X), est.predict(X))
    # The original coefficients of the saved copy were not written through.
    assert len(_joblib_copy(est, tmp_path).loss_curve_) == 4


def test_prediction_does_not_depend_on_batch_size():
    X, y = _regression(n_samples=101)
    est = SublinearNewtonRegressor(n_neurons=256, max_iter=3, random_state=0)
    full = est.fit(X, y).predict(X)
    for batch_size in (1, 7, 1000):
        est.set_params(batch_size=batch_size)
        assert_allclose(est.predict(X), full, rtol=1e-12, atol=1e-12)
    # batch_size only affects prediction, not training.
    est.fit(X, y)
    assert_allclose(est.predict(X), full, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
def test_n_jobs_gives_bit_identical_fits_of_several_hundred_rows(solver):
    # Large enough for multi-threaded BLAS factorizations.
    X, y = _regression(n_samples=400)
    est = SublinearNewtonRegressor(solver=solver, max_iter=5, random_state=0)
    fits = [clone(est).set_params(n_jobs=n_jobs).fit(X, y) for n_jobs in (None, 1, 2)]
    for other in fits[1:]:
        _assert_same_fit(fits[0], other, X)
