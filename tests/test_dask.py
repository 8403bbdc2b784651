"""Grid searches on a dask.distributed cluster through joblib's dask back end."""

import numpy as np
import pytest
import scipy.sparse as sp
from joblib import parallel_backend
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold

from sklearn_sublinear import SublinearNewtonClassifier, SublinearNewtonRegressor

distributed = pytest.importorskip("distributed")

# Fits are capped at a few iterations on purpose.
pytestmark = [
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    pytest.mark.filterwarnings("ignore:Port 8787 is already in use"),
]

PARAMS = dict(n_neurons=256, sparsity=0.5, max_iter=3, random_state=0)


def _data(kind, n=90, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 5))
    if kind == "classifier":
        y = np.digitize(X[:, 0] + 0.5 * X[:, 1], [-0.5, 0.5])  # three classes
        return X, y, StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2] + 0.1 * rng.normal(size=n)
    return X, y, KFold(n_splits=3, shuffle=True, random_state=0)


ESTIMATORS = {
    "classifier": SublinearNewtonClassifier,
    "regressor": SublinearNewtonRegressor,
}
GRID = {"alpha": [1e-2, 1.0], "n_neurons": [128, 256]}


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=False,
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as dask_client,
    ):
        yield dask_client


@pytest.mark.parametrize("n_jobs", [None, 2])
@pytest.mark.parametrize("kind", ESTIMATORS)
def test_grid_search_on_dask_matches_sequential(client, kind, n_jobs):
    X, y, cv = _data(kind)
    # With n_jobs=2 the tree index rebuilds with joblib threads inside each task.
    index = "auto" if n_jobs is None else "tree"
    est = ESTIMATORS[kind](**PARAMS, n_jobs=n_jobs, index=index)

    sequential = GridSearchCV(est, GRID, cv=cv, n_jobs=1).fit(X, y)
    with distributed.get_task_stream(client) as stream, parallel_backend("dask"):
        on_dask = GridSearchCV(est, GRID, cv=cv, n_jobs=-1).fit(X, y)

    # The fits ran as tasks on the cluster's workers.
    assert len(stream.data) > 0
    assert {task["worker"] for task in stream.data} <= set(
        client.scheduler_info()["workers"]
    )
    for key in ("mean_test_score", "std_test_score", "rank_test_score"):
        np.testing.assert_array_equal(
            on_dask.cv_results_[key], sequential.cv_results_[key]
        )
    for fold in range(cv.get_n_splits()):
        key = f"split{fold}_test_score"
        np.testing.assert_array_equal(
            on_dask.cv_results_[key], sequential.cv_results_[key]
        )
    assert on_dask.best_params_ == sequential.best_params_
    np.testing.assert_array_equal(on_dask.predict(X), sequential.predict(X))


# -- one model fitted over the rows of the workers (sklearn_sublinear.dask) ----
da = pytest.importorskip("dask.array")
sdask = pytest.importorskip("sklearn_sublinear.dask")

FIT = dict(n_neurons=256, max_iter=3, random_state=0)
TASKS = {
    "regression": (SublinearNewtonRegressor, "DaskSublinearNewtonRegressor"),
    "binary": (SublinearNewtonClassifier, "DaskSublinearNewtonClassifier"),
    "multiclass": (SublinearNewtonClassifier, "DaskSublinearNewtonClassifier"),
}


def _task_data(task, n=400, seed=1):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 5))
    # a point mass at the smallest value of a continuous column, which the
    # standard scaling moves the other values away from (input_gaps_)
    X[:, 4] = np.where(rng.uniform(size=n) < 0.3, 0.0, np.exp(X[:, 4]))
    w = rng.randint(0, 4, size=n).astype(float)
    labels = np.digitize(X[:, 0] + 0.5 * X[:, 1], [-0.5, 0.5])
    y = {
        "regression": np.sin(X[:, 0]) + X[:, 1] * X[:, 2] + 0.1 * rng.normal(size=n),
        "binary": np.where(labels > 0, "yes", "no"),
        "multiclass": labels,
    }[task]
    return X, y, w


def _raw(est, X):
    f = getattr(est, "decision_function", est.predict)
    out = f(X)
    return out.compute() if hasattr(out, "compute") else out


def _process_cluster():
    """A LocalCluster of 2 worker processes, one thread each."""
    return distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=50,
    )


@pytest.fixture(scope="module")
def process_client():
    with _process_cluster() as cluster, distributed.Client(cluster) as dask_client:
        yield dask_client


def _relative_error(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(a))


@pytest.mark.parametrize(
    "task, solver",
    [(task, "cholesky") for task in TASKS]
    + [("regression", "cg"), ("multiclass", "cg")],
)
def test_distributed_fit_agrees_with_local(process_client, task, solver):
    # The CG path uses the same CountSketch preconditioner as the local CG
    # (its Gram summed over the workers), so both paths compare directly; at
    # alpha="auto" both choose the damping by Lanczos quadratures, the dask
    # one with every block product a reduction over the workers.
    local_cls, name = TASKS[task]
    X, y, w = _task_data(task)
    params = dict(FIT, solver=solver)
    local = local_cls(**params).fit(X, y, sample_weight=w)
    dX = da.from_array(X, chunks=(90, 5))
    # y and the weights in other chunks: aligned to X's partitions
    on_dask = getattr(sdask, name)(**params, client=process_client)
    on_dask.fit(dX, da.from_array(y, chunks=150), sample_weight=da.from_array(w))
    # the rows were held by both worker processes
    assert on_dask.communication_["calls"] > 0
    assert on_dask.n_iter_ == local.n_iter_
    assert on_dask.solver_ == local.solver_ == solver
    assert local.input_gaps_[0, 4] > 0
    np.testing.assert_allclose(on_dask.input_gaps_, local.input_gaps_, rtol=1e-12)
    assert _relative_error(_raw(local, X), _raw(on_dask, dX)) < 1e-6
    np.testing.assert_allclose(on_dask.loss_curve_, local.loss_curve_, rtol=1e-6)
    if task != "regression":
        np.testing.assert_array_equal(on_dask.classes_, local.classes_)
        np.testing.assert_array_equal(on_dask.predict(dX).compute(), local.predict(X))
        proba = on_dask.predict_proba(dX)
        assert isinstance(proba, da.Array)
        np.testing.assert_allclose(proba.compute(), local.predict_proba(X), atol=1e-6)


def test_to_local_round_trip(process_client):
    import pickle

    X, y, w = _task_data("multiclass")
    dX = da.from_array(X, chunks=100)
    est = sdask.DaskSublinearNewtonClassifier(**FIT, client=process_client)
    est.fit(dX, da.from_array(y, chunks=100), sample_weight=da.from_array(w, 100))
    local = est.to_local()
    assert type(local) is SublinearNewtonClassifier
    assert local.get_params() == {
        k: v for k, v in est.get_params().items() if k != "client"
    }
    restored = pickle.loads(pickle.dumps(local))
    np.testing.assert_array_equal(restored.predict_proba(X), local.predict_proba(X))
    lazy = est.predict_proba(dX)
    assert isinstance(lazy, da.Array)
    np.testing.assert_allclose(lazy.compute(), local.predict_proba(X), atol=1e-12)
    # to_local is a copy: refitting it leaves the dask estimator's model alone
    local.fit(X[:50], y[:50])
    np.testing.assert_allclose(est.predict_proba(dX).compute(), lazy.compute())


def test_dataframe_unknown_chunks_and_empty_partitions(process_client):
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    X, y, w = _task_data("regression")
    frame = pd.DataFrame(X, columns=[f"f{k}" for k in range(5)])
    frame["y"], frame["w"], frame["row"] = y, w, np.arange(400)
    ddf = dd.from_pandas(frame, npartitions=5)
    # a filter gives unknown partition lengths, and the last partition is empty
    ddf = ddf[ddf["row"] < 320]
    keep = np.arange(400) < 320
    local = SublinearNewtonRegressor(**FIT).fit(X[keep], y[keep], sample_weight=w[keep])
    est = sdask.DaskSublinearNewtonRegressor(**FIT, client=process_client)
    est.fit(ddf[[f"f{k}" for k in range(5)]], ddf["y"], sample_weight=ddf["w"])
    pred = est.predict(ddf[[f"f{k}" for k in range(5)]])
    assert isinstance(pred, da.Array)
    assert _relative_error(local.predict(X[keep]), pred.compute()) < 1e-6


def test_bad_input(process_client):
    X, y, w = _task_data("regression")
    est = sdask.DaskSublinearNewtonRegressor(**FIT, client=process_client)
    dX = da.from_array(X, chunks=100)
    with pytest.raises(ValueError, match="same number of rows"):
        est.fit(dX, da.from_array(y[:-1], chunks=100))
    with pytest.raises(TypeError, match="dask array"):
        est.fit(X, y)
    with pytest.raises(ValueError, match="non-negative"):
        est.fit(dX, da.from_array(y, chunks=100), sample_weight=da.from_array(-w))
    with pytest.raises(ValueError, match="early_stopping"):
        est.set_params(early_stopping=True).fit(dX, da.from_array(y, chunks=100))
    est.set_params(early_stopping=False)
    with pytest.raises(ValueError, match="input_scaling='maxabs'"):
        est.set_params(input_scaling="maxabs").fit(dX, da.from_array(y, chunks=100))
    est.set_params(input_scaling="auto")
    sparse = sp.csr_matrix(np.where(np.abs(X) > 1, X, 0))
    for sparse_X in (sparse, da.from_array(sparse, chunks=100)):
        with pytest.raises(TypeError, match="dense partitions only"):
            est.fit(sparse_X, da.from_array(y, chunks=100))
    assert not hasattr(est, "coefs_")


def test_killed_worker_raises_and_keeps_previous_fit(monkeypatch):
    import os
    import signal

    from sklearn_sublinear import _distributed

    X, y, w = _task_data("regression")
    with _process_cluster() as cluster, distributed.Client(cluster) as client:
        dX = da.from_array(X, chunks=100)
        dy = da.from_array(y, chunks=100)
        est = sdask.DaskSublinearNewtonRegressor(**FIT, client=client).fit(dX, dy)
        before = est.predict(dX).compute()
        coefs = [c.copy() for c in est.coefs_]

        start = _distributed.ShardedProblem.start

        def start_then_lose_a_worker(problem):
            pid = next(iter(client.run(os.getpid).values()))
            os.kill(pid, signal.SIGKILL)
            return start(problem)

        monkeypatch.setattr(
            _distributed.ShardedProblem, "start", start_then_lose_a_worker
        )
        with pytest.raises(RuntimeError, match="worker holding rows of this fit"):
            est.fit(dX, dy)
        # the previous fit is untouched
        for old, new in zip(coefs, est.coefs_):
            np.testing.assert_array_equal(old, new)
        np.testing.assert_array_equal(est.predict(dX).compute(), before)


def _sleep_then_count_rows(shard, seconds):
    import time

    time.sleep(seconds)
    return shard.X.shape[0]


def test_slow_calls_are_waited_for(process_client):
    # A call longer than the liveness poll is not taken for a lost worker.
    X, y, _ = _task_data("regression", n=100)
    shards, _ = sdask.place_shards(
        process_client, da.from_array(X, chunks=40), da.from_array(y, chunks=40)
    )
    try:
        seconds = 1.5 * sdask.LIVENESS_POLL_SECONDS
        assert sum(shards.map("call", _sleep_then_count_rows, seconds)) == 100
    finally:
        shards.close()
