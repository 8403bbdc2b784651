"""Rows split into shards run the same Gauss-Newton loop as rows in process.

The shards here live in this process (``LocalShards``), so these tests need no
cluster; tests/test_dask.py runs the same shards as dask actors.
"""

import subprocess
import sys

import numpy as np
import pytest

from sklearn_sublinear import SublinearNewtonClassifier, SublinearNewtonRegressor
from sklearn_sublinear._distributed import fit_sharded
from sklearn_sublinear._solvers._sharded import LocalShards, RowShard, sum_rows

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

CUTS = (0, 70, 71, 200, 300)  # a one-row shard among them


def _data(n=300, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 4))
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2] + 0.1 * rng.normal(size=n)
    labels = np.digitize(X[:, 0] + 0.5 * X[:, 1], [-0.5, 0.5])
    w = rng.randint(0, 3, size=n).astype(float)
    return X, {"regression": y, "binary": labels > 0, "multiclass": labels}, w


def _shards(X, y, w, cuts=CUTS):
    return LocalShards(
        RowShard(X[a:b], y[a:b], None if w is None else w[a:b])
        for a, b in zip(cuts[:-1], cuts[1:])
    )


def _outputs(est, X):
    if hasattr(est, "decision_function"):
        return est.decision_function(X)
    return est.predict(X)


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
@pytest.mark.parametrize("task", ["regression", "binary", "multiclass"])
def test_sharded_fit_matches_local(task, solver):
    X, targets, w = _data()
    cls = (
        SublinearNewtonRegressor if task == "regression" else SublinearNewtonClassifier
    )
    # alpha="auto": the Lanczos choice on the CG path (300 rows), from the
    # spectrum on the Cholesky path
    params = dict(n_neurons=256, solver=solver, max_iter=4, random_state=0)
    local = cls(**params).fit(X, targets[task], sample_weight=w)
    sharded = fit_sharded(cls(**params), _shards(X, targets[task], w))
    a, b = _outputs(local, X), _outputs(sharded, X)
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-9 * np.max(np.abs(a)))
    assert sharded.n_iter_ == local.n_iter_
    assert sharded.history_["inner_iterations"] == local.history_["inner_iterations"]
    np.testing.assert_allclose(sharded.loss_curve_, local.loss_curve_, rtol=1e-9)
    np.testing.assert_allclose(sharded.input_mean_, local.input_mean_, rtol=1e-12)
    np.testing.assert_allclose(sharded.input_scale_, local.input_scale_, rtol=1e-12)


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
def test_damping_choice_over_shards_matches_local(solver):
    # alpha="auto" over more rows than the exact spectrum takes: the Lanczos
    # choice, on the driver's gathered system (Cholesky) or with every block
    # product a reduction over shards (CG); the shards hold their rows out of
    # order, so the driver puts them in data order (the trace probes' rows).
    n = 1200
    rng = np.random.RandomState(3)
    X = rng.normal(size=(n, 4))
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2] + 1.5 * rng.normal(size=n)
    w = rng.randint(1, 3, size=n).astype(float)
    params = dict(n_neurons=256, solver=solver, max_iter=4, random_state=0)
    local = SublinearNewtonRegressor(**params).fit(X, y, sample_weight=w)
    parts = [np.r_[0:300, 800:n], np.arange(300, 800)]
    shards = LocalShards(RowShard(X[r], y[r], w[r], rows=r) for r in parts)
    sharded = fit_sharded(SublinearNewtonRegressor(**params), shards)
    # GCV chose a damping above the floor at some iteration
    assert len(set(local.history_["alpha"])) > 1
    np.testing.assert_allclose(sharded.history_["alpha"], local.history_["alpha"])
    assert sharded.history_["inner_iterations"] == local.history_["inner_iterations"]
    a, b = local.predict(X), sharded.predict(X)
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-9 * np.max(np.abs(a)))


def test_integer_weights_are_repeated_rows():
    X, targets, w = _data()
    y = targets["regression"]
    repeat = np.repeat(np.arange(X.shape[0]), w.astype(int))
    params = dict(n_neurons=256, max_iter=4, random_state=0)
    weighted = fit_sharded(SublinearNewtonRegressor(**params), _shards(X, y, w))
    cuts = (0, 100, 250, repeat.size)
    repeated = fit_sharded(
        SublinearNewtonRegressor(**params), _shards(X[repeat], y[repeat], None, cuts)
    )
    a = weighted.predict(X)
    np.testing.assert_allclose(repeated.predict(X), a, atol=1e-7 * np.max(np.abs(a)))


def test_zero_weight_shard_and_bad_input():
    X, targets, w = _data()
    y = targets["regression"]
    w = w.copy()
    w[:70] = 0.0  # the first shard takes no part
    params = dict(n_neurons=128, max_iter=3, random_state=0)
    local = SublinearNewtonRegressor(**params).fit(X, y, sample_weight=w)
    sharded = fit_sharded(SublinearNewtonRegressor(**params), _shards(X, y, w))
    np.testing.assert_allclose(sharded.predict(X), local.predict(X), atol=1e-9)

    with pytest.raises(ValueError, match="positive sum"):
        fit_sharded(SublinearNewtonRegressor(**params), _shards(X, y, 0 * w))
    with pytest.raises(ValueError, match="non-negative|negative"):
        fit_sharded(SublinearNewtonRegressor(**params), _shards(X, y, -w))
    with pytest.raises(ValueError, match="early_stopping"):
        fit_sharded(SublinearNewtonRegressor(early_stopping=True), _shards(X, y, w))
    shards = LocalShards([RowShard(X[:10], y[:9])])
    with pytest.raises(ValueError, match="same row chunks"):
        fit_sharded(SublinearNewtonRegressor(**params), shards)
    shards = LocalShards([RowShard(X[:10], y[:10]), RowShard(X[10:20, :3], y[10:20])])
    with pytest.raises(ValueError, match="columns"):
        fit_sharded(SublinearNewtonRegressor(**params), shards, n_features=4)


def test_sum_rows_adds_blocks_over_the_union():
    blocks = [
        (np.array([1, 4]), np.array([[1.0, 2.0], [3.0, 4.0]])),
        (np.array([0, 4]), np.array([[5.0, 6.0], [7.0, 8.0]])),
    ]
    U, total = sum_rows(blocks, (2,))
    np.testing.assert_array_equal(U, [0, 1, 4])
    np.testing.assert_array_equal(total, [[5.0, 6.0], [1.0, 2.0], [10.0, 12.0]])


def test_package_import_does_not_import_dask():
    code = (
        "import sys, sklearn_sublinear, sklearn_sublinear._distributed; "
        "assert not any(m.split('.')[0] in ('dask', 'distributed') "
        "for m in sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("class_weight", ["balanced", {0: 3.0, 2: 0.5}])
def test_class_weight_matches_local(class_weight):
    X, targets, w = _data()
    y = targets["multiclass"]
    params = dict(n_neurons=256, max_iter=3, random_state=0, class_weight=class_weight)
    local = SublinearNewtonClassifier(**params).fit(X, y, sample_weight=w)
    sharded = fit_sharded(SublinearNewtonClassifier(**params), _shards(X, y, w))
    a = local.decision_function(X)
    np.testing.assert_allclose(sharded.decision_function(X), a, atol=1e-9)


def test_unsupported_options_raise():
    X, targets, _ = _data()
    with pytest.raises(ValueError, match="poisson"):
        fit_sharded(
            SublinearNewtonRegressor(loss="poisson"),
            _shards(X, np.abs(targets["regression"]), None),
        )
    labels = np.column_stack([targets["binary"], targets["multiclass"] == 2])
    with pytest.raises(ValueError, match="label sets"):
        fit_sharded(SublinearNewtonClassifier(), _shards(X, labels.astype(int), None))
