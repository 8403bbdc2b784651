"""The kept thread pools of the index and network fan-outs."""

import multiprocessing
import sys
import threading

import pytest

from sklearn_sublinear._threads import map_threads


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
