"""Preconditioners of the conjugate gradient against explicitly formed matrices."""

import _other_preconditioners as other
import numpy as np
import pytest
import scipy.linalg
from _other_preconditioners import PRECONDITIONERS
from numpy.testing import assert_allclose, assert_array_equal
from scipy.sparse import csr_array

from sklearn_sublinear._solvers import _preconditioners, _systems
from sklearn_sublinear._solvers._preconditioners import SketchPreconditioner
from sklearn_sublinear._solvers._systems import CGSystem, CholeskySystem

NAMES = sorted(PRECONDITIONERS)


@pytest.fixture(params=[False, True], ids=["intercept", "linear"])
def problem(request, network_factory, reference, monkeypatch):
    """Small system with several sketch columns, blocks and sketched chunks of
    rows (the last of each partial).

    Returns ``(network, active, X, dsqrt, K, B)`` with the explicit weight
    Jacobian ``K`` (output signs dropped) and ``B = D^(1/2) (K K^T + E E^T)
    D^(1/2)``, ``E = network.affine_rows(X)``: the intercept's ones, or with a
    linear term (the second parametrization) also the standardized features.
    """
    monkeypatch.setattr(_preconditioners, "SKETCH_COLUMNS", 12)
    monkeypatch.setattr(_preconditioners, "SKETCH_RANK", 6)
    monkeypatch.setattr(other, "NYSTROM_RANK", 6)
    monkeypatch.setattr(other, "BLOCK_SIZE", 16)
    # 7 rows of at most 12 + 4 columns per sketched chunk
    monkeypatch.setattr(_preconditioners, "SKETCH_CHUNK_BYTES", 8 * 16 * 7)
    X, net = network_factory(n_samples=40, n_features=3, n_neurons=64, seed=1)
    n, d = X.shape
    m = net.n_neurons
    active = reference["active"](X, net)
    fires = (X @ net.W.T) > net.threshold
    K = (fires[:, :, None] * X[:, None, :]).reshape(n, m * d) / np.sqrt(m)
    dsqrt = np.random.RandomState(2).uniform(0.5, 2.0, size=n) / np.sqrt(n)
    if request.param:
        net.linear_coef = np.zeros((d - 1, net.n_outputs))
    E = net.affine_rows(X)
    assert E.shape == (n, d if request.param else 1)
    assert_array_equal(E[:, 0], 1.0)
    B = dsqrt[:, None] * (K @ K.T + E @ E.T) * dsqrt[None, :]
    return net, active, X, dsqrt, K, B


def cg_system(net, active, X, dsqrt, preconditioner=None, **params):
    """The problem's ``CGSystem``, with the network's affine rows and the
    preconditioner of that name (``PRECONDITIONERS``), or the default."""
    if preconditioner is not None:
        preconditioner = PRECONDITIONERS[preconditioner]
    return CGSystem(
        net,
        active,
        X,
        dsqrt,
        affine_rows=net.affine_rows(X),
        preconditioner=preconditioner,
        **params,
    )


def damping_values(B, dsqrt):
    """About the solver's floor ``1e-3 trace(D^(1/2) J J^T D^(1/2))`` and 100
    times it (the affine part's trace included)."""
    trace = float(np.trace(B) - dsqrt @ dsqrt)
    return [1e-3 * trace, 1e-1 * trace]


@pytest.mark.parametrize("name", NAMES)
def test_preconditioner_is_symmetric_positive_definite(name, problem):
    net, active, X, dsqrt, _, B = problem
    system = cg_system(net, active, X, dsqrt, random_state=0, preconditioner=name)
    n = X.shape[0]
    for lam in damping_values(B, dsqrt):
        Pinv = system.preconditioner.apply(np.eye(n), lam)
        assert_allclose(Pinv, Pinv.T, atol=1e-12 * np.abs(Pinv).max())
        assert np.linalg.eigvalsh(0.5 * (Pinv + Pinv.T)).min() > 0


@pytest.mark.parametrize("name", NAMES)
def test_cg_matches_direct_solve(name, problem, monkeypatch):
    monkeypatch.setattr(_systems, "CG_RTOL", 1e-12)
    net, active, X, dsqrt, _, B = problem
    n = X.shape[0]
    R = np.random.RandomState(3).standard_normal((n, 2))
    system = cg_system(net, active, X, dsqrt, random_state=0, preconditioner=name)
    for lam in damping_values(B, dsqrt):
        expected = scipy.linalg.solve(B + lam * np.eye(n), R, assume_a="pos")
        got = system.solve(lam, R)
        assert_allclose(got, expected, rtol=1e-6, atol=1e-6 * np.abs(expected).max())
        assert 0 < system.last_info["cg_iterations"] < _systems.CG_MAX_ITER


@pytest.mark.parametrize("name", ["nystrom", "sketch"])
def test_low_rank_woodbury_matches_explicit_inverse(name, problem):
    net, active, X, dsqrt, _, B = problem
    n = X.shape[0]
    prec = cg_system(
        net, active, X, dsqrt, random_state=0, preconditioner=name
    ).preconditioner
    U, L = prec.U, prec.eigenvalues
    assert_allclose(U.T @ U, np.eye(U.shape[1]), atol=1e-10)
    assert np.all(np.diff(L) <= 0) and L[-1] > 0
    R = np.random.RandomState(4).standard_normal((n, 3))
    for lam in damping_values(B, dsqrt):
        mu = L[-1] + lam
        P = (U * (L + lam)) @ U.T + mu * (np.eye(n) - U @ U.T)
        assert_allclose(prec.apply(R, lam), np.linalg.solve(P / mu, R), rtol=1e-9)


def test_block_jacobi_matches_explicit_inverse(problem):
    net, active, X, dsqrt, K, B = problem
    n = X.shape[0]
    prec = cg_system(
        net, active, X, dsqrt, preconditioner="block_jacobi"
    ).preconditioner
    # Diagonal blocks of D^(1/2) K K^T D^(1/2); the affine term is global.
    BK = dsqrt[:, None] * (K @ K.T) * dsqrt[None, :]
    mask = np.zeros((n, n), dtype=bool)
    for start in range(0, n, other.BLOCK_SIZE):
        mask[start : start + other.BLOCK_SIZE, start : start + other.BLOCK_SIZE] = 1
    assert mask[-1, -1] and n % other.BLOCK_SIZE != 0
    R = np.random.RandomState(5).standard_normal((n, 2))
    # Two dampings on the same object: the factors follow the damping.
    for lam in damping_values(B, dsqrt):
        V = dsqrt[:, None] * net.affine_rows(X)
        P = np.where(mask, BK, 0.0) + lam * np.eye(n) + V @ V.T
        assert_allclose(prec.apply(R, lam), np.linalg.solve(P, R), rtol=1e-9)


@pytest.mark.parametrize("rank", [13, 3])
def test_sketch_is_the_countsketch_of_the_jacobian(rank, problem, monkeypatch):
    """``U diag(L) U^T`` is ``Y Y^T`` or its top, ``Y = D^(1/2) [K Phi, E]``."""
    monkeypatch.setattr(_preconditioners, "SKETCH_RANK", rank)
    net, active, X, dsqrt, K, _ = problem
    prec = cg_system(
        net, active, X, dsqrt, random_state=0, preconditioner="sketch"
    ).preconditioner
    m, d = net.W.shape
    s = prec.columns
    assert s == _preconditioners.SKETCH_COLUMNS
    # Explicit Phi, with the 1/sqrt(m) of its signs taken out of K.
    Phi = np.zeros((m * d, s))
    Phi[np.arange(m * d), prec.buckets.ravel()] = prec.signs.ravel() * np.sqrt(m)
    E = net.affine_rows(X)
    Y = dsqrt[:, None] * np.hstack([K @ Phi, E])
    eigval, eigvec = np.linalg.eigh(Y @ Y.T)
    top = np.argsort(eigval)[::-1][:rank]
    expected = (eigvec[:, top] * eigval[top]) @ eigvec[:, top].T
    got = (prec.U * prec.eigenvalues) @ prec.U.T
    assert prec.U.shape[1] == min(rank, s + E.shape[1])
    assert_allclose(got, expected, atol=1e-10 * np.abs(expected).max())


def test_nystrom_is_the_nystrom_approximation(problem):
    net, active, X, dsqrt, _, B = problem
    n = X.shape[0]
    prec = cg_system(
        net, active, X, dsqrt, random_state=7, preconditioner="nystrom"
    ).preconditioner
    rank = other.NYSTROM_RANK
    omega, _ = np.linalg.qr(np.random.RandomState(7).standard_normal((n, rank)))
    BO = B @ omega
    expected = BO @ np.linalg.solve(omega.T @ BO, BO.T)
    got = (prec.U * prec.eigenvalues) @ prec.U.T
    assert_allclose(got, expected, atol=1e-8 * np.abs(expected).max())


@pytest.mark.parametrize("name", NAMES)
def test_reproducible_for_fixed_random_state(name, problem):
    net, active, X, dsqrt, _, B = problem
    R = np.random.RandomState(6).standard_normal((X.shape[0], 1))
    lam = damping_values(B, dsqrt)[0]
    first, second, other = (
        cg_system(net, active, X, dsqrt, random_state=seed, preconditioner=name)
        for seed in (0, 0, 1)
    )
    assert_array_equal(first.solve(lam, R), second.solve(lam, R))
    if name in ("nystrom", "sketch"):
        assert_array_equal(first.preconditioner.U, second.preconditioner.U)
        assert not np.allclose(
            (first.preconditioner.U * first.preconditioner.eigenvalues)
            @ first.preconditioner.U.T,
            (other.preconditioner.U * other.preconditioner.eigenvalues)
            @ other.preconditioner.U.T,
        )


def test_default_preconditioner(problem):
    net, active, X, dsqrt, _, _ = problem
    system = cg_system(net, active, X, dsqrt, random_state=0)
    assert isinstance(system.preconditioner, SketchPreconditioner)


@pytest.mark.parametrize("name", NAMES)
def test_cg_agrees_with_cholesky_system(name, problem, monkeypatch):
    """Same solution and ``G q`` as the factored system, through the solver API."""
    monkeypatch.setattr(_systems, "CG_RTOL", 1e-12)
    net, active, X, dsqrt, _, B = problem
    R = np.random.RandomState(8).standard_normal((X.shape[0], 2))
    lam = damping_values(B, dsqrt)[0]
    cg = cg_system(net, active, X, dsqrt, random_state=0, preconditioner=name)
    chol = CholeskySystem(net, active, X, dsqrt, affine_rows=net.affine_rows(X))
    expected = chol.solve(lam, R)
    assert_allclose(cg.solve(lam, R), expected, rtol=1e-6, atol=1e-9)
    assert_allclose(cg.gram_matvec(expected), chol.gram_matvec(expected), rtol=1e-10)


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_count_sketch_rows_adds_each_entry_in_its_bucket(index_dtype):
    from sklearn_sublinear._solvers._count_sketch import count_sketch_rows

    rng = np.random.RandomState(0)
    n, m, d, s = 9, 20, 3, 5
    fires = rng.uniform(size=(n, m)) < 0.3
    active = csr_array(fires.astype(float))
    X = rng.standard_normal((n, d))
    buckets = rng.randint(0, s, size=(m, d)).astype(np.int32)
    signs = rng.standard_normal((m, d))
    Phi = np.zeros((m * d, s))
    Phi[np.arange(m * d), buckets.ravel()] = signs.ravel()
    K = (fires[:, :, None] * X[:, None, :]).reshape(n, m * d)
    Y = np.ones((4, s))  # rows 3..6, added to
    count_sketch_rows(
        X,
        active.indptr.astype(index_dtype),
        active.indices.astype(index_dtype),
        buckets,
        signs,
        3,
        Y,
    )
    assert_allclose(Y - 1.0, (K @ Phi)[3:7], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("growth, kept", [(1.5, True), (0.0, False)])
def test_next_system_keeps_the_preconditioner_while_cg_does_not_slow(
    growth, kept, problem, monkeypatch
):
    # a kept preconditioner (of other weights) still gives the direct solution
    monkeypatch.setattr(_systems, "CG_RTOL", 1e-12)
    monkeypatch.setattr(_systems, "PRECONDITIONER_REUSE_GROWTH", growth)
    net, active, X, dsqrt, _, B = problem
    n = X.shape[0]
    R = np.random.RandomState(4).standard_normal((n, 1))
    lam = damping_values(B, dsqrt)[0]
    first = cg_system(net, active, X, dsqrt, random_state=0)
    assert first.handover() is None  # nothing solved yet
    first.solve(lam, R)
    dsqrt2 = dsqrt * np.linspace(0.5, 1.5, n)
    handover = first.handover()
    second = cg_system(net, active, X, dsqrt2, random_state=0, previous=handover)
    assert (second.preconditioner is first.preconditioner) == kept
    B2 = dsqrt2[:, None] * (B / dsqrt[:, None] / dsqrt[None, :]) * dsqrt2[None, :]
    expected = scipy.linalg.solve(B2 + lam * np.eye(n), R, assume_a="pos")
    assert_allclose(second.solve(lam, R), expected, rtol=1e-6, atol=1e-8)
    # another kind of preconditioner is never kept
    other = cg_system(
        net,
        active,
        X,
        dsqrt2,
        random_state=0,
        preconditioner="nystrom",
        previous=second.handover(),
    )
    assert other.preconditioner is not second.preconditioner


def test_kept_preconditioner_that_stalls_is_replaced_mid_solve(problem, monkeypatch):
    # Weights far from those the kept preconditioner was built for (as the
    # curvature of the Poisson and log losses moves): the solve gives up on it
    # after the first solve's iterations and ends with a new one.
    monkeypatch.setattr(_systems, "CG_RTOL", 1e-12)
    monkeypatch.setattr(_systems, "PRECONDITIONER_REUSE_GROWTH", 1.0)
    net, active, X, dsqrt, _, B = problem
    n = X.shape[0]
    R = np.random.RandomState(4).standard_normal((n, 1))
    lam = damping_values(B, dsqrt)[0]
    first = cg_system(net, active, X, dsqrt, random_state=0)
    first.solve(lam, R)
    budget = first.last_info["cg_iterations"]
    dsqrt2 = dsqrt * np.exp(2.0 * np.random.RandomState(5).standard_normal(n))
    second = cg_system(
        net, active, X, dsqrt2, random_state=0, previous=first.handover()
    )
    assert second.preconditioner is first.preconditioner
    B2 = dsqrt2[:, None] * (B / dsqrt[:, None] / dsqrt[None, :]) * dsqrt2[None, :]
    expected = scipy.linalg.solve(B2 + lam * np.eye(n), R, assume_a="pos")
    assert_allclose(second.solve(lam, R), expected, rtol=1e-6, atol=1e-8)
    assert second.preconditioner is not first.preconditioner
    assert second.last_info["cg_iterations"] > budget
    # the new preconditioner is the one a new system would build
    fresh = cg_system(net, active, X, dsqrt2, random_state=0)
    assert_allclose(second.preconditioner.U, fresh.preconditioner.U)


def test_sketch_chunks_on_threads_give_the_same_preconditioner(problem):
    # the chunks of rows are sketched on the network's threads: the Gram of
    # the sketch is the chunks' Grams in row order, and the basis is the same
    # bit for bit whatever n_jobs
    net, active, X, dsqrt, K, _ = problem
    built = []
    for n_jobs in (1, 2, 3):
        net.n_jobs = n_jobs
        system = cg_system(net, active, X, dsqrt, random_state=0)
        built.append((system, system.preconditioner))
    system, first = built[0]
    for _, other_one in built[1:]:
        assert_array_equal(other_one.U, first.U)
        assert_array_equal(other_one.eigenvalues, first.eigenvalues)
    # slow reference: Y = D^(1/2) [K Phi, E] from the drawn entries
    n, d = X.shape
    m, s = net.n_neurons, first.columns
    Phi = np.zeros((m * d, s))
    Phi[np.arange(m * d), first.buckets.ravel()] = first.signs.ravel() * np.sqrt(m)
    Y = dsqrt[:, None] * np.hstack([K @ Phi, net.affine_rows(X)])
    gram = sum(Y[a : a + 7].T @ Y[a : a + 7] for a in range(0, n, 7))
    assert_allclose(first.sketch_gram(system), gram, rtol=1e-12, atol=1e-14)


def test_sketch_rank_is_capped_by_the_bytes_of_the_basis(problem, monkeypatch):
    net, active, X, dsqrt, _, _ = problem
    n = X.shape[0]
    assert _preconditioners.sketch_rank(n) == min(_preconditioners.SKETCH_RANK, n)
    for rows in (10**5, 10**6, 10**7):
        rank = _preconditioners.sketch_rank(rows)
        assert rank <= _preconditioners.SKETCH_RANK
        assert rank <= _preconditioners.SKETCH_MIN_RANK or (
            8 * rows * rank <= _preconditioners.SKETCH_BASIS_BYTES
        )
    # a basis of 4 columns of n rows at most
    monkeypatch.setattr(_preconditioners, "SKETCH_BASIS_BYTES", 8 * n * 4)
    monkeypatch.setattr(_preconditioners, "SKETCH_MIN_RANK", 2)
    prec = cg_system(net, active, X, dsqrt, random_state=0).preconditioner
    assert prec.U.shape[1] == 4
