"""The kept thread pools of the index and network fan-outs."""

import multiprocessing
import sys
import threading

import numpy as np
import pytest

from sklearn_sublinear._threads import imap_threads, map_threads


def test_results_in_task_order_on_several_threads():
    seen = set()

    def task(i):
        seen.add(threading.current_thread().name)
        return i * i

    assert map_threads(task, [(i,) for i in range(50)], n_jobs=3) == [
        i * i for i in range(50)
    ]
    assert all(name.startswith("sklearn_sublinear") for name in seen)
    # one job runs in the calling thread
    seen.clear()
    map_threads(task, [(1,), (2,)], n_jobs=1)
    assert seen == {threading.current_thread().name}


def test_imap_threads_keeps_at_most_ahead_tasks_started():
    lock = threading.Lock()
    started = []

    def task(i):
        with lock:
            started.append(i)
        return i + 1

    consumed = []
    for k, result in enumerate(
        imap_threads(task, [(i,) for i in range(30)], 2, ahead=3)
    ):
        with lock:
            # tasks beyond the consumed ones plus `ahead` were not submitted
            assert max(started) < k + 3
        consumed.append(result)
    assert consumed == list(range(1, 31))


def test_nested_fan_out_runs_serially_instead_of_deadlocking():
    def inner(i):
        return threading.current_thread().name

    def outer(i):
        names = map_threads(inner, [(j,) for j in range(4)], n_jobs=2)
        return len(set(names)) == 1 and names[0] == threading.current_thread().name

    assert all(map_threads(outer, [(i,) for i in range(4)], n_jobs=2))


def test_task_errors_propagate():
    def task(i):
        if i == 3:
            raise ValueError("task 3 failed")
        return i

    with pytest.raises(ValueError, match="task 3 failed"):
        map_threads(task, [(i,) for i in range(6)], n_jobs=2)
    # the pool still works afterwards
    assert map_threads(lambda i: i, [(1,), (2,)], n_jobs=2) == [1, 2]


def _child(queue):
    queue.put(map_threads(lambda i: i + 1, [(i,) for i in range(8)], n_jobs=2))


@pytest.mark.skipif(
    sys.platform == "win32" or "fork" not in multiprocessing.get_all_start_methods(),
    reason="needs the fork start method",
)
def test_forked_child_gets_fresh_pools():
    # The parent's pool threads do not exist in a forked child; a pool
    # inherited as is would never run the child's tasks.
    map_threads(lambda i: i, [(1,), (2,)], n_jobs=2)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    process = ctx.Process(target=_child, args=(queue,))
    process.start()
    process.join(timeout=60)
    if process.is_alive():  # pragma: no cover - the failure this test guards
        process.terminate()
        pytest.fail("map_threads hung in a forked child")
    assert process.exitcode == 0
    assert queue.get(timeout=5) == list(range(1, 9))


# -- the BLAS policy (issue 21) --------------------------------------------------
def _blas_threads():
    from threadpoolctl import threadpool_info

    return {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}


@pytest.fixture
def two_blas_threads():
    # BLAS's own setting, not a limit held by this thread: OpenBLAS ignores
    # a limit set in another thread while one set here is active.
    import numpy  # noqa: F401  (loads BLAS)

    if _blas_threads() != {2}:
        pytest.skip("BLAS does not run on 2 threads here")


def _record_blas_threads(monkeypatch, module, name):
    seen = []
    original = getattr(module, name)

    def recording(*args, **kwargs):
        seen.append(_blas_threads())
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, recording)
    return seen


def _regression(n_samples=300):
    import numpy as np

    rng = np.random.RandomState(0)
    X = rng.standard_normal((n_samples, 3))
    return X, np.sin(X[:, 0]) + X[:, 1]


def test_sketch_eigendecomposition_runs_on_one_blas_thread(
    two_blas_threads, monkeypatch
):
    import numpy as np

    from sklearn_sublinear import SublinearNewtonRegressor

    seen = _record_blas_threads(monkeypatch, np.linalg, "eigh")
    X, y = _regression()
    # a float alpha: alpha="auto" may take its steps from the Lanczos path,
    # without building the sketch preconditioner
    SublinearNewtonRegressor(n_neurons=256, solver="cg", alpha=1e-3, max_iter=2).fit(
        X, y
    )
    assert seen and all(threads == {1} for threads in seen)
    # and BLAS has its threads back afterwards
    assert _blas_threads() == {2}


def test_concurrent_limits_restore_the_setting_found():
    # Threads entering and leaving the shared limit in any order leave BLAS
    # as it was (separate limits could restore each other's setting).
    from sklearn_sublinear._threads import one_blas_thread

    before = _blas_threads()
    barrier = threading.Barrier(4)
    inside = []

    def task():
        with one_blas_thread():
            barrier.wait()
            inside.append(_blas_threads())

    threads = [threading.Thread(target=task) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert inside == [{1}] * 4
    assert _blas_threads() == before


def _fit_in_thread(fit):
    errors = []

    def run():
        try:
            fit()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
def test_whole_fit_runs_blas_on_one_thread_in_any_thread(
    two_blas_threads, monkeypatch, solver
):
    # A fit in the main thread first: with threadpoolctl >= 3.8 it made the
    # main thread the only one whose OpenBLAS limits count, and a later fit
    # in another thread (joblib's threading backend) ran on BLAS's threads.
    from sklearn_sublinear import SublinearNewtonRegressor
    from sklearn_sublinear._solvers import _gauss_newton

    seen = _record_blas_threads(monkeypatch, _gauss_newton.GaussNewton, "run")
    X, y = _regression()
    reg = SublinearNewtonRegressor(n_neurons=256, solver=solver, max_iter=2)
    reg.fit(X, y)
    _fit_in_thread(lambda: reg.fit(X, y))
    assert seen == [{1}, {1}]
    assert _blas_threads() == {2}


def test_concurrent_fits_in_threads_restore_blas(two_blas_threads, monkeypatch):
    from sklearn_sublinear import SublinearNewtonRegressor
    from sklearn_sublinear._solvers import _gauss_newton

    seen = _record_blas_threads(monkeypatch, _gauss_newton.GaussNewton, "run")
    X, y = _regression()
    SublinearNewtonRegressor(n_neurons=256, max_iter=2).fit(X, y)
    threads = [
        threading.Thread(
            target=SublinearNewtonRegressor(n_neurons=256, max_iter=2, n_jobs=2).fit,
            args=(X, y),
        )
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [{1}] * 4
    assert _blas_threads() == {2}


def test_prediction_outside_the_main_thread_runs_blas_on_one_thread(
    two_blas_threads, monkeypatch
):
    from sklearn_sublinear import SublinearNewtonRegressor
    from sklearn_sublinear._network import _two_layer

    X, y = _regression()
    reg = SublinearNewtonRegressor(n_neurons=256, max_iter=2).fit(X, y)
    seen = _record_blas_threads(monkeypatch, _two_layer, "shifted_relu")
    expected = reg.predict(X)
    out = []
    _fit_in_thread(lambda: out.append(reg.predict(X)))
    assert seen == [{2}, {1}]
    np.testing.assert_array_equal(out[0], expected)


def test_large_call_gets_blas_threads_back_only_when_alone(two_blas_threads):
    from sklearn_sublinear._threads import one_blas_thread, own_blas_threads

    with one_blas_thread():
        with own_blas_threads():
            assert _blas_threads() == {2}
        assert _blas_threads() == {1}
        # another thread holding the limit: the large call stays on one thread
        entered, leave = threading.Event(), threading.Event()

        def hold():
            with one_blas_thread():
                entered.set()
                leave.wait()

        other = threading.Thread(target=hold)
        other.start()
        entered.wait()
        with own_blas_threads():
            assert _blas_threads() == {1}
        leave.set()
        other.join()
        # an entrant while the threads are back sets BLAS to one thread again
        with own_blas_threads():
            other = threading.Thread(target=hold)
            leave.clear()
            entered.clear()
            other.start()
            entered.wait()
            assert _blas_threads() == {1}
            leave.set()
            other.join()
        assert _blas_threads() == {1}
    assert _blas_threads() == {2}
    # outside any limit, BLAS keeps its setting
    with own_blas_threads():
        assert _blas_threads() == {2}


def test_concurrent_fits_share_the_cores(monkeypatch):
    from joblib import cpu_count

    from sklearn_sublinear import _threads

    assert _threads.thread_budget() == cpu_count()
    monkeypatch.setitem(_threads._LIMIT, "fits", 2)
    assert _threads.thread_budget() == max(1, cpu_count() // 2)
    monkeypatch.setitem(_threads._LIMIT, "fits", 10**6)
    assert _threads.thread_budget() == 1
    if cpu_count() < 2:
        pytest.skip("one core: nothing to share")
    seen = set()

    def task(i):
        seen.add(threading.current_thread().name)
        return i

    monkeypatch.setattr(_threads, "cpu_count", lambda: 4)
    monkeypatch.setitem(_threads._LIMIT, "fits", 4)
    map_threads(task, [(i,) for i in range(8)], n_jobs=4)
    assert seen == {threading.current_thread().name}
