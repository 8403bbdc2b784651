"""Thread fan-out of the index and network routines, and the BLAS limiter."""

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from joblib import cpu_count, effective_n_jobs

from ._compat import release_blas_control, threadpool_controller

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
# setting in any order and could leave BLAS on one thread for good. Entrant
# and last one out may be different threads: each change is made with the
# control of OpenBLAS's setting released (release_blas_control), or
# threadpoolctl would ignore every thread but the first that ever set it.
# "lifted" marks a large call that has BLAS's own threads back for a while
# (own_blas_threads); "fits" counts the fits running in the process.
_LIMIT_LOCK = threading.Lock()
_LIMIT = {"depth": 0, "limiter": None, "lifted": False, "fits": 0}
# This thread's entries into the shared limit.
_HELD = threading.local()


@contextlib.contextmanager
def _blas_control():
    release_blas_control()
    try:
        yield
    finally:
        release_blas_control()


def _set_one_blas_thread():
    # Called under _LIMIT_LOCK; the limiter made here is not kept: the first
    # one restores the setting found before any limit.
    with _blas_control():
        blas_controller().limit(limits=1, user_api="blas")


@contextlib.contextmanager
def one_blas_thread():
    """Context running BLAS on one thread, process-wide, re-entrant and shared."""
    with _LIMIT_LOCK:
        if _LIMIT["depth"] == 0:
            with _blas_control():
                _LIMIT["limiter"] = blas_controller().limit(limits=1, user_api="blas")
        elif _LIMIT["lifted"]:
            # Another thread's large call has BLAS's threads: this entrant
            # runs beside it, so the call goes on with one thread.
            _set_one_blas_thread()
            _LIMIT["lifted"] = False
        _LIMIT["depth"] += 1
        _HELD.depth = getattr(_HELD, "depth", 0) + 1
    try:
        yield
    finally:
        with _LIMIT_LOCK:
            _LIMIT["depth"] -= 1
            _HELD.depth -= 1
            if _LIMIT["depth"] == 0:
                with _blas_control():
                    _LIMIT["limiter"].restore_original_limits()
                _LIMIT["limiter"] = None
                _LIMIT["lifted"] = False


@contextlib.contextmanager
def own_blas_threads():
    """Context giving one large BLAS call the threads BLAS had before the limit.

    Only when the calling thread alone holds the shared limit (no other fit
    or fan-out runs in the process); otherwise, or outside any limit, BLAS
    keeps its current setting.
    """
    with _LIMIT_LOCK:
        lift = (
            _LIMIT["depth"] > 0
            and _LIMIT["depth"] == getattr(_HELD, "depth", 0)
            and not _LIMIT["lifted"]
        )
        if lift:
            with _blas_control():
                _LIMIT["limiter"].restore_original_limits()
            _LIMIT["lifted"] = True
    try:
        yield
    finally:
        if lift:
            with _LIMIT_LOCK:
                if _LIMIT["lifted"]:
                    _set_one_blas_thread()
                    _LIMIT["lifted"] = False


@contextlib.contextmanager
def fit_threads():
    """Context for a whole fit: BLAS on one thread, and the fit counted.

    The fit's parallelism is its own threads (``n_jobs``, see
    :func:`map_threads`): BLAS's threads would compete with them, with the
    threads of concurrent fits (joblib's threading backend, e.g.
    ``GridSearchCV(n_jobs=...)``, or a thread pool of the caller's) and with
    any other busy process, and idle OpenBLAS workers keep spinning for a
    while after each call. Only large factorizations ask for BLAS's threads
    back (:func:`own_blas_threads`).
    """
    with _LIMIT_LOCK:
        _LIMIT["fits"] += 1
    try:
        with one_blas_thread():
            yield
    finally:
        with _LIMIT_LOCK:
            _LIMIT["fits"] -= 1


def nested_blas_threads():
    """Context running BLAS on one thread outside the main thread.

    For predictions: a call from another thread runs beside others (joblib's
    threading backend scoring a grid search, a thread pool of the caller's).
    """
    if threading.current_thread() is threading.main_thread():
        return contextlib.nullcontext()
    return one_blas_thread()


def thread_budget():
    """Threads a fan-out may use: the cores shared by the fits running now.

    Fits running concurrently in one process (joblib's threading backend, a
    caller's thread pool) split ``joblib.cpu_count()`` between them, so that
    nested parallelism does not oversubscribe the cores.
    """
    with _LIMIT_LOCK:
        fits = _LIMIT["fits"]
    return max(1, cpu_count() // max(1, fits))


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
    ``effective_n_jobs(n_jobs)``, capped by :func:`thread_budget` while
    several fits run; they come from a pool kept between calls.

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
    return list(imap_threads(func, tasks, n_jobs, one_blas_thread, len(tasks)))


def results_in_flight(n_jobs):
    """The most results :func:`imap_threads` holds at once with its default
    ``ahead`` on ``n_jobs`` threads: the tasks submitted ahead of the consumer
    and the one it is consuming (an upper bound, for memory estimates)."""
    return 2 * effective_n_jobs(n_jobs) + 1


def imap_threads(func, tasks, n_jobs, one_blas_thread=False, ahead=None):
    """:func:`map_threads` as a generator, with at most ``ahead`` tasks started
    and not yet consumed, so that only that many results exist at once.

    Parameters
    ----------
    func, tasks, n_jobs, one_blas_thread
        As in :func:`map_threads`.
    ahead : int, default=None
        Tasks submitted ahead of the consumer; twice the threads if None.

    Yields
    ------
    result : object
        ``func``'s return values, in task order.
    """
    tasks = list(tasks)
    jobs = min(effective_n_jobs(n_jobs), len(tasks), thread_budget())
    if jobs <= 1 or getattr(_IN_WORKER, "active", False):
        for task in tasks:
            yield func(*task)
        return
    ahead = max(2 * jobs if ahead is None else ahead, 1)
    limit = (
        one_blas_thread_when_threaded(jobs)
        if one_blas_thread
        else contextlib.nullcontext()
    )
    pool = _pool(jobs)
    with limit:
        futures = [pool.submit(_run_in_worker, func, task) for task in tasks[:ahead]]
        for k in range(len(tasks)):
            result = futures[k].result()
            futures[k] = None
            if k + ahead < len(tasks):
                futures.append(pool.submit(_run_in_worker, func, tasks[k + ahead]))
            yield result
