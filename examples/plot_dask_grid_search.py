"""
=====================================
Grid search on a dask cluster
=====================================

scikit-learn runs the fits of a grid search through joblib, so they can be
sent to a `dask.distributed <https://distributed.dask.org>`_ cluster with
``joblib.parallel_backend("dask")``. This example starts a small local
cluster, runs the same search there and sequentially, and checks that the
scores are identical: every fit is deterministic given ``random_state``.

The ``n_jobs`` parameter of the estimator (threads used to rebuild the index)
still works inside each task.

It needs the ``dask`` extra (``pip install "sklearn-sublinear[dask]"``) and
prints a message instead when dask is not installed.
"""

# %%
import os
import warnings

import numpy as np
from joblib import parallel_backend
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from sklearn_sublinear import SublinearNewtonClassifier

QUICK = os.environ.get("SKLEARN_SUBLINEAR_QUICK", "0") not in ("", "0")

try:
    from distributed import Client, LocalCluster
except ImportError:
    Client = LocalCluster = None
    print("dask.distributed is not installed: pip install 'sklearn-sublinear[dask]'")

X, y = load_breast_cancer(return_X_y=True)
if QUICK:
    X, y = X[:300], y[:300]

# Each fit is capped at 5 Gauss-Newton iterations to keep the example quick;
# the fits that reach the cap would warn about it.
warnings.filterwarnings("ignore", category=ConvergenceWarning)
net = SublinearNewtonClassifier(max_iter=5, n_jobs=2, random_state=0)
param_grid = {"n_neurons": [512, 2048], "alpha": [1e-2, 1.0]}


def run_search():
    search = GridSearchCV(net, param_grid, cv=3)
    search.fit(X, y)
    return search


# %%
# Sequential run and dask run
# ---------------------------
if LocalCluster is not None:
    sequential = run_search()

    # processes=False keeps the workers as threads of this process, which is
    # enough to show the mechanism; use processes=True (the default) or a real
    # cluster's scheduler address for actual speed-ups.
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        print("dask workers:", len(client.scheduler_info()["workers"]))
        with parallel_backend("dask"):
            distributed = run_search()

    seq_scores = sequential.cv_results_["mean_test_score"]
    dask_scores = distributed.cv_results_["mean_test_score"]
    for params, a, b in zip(sequential.cv_results_["params"], seq_scores, dask_scores):
        print(f"{params}: sequential {a:.4f}  dask {b:.4f}")
    print("identical scores:", np.array_equal(seq_scores, dask_scores))
    print("best parameters:", distributed.best_params_)
