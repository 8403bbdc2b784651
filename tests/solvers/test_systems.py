"""The sample-space systems: BLAS threads of the Cholesky system."""

import numpy as np
import pytest

from sklearn_sublinear._solvers import CholeskySystem, _systems


@pytest.mark.parametrize(
    "n_jobs, max_samples, expected",
    [(2, 2048, 1), (2, 4, 2), (1, 2048, 1), (1, 4, 2)],
    ids=["threaded-small", "threaded-large", "one-job-small", "one-job-large"],
)
def test_cholesky_blas_threads_with_fit_threads(
    n_jobs, max_samples, expected, network_factory, reference, monkeypatch
):
    # One BLAS thread for the factorization of small systems whatever n_jobs
    # (so that n_jobs does not change the rounding); larger ones keep BLAS's
    # own setting.
    from threadpoolctl import threadpool_info, threadpool_limits

    monkeypatch.setattr(_systems, "ONE_BLAS_THREAD_MAX_SAMPLES", max_samples)
    seen = []
    original = _systems._cholesky

    def recording(A):
        seen.append(
            {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}
        )
        return original(A)

    monkeypatch.setattr(_systems, "_cholesky", recording)
    X, net = network_factory(n_samples=12)
    net.n_jobs = n_jobs
    active = reference["active"](X, net)
    system = CholeskySystem(net, active, X, np.ones(12))
    with threadpool_limits(limits=2, user_api="blas"):
        outside = {
            p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"
        }
        if outside != {2}:
            pytest.skip("BLAS runs on one thread on this machine")
        system.solve(1e-3, np.ones((12, 1)))
    assert seen == [{expected}]


@pytest.mark.parametrize("name", ["cholesky", "cg"])
def test_a_released_system_is_freed_without_the_garbage_collector(
    name, network_factory, reference
):
    # A reference cycle would keep an old system (its pairs, csc form and
    # preconditioner) beside the next iteration's until the collector runs.
    import gc
    import weakref

    X, net = network_factory(n_samples=12)
    active = reference["active"](X, net)
    system = _systems.SYSTEMS[name](net, active, X, np.ones(12), random_state=0)
    system.by_neuron  # the lazily made csc form
    system.solve(1e-3, np.ones((12, 1)))
    gone = weakref.ref(system)
    gc.disable()
    try:
        del system
        assert gone() is None
    finally:
        gc.enable()
