"""Grid searches on a dask.distributed cluster through joblib's dask back end."""

import numpy as np
import pytest
from joblib import parallel_backend
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold

from sklearn_sublinear import SublinearNewtonClassifier, SublinearNewtonRegressor

distributed = pytest.importorskip("distributed")

# Fits are capped at a few iterations on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

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
