"""Thread fan-out of the index and network routines, and the BLAS limiter."""

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from joblib import effective_n_jobs

from ._compat import threadpool_controller

# Thread pools by size, created on first use and kept: joblib's Parallel pays
# its dispatcher's polling interval on every call, a visible share of a
# Gauss-Newton iteration with a few fan-outs per query
# (benchmarks/bench_width_scaling.py, key "runs" / "median_phases").
_POOLS = {}
_POOLS_LOCK = threading.Lock()
# Set in the pools' threads: a fan-out from inside one runs serially, so that
# no worker waits for tasks queued behind it.
_IN_WORKER = threading.local()


def _forget_pools():
    # A forked child has none of the parent's threads.
    _POOLS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools)


def _pool(n_threads):
    with _POOLS_LOCK:
        pool = _POOLS.get(n_threads)
        if pool is None:
            pool = _POOLS[n_threads] = ThreadPoolExecutor(
                n_threads, thread_name_prefix="sklearn_sublinear"
            )
        return pool


def _run_in_worker(func, task):
    _IN_WORKER.active = True
    try:
        return func(*task)
    finally:
        _IN_WORKER.active = False


def blas_controller():
    """Controller of the BLAS thread pools, to run products on one thread.

    One controller for the process (``_compat.threadpool_controller``): making
    one inspects every loaded library.
    """
    return threadpool_controller()


# One process-wide limit shared by every thread that asks for it: the first
# entrant sets BLAS to one thread, the last one out restores the setting it
# found. BLAS's thread count is global, so separate limits entered and left by
# concurrent fits (joblib's threading backend) would restore each other's
# setting in any order and could leave BLAS on one thread for good.
_LIMIT_LOCK = threading.Lock()
_LIMIT = {"depth": 0, "limiter": None}


@contextlib.contextmanager
def one_blas_thread():
    """Context running BLAS on one thread, process-wide, re-entrant and shared."""
    with _LIMIT_LOCK:
        if _LIMIT["depth"] == 0:
            _LIMIT["limiter"] = blas_controller().limit(limits=1, user_api="blas")
        _LIMIT["depth"] += 1
    try:
        yield
    finally:
        with _LIMIT_LOCK:
            _LIMIT["depth"] -= 1
            if _LIMIT["depth"] == 0:
                _LIMIT["limiter"].restore_original_limits()
                _LIMIT["limiter"] = None


def nested_blas_threads():
    """Context for a whole fit: one BLAS thread outside the main thread.

    A fit started in another thread runs beside others (joblib's threading
    backend, e.g. ``GridSearchCV(n_jobs=...)``, or a thread pool of the
    caller's): BLAS's own threads would multiply with them. Processes of
    joblib's loky backend get their BLAS limit from joblib.
    """
    if threading.current_thread() is threading.main_thread():
        return contextlib.nullcontext()
    return one_blas_thread()


def one_blas_thread_when_threaded(n_jobs):
    """Context limiting BLAS to one thread when ``n_jobs`` gives several.

    Parameters
    ----------
    n_jobs : int or None
        The number of jobs (joblib's ``effective_n_jobs``).
    """
    if effective_n_jobs(n_jobs) > 1:
        return one_blas_thread()
    return contextlib.nullcontext()


def map_threads(func, tasks, n_jobs, one_blas_thread=False):
    """``[func(*task) for task in tasks]`` over up to ``n_jobs`` threads.

    Results come in task order whatever the number of threads. Threads share
    memory, so tasks may write disjoint parts of shared arrays. With one job or
    one task, or when called from one of these threads, the tasks run in the
    calling thread. The number of threads is joblib's
    ``effective_n_jobs(n_jobs)``; they come from a pool kept between calls.

    Parameters
    ----------
    func : callable
        Function of one task's arguments.
    tasks : iterable of tuple
        Arguments of each call.
    n_jobs : int or None
        The number of threads. ``None`` means 1 unless in a
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
    if jobs <= 1 or getattr(_IN_WORKER, "active", False):
        return [func(*task) for task in tasks]
    limit = (
        one_blas_thread_when_threaded(jobs)
        if one_blas_thread
        else contextlib.nullcontext()
    )
    pool = _pool(jobs)
    with limit:
        futures = [pool.submit(_run_in_worker, func, task) for task in tasks]
        return [future.result() for future in futures]
