"""
=====================================
One network fitted on a dask cluster
=====================================

:class:`~sklearn_sublinear.dask.DaskSublinearNewtonRegressor` fits one network
over the row partitions of a dask array, on the workers that hold them: each
worker keeps its rows, their index of firing neurons and a copy of the
weights, and every Gauss-Newton iteration exchanges blocks of the moved
neurons' weights, never rows of data. This example starts a small local
cluster of two workers, fits the same data there and in this
process, and compares the two fits: the same ``random_state`` gives the same
algorithm, so the predictions agree up to the order of sums.

It needs the ``dask`` extra (``pip install "sklearn-sublinear[dask]"``) and
prints a message instead when dask is not installed.
"""

# %%
import os
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score

from sklearn_sublinear import SublinearNewtonRegressor

QUICK = os.environ.get("SKLEARN_SUBLINEAR_QUICK", "0") not in ("", "0")

try:
    import dask.array as da
    from distributed import Client, LocalCluster

    from sklearn_sublinear.dask import DaskSublinearNewtonRegressor
except ImportError:
    da = None
    print("dask.distributed is not installed: pip install 'sklearn-sublinear[dask]'")

n = 2_000 if QUICK else 20_000
rng = np.random.default_rng(0)
X = rng.standard_normal((n, 8))
y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2] + 0.1 * rng.standard_normal(n)
warnings.filterwarnings("ignore", category=ConvergenceWarning)
params = dict(n_neurons=1024, max_iter=5, random_state=0)

# %%
# Fit on a local cluster of two workers
# -------------------------------------
# The data become a dask array of row partitions; the fit leaves them on the
# workers. ``communication_`` counts what went between driver and workers.
# The workers here are threads of this process (``processes=False``), which
# runs anywhere, e.g. in a documentation build; on a real cluster they are
# processes on other machines and the code is the same.
if da is not None:
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        dX = da.from_array(X, chunks=(n // 4, 8))
        dy = da.from_array(y, chunks=n // 4)
        on_dask = DaskSublinearNewtonRegressor(**params, client=client).fit(dX, dy)
        lazy = on_dask.predict(dX)  # a dask array: nothing computed yet
        y_dask = lazy.compute()
        print(f"iterations: {on_dask.n_iter_}, solver: {on_dask.solver_}")
        traffic = on_dask.communication_
        print(
            f"sent {traffic['bytes_sent'] / 1e6:.2f} MB to the workers and received "
            f"{traffic['bytes_received'] / 1e6:.2f} MB in {traffic['calls']} calls"
        )

# %%
# The same fit in this process
# ----------------------------
# ``to_local()`` returns the fitted local estimator (picklable); a local fit
# with the same parameters runs the same algorithm.
if da is not None:
    local = SublinearNewtonRegressor(**params).fit(X, y)
    y_local = local.predict(X)
    difference = np.max(np.abs(y_dask - y_local)) / np.max(np.abs(y_local))
    print(f"largest relative difference of the predictions: {difference:.1e}")
    print(f"R2 of the dask fit: {r2_score(y, y_dask):.4f}")
    print(f"R2 of the local fit: {r2_score(y, y_local):.4f}")
    model = on_dask.to_local()
    print(type(model).__name__, np.allclose(model.predict(X), y_dask))
