"""The sample-space systems: BLAS threads of the Cholesky system, its Gram
from the previous system, CG stops."""

import numpy as np
import pytest
from _other_preconditioners import IdentityPreconditioner
from numpy.testing import assert_array_equal
from scipy.sparse import csr_array

from sklearn_sublinear._network._two_layer import TwoLayerNetwork
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


@pytest.mark.parametrize("moved", [0, 1, 3, 40])
def test_cholesky_gram_from_the_previous_system_is_the_new_gram(
    moved, network_factory, reference, monkeypatch
):
    # The next Cholesky system recomputes the rows and columns of G whose
    # active sets changed: the same bits as a new G; with too many changed
    # rows it forms a new one.
    monkeypatch.setattr(_systems, "GRAM_UPDATE_MAX_ROWS", 0.25)
    X, net = network_factory(n_samples=40, n_neurons=60)
    rng = np.random.RandomState(0)
    E = np.hstack([np.ones((40, 1)), rng.standard_normal((40, 2))])
    fixed = dict(data_gram=X @ X.T, affine_rows=E, affine_gram=E @ E.T)
    first = CholeskySystem(net, reference["active"](X, net), X, np.ones(40), **fixed)
    rows = rng.choice(40, moved, replace=False)
    X2 = X.copy()
    X2[rows] = X[rng.permutation(40)[:moved]]
    # active sets of the moved rows from other inputs, the rest unchanged
    active = reference["active"](X2, net)
    handover = first.handover()
    calls = []
    gram = net.gram
    monkeypatch.setattr(net, "gram", lambda *a, **k: calls.append(1) or gram(*a, **k))
    second = CholeskySystem(net, active, X, np.ones(40), previous=handover, **fixed)
    fresh = CholeskySystem(net, active, X, np.ones(40), **fixed)
    changed = np.flatnonzero(
        [set(active[[i]].indices) != set(first.active[[i]].indices) for i in range(40)]
    )
    assert (changed.size > 0) == (moved > 0)
    # the fresh system's gram, and ours beyond a quarter of the rows
    assert len(calls) == 1 + (changed.size > 10)
    assert_array_equal(second.G, fresh.G)
    # the handover let go of the old G
    assert handover.take(second) is None


def test_cg_stop_on_the_model_decrease(monkeypatch):
    # A linear term over wide rows, whose spread spectrum keeps the residual
    # test waiting (no preconditioner here): "decrease" stops sooner, with
    # the quadratic model q(c) = c^T A c / 2 - r^T c within 1% of its
    # minimum; with a zero CG_DECREASE_RTOL it is the residual test.
    rng = np.random.RandomState(0)
    n, d, m = 150, 400, 64
    U = rng.exponential(size=(n, d)) * (rng.rand(n, d) < 0.1)
    X = np.hstack([U, np.ones((n, 1))])
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    net = TwoLayerNetwork(
        rng.standard_normal((m, d + 1)),
        np.ones((m, 1)),
        0.5,
        np.zeros(1),
        linear_coef=np.zeros((d, 1)),
    )
    active = csr_array(np.maximum(X @ net.W.T - 0.5, 0.0))
    dsqrt, lam = np.full(n, 1.0 / np.sqrt(n)), 1e-4
    R = rng.standard_normal((n, 1))

    def solve(stop):
        system = _systems.CGSystem(
            net,
            active,
            X,
            dsqrt,
            affine_rows=net.affine_rows(X),
            preconditioner=IdentityPreconditioner,
            cg_stop=stop,
        )
        C = system.solve(lam, R)
        A = system.bmatvec(np.eye(n)) + lam * np.eye(n)
        return C, A, system.last_info["cg_iterations"]

    C_res, A, it_res = solve("residual")
    C_dec, _, it_dec = solve("decrease")
    best = np.linalg.solve(A, R)

    def model(C):
        return float(C[:, 0] @ A @ C[:, 0] / 2 - R[:, 0] @ C[:, 0])

    assert it_dec < it_res
    assert model(C_dec) <= 0.99 * model(best) < 0
    monkeypatch.setattr(_systems, "CG_DECREASE_RTOL", 0.0)
    assert_array_equal(solve("decrease")[0], C_res)
    with pytest.raises(ValueError, match="cg_stop"):
        _systems.CGSystem(net, active, X, dsqrt, cg_stop="never")
