"""Thread fan-out shared by the index routines, and the BLAS thread limiter."""

import contextlib

from joblib import effective_n_jobs
from sklearn.utils.parallel import Parallel, delayed

try:
    from sklearn.utils.parallel import _get_threadpool_controller as _controller
except ImportError:  # pragma: no cover - scikit-learn < 1.6.1
    from threadpoolctl import ThreadpoolController as _controller


def blas_controller():
    """Controller of the BLAS thread pools, to run products on one thread."""
    return _controller()


def map_threads(func, tasks, n_jobs, one_blas_thread=False):
    """``[func(*task) for task in tasks]`` over up to ``n_jobs`` joblib threads.

    Results come in task order whatever the number of threads. Threads share
    memory, so tasks may write disjoint parts of shared arrays. With one job or
    one task, the tasks run in the calling thread.

    Parameters
    ----------
    func : callable
        Function of one task's arguments.
    tasks : iterable of tuple
        Arguments of each call.
    n_jobs : int or None
        The number of joblib threads. ``None`` means 1 unless in a
        :obj:`joblib.parallel_backend` context. ``-1`` means using all
        processors.
    one_blas_thread : bool, default=False
        When several threads run, limit BLAS to one thread inside them, so that
        the threads do not compete with the BLAS workers for the cores.

    Returns
    -------
    results : list
        ``func``'s return values, in task order.
    """
    tasks = list(tasks)
    jobs = min(effective_n_jobs(n_jobs), len(tasks))
    if jobs <= 1:
        return [func(*task) for task in tasks]
    limit = (
        blas_controller().limit(limits=1, user_api="blas")
        if one_blas_thread
        else contextlib.nullcontext()
    )
    with limit:
        return Parallel(n_jobs=jobs, require="sharedmem")(
            delayed(func)(*task) for task in tasks
        )
