"""Network products against dense brute-force references and finite differences."""

import numpy as np
import pytest
from _helpers import gram_matvec, jvp, vjp
from numpy.testing import assert_allclose, assert_array_equal
from scipy.sparse import csr_array

from sklearn_sublinear._network import (
    InputTransform,
    _sparse,
    threshold_from_sparsity,
)
from sklearn_sublinear._network._two_layer import TwoLayerNetwork


def explicit_jacobian(X, network, o):
    """Dense Jacobian of output ``o`` w.r.t. vec(W), shape (n, m * d)."""
    n, d = X.shape
    m = network.n_neurons
    fires = (X @ network.W.T) > network.threshold
    J = np.zeros((n, m, d))
    for i in range(n):
        for r in range(m):
            if fires[i, r]:
                J[i, r] = network.signs[r, o] * X[i] / np.sqrt(m)
    return J.reshape(n, m * d)


def test_forward_active_matches_dense(small_network, reference):
    X, net = small_network
    active = reference["active"](X, net)
    expected = reference["forward"](X, net.W, net.signs, net.threshold, net.intercept)
    assert_allclose(net.forward_active(active), expected, rtol=1e-12, atol=1e-12)
    assert_allclose(net.forward(X), expected, rtol=1e-12, atol=1e-12)
    assert_allclose(net.forward(X, batch_size=5), expected, rtol=1e-12, atol=1e-12)


def test_jvp_matches_central_differences(small_network, reference):
    X, net = small_network
    rng = np.random.RandomState(1)
    V = rng.standard_normal(net.W.shape)
    dbeta = rng.standard_normal(net.n_outputs)
    eps = 1e-6
    f_plus = reference["forward"](
        X, net.W + eps * V, net.signs, net.threshold, net.intercept + eps * dbeta
    )
    f_minus = reference["forward"](
        X, net.W - eps * V, net.signs, net.threshold, net.intercept - eps * dbeta
    )
    fd = (f_plus - f_minus) / (2 * eps)
    active = reference["active"](X, net)
    assert_allclose(jvp(net, active, X, V, dbeta), fd, rtol=1e-6, atol=1e-8)


def test_vjp_matches_central_differences(small_network, reference):
    X, net = small_network
    rng = np.random.RandomState(2)
    U = rng.standard_normal((X.shape[0], net.n_outputs))
    active = reference["active"](X, net)
    dW, dbeta = vjp(net, active, X, U)
    eps = 1e-6
    for r, k in [(0, 0), (3, 2), (17, 1), (39, 3)]:
        E = np.zeros_like(net.W)
        E[r, k] = eps
        f_plus = reference["forward"](
            X, net.W + E, net.signs, net.threshold, net.intercept
        )
        f_minus = reference["forward"](
            X, net.W - E, net.signs, net.threshold, net.intercept
        )
        fd = np.sum(U * (f_plus - f_minus)) / (2 * eps)
        assert dW[r, k] == pytest.approx(fd, rel=1e-6, abs=1e-9)
    assert_allclose(dbeta, U.sum(axis=0))
    # Adjoint identity <J v, u> = <v, J^T u>.
    V = rng.standard_normal(net.W.shape)
    assert np.sum(jvp(net, active, X, V) * U) == pytest.approx(np.sum(V * dW))


def test_gram_matches_explicit_jacobian(small_network, reference):
    X, net = small_network
    active = reference["active"](X, net)
    G = net.gram(active, X)
    for o in range(net.n_outputs):
        J = explicit_jacobian(X, net, o)
        assert_allclose(G, J @ J.T, rtol=1e-12, atol=1e-14)
    u = np.random.RandomState(3).standard_normal((X.shape[0], 2))
    assert_allclose(gram_matvec(net, active, X, u), G @ u, rtol=1e-12, atol=1e-14)
    assert_allclose(net.gram_diagonal(active, X), np.diag(G), rtol=1e-12)


def test_neuron_coef_is_implicit_vjp(small_network, reference):
    X, net = small_network
    active = reference["active"](X, net)
    U = np.random.RandomState(4).standard_normal((X.shape[0], net.n_outputs))
    coef, changed = net.neuron_coef(active, U)
    fired = np.flatnonzero((active != 0).sum(axis=0))
    assert_allclose(changed, fired)
    dW, _ = vjp(net, active, X, U)
    assert_allclose(coef @ X, dW[changed])
    # the documented entries, pair by pair
    fires = (active != 0).toarray()
    expected = np.zeros((changed.size, X.shape[0]))
    for k, r in enumerate(changed):
        for i in np.flatnonzero(fires[:, r]):
            expected[k, i] = net.scale * (net.signs[r] @ U[i])
    assert_allclose(coef.toarray(), expected, rtol=1e-12, atol=0)
    # the pairs grouped by neuron (csc, as the solver passes them): same bits
    coef_csc, changed_csc = net.neuron_coef(active.tocsc(), U)
    assert_array_equal(changed_csc, changed)
    assert_array_equal(coef_csc.toarray(), coef.toarray())
    # Rows of a subset map to their own columns.
    rows = np.array([1, 4, 7])
    coef_sub, changed_sub = net.neuron_coef(
        active[rows], U[rows], columns=rows, n_columns=X.shape[0]
    )
    assert coef_sub.shape == (changed_sub.size, X.shape[0])
    assert set(coef_sub.tocoo().col) <= set(rows)


@pytest.mark.parametrize("m, sparsity", [(1024, 0.5), (4096, 0.7), (64, 0.2)])
def test_threshold_fires_expected_fraction(m, sparsity):
    b = threshold_from_sparsity(m, sparsity)
    rng = np.random.RandomState(0)
    z = rng.standard_normal(400_000)
    assert np.mean(z > b) == pytest.approx(m**-sparsity, rel=0.05)


def _homogeneous_reference(U, network, c):
    """Direct formula of the homogeneous network on augmented rows ``u``."""
    norms = np.linalg.norm(U, axis=1, keepdims=True)
    hidden = np.maximum(U @ network.W.T - network.threshold * norms, 0.0)
    return hidden @ network.signs / (c * np.sqrt(network.n_neurons)) + network.intercept


def test_homogeneous_forward_matches_formula_on_augmented_rows(
    small_network, reference
):
    X, net = small_network
    rng = np.random.RandomState(3)
    Z = 3.0 * rng.standard_normal((X.shape[0], X.shape[1] - 1))
    U = np.column_stack([Z, np.ones(Z.shape[0])])
    Xu = U / np.linalg.norm(U, axis=1, keepdims=True)
    c = 2.5
    net.norm_scale = c
    expected = _homogeneous_reference(U, net, c)
    assert_allclose(net.row_scale(Xu), np.linalg.norm(U, axis=1) / c, rtol=1e-12)
    assert_allclose(net.forward(Xu), expected, rtol=1e-10, atol=1e-12)
    assert_allclose(net.forward(Xu, batch_size=5), expected, rtol=1e-10, atol=1e-12)
    active = reference["active"](Xu, net)
    assert_allclose(
        net.forward_active(active, row_scale=net.row_scale(Xu)),
        expected,
        rtol=1e-10,
        atol=1e-12,
    )
    # Positive homogeneity in u, up to the intercept.
    assert_allclose(
        _homogeneous_reference(4.0 * U, net, c) - net.intercept,
        4.0 * (expected - net.intercept),
        rtol=1e-10,
    )


def test_homogeneous_jacobian_rows_match_central_differences(small_network, reference):
    X, net = small_network
    net.norm_scale = 1.7
    rng = np.random.RandomState(4)
    V = rng.standard_normal(net.W.shape)
    eps = 1e-6
    W0 = net.W.copy()
    net.W = W0 + eps * V
    f_plus = net.forward(X)
    net.W = W0 - eps * V
    f_minus = net.forward(X)
    net.W = W0
    fd = (f_plus - f_minus) / (2 * eps)
    active = reference["active"](X, net)
    Xj = net.jacobian_rows(X)
    assert not np.allclose(Xj, X)
    assert_allclose(jvp(net, active, Xj, V), fd, rtol=1e-6, atol=1e-8)
    # The Gram of the Jacobian rows is J J^T.
    G = net.gram(active, Xj)
    for o in range(net.n_outputs):
        J = explicit_jacobian(X, net, o) * net.row_scale(X)[:, None]
        assert_allclose(G, J @ J.T, rtol=1e-10, atol=1e-12)


def _random_pattern(rng, n, m, density):
    return csr_array((rng.rand(n, m) < density).astype(float))


@pytest.mark.parametrize("n_jobs", [1, 2, 3])
def test_move_neurons_adds_the_step_in_place(n_jobs, monkeypatch):
    monkeypatch.setattr(_sparse, "THREAD_MIN_NNZ", 1)
    rng = np.random.RandomState(n_jobs)
    W = rng.standard_normal((60, 5))
    X = rng.standard_normal((30, 5))
    changed = np.sort(rng.choice(60, 25, replace=False))
    coef = csr_array(_random_pattern(rng, 25, 30, 0.3) * rng.standard_normal((25, 30)))
    net = TwoLayerNetwork(W.copy(), np.ones((60, 1)), 0.5, np.zeros(1), n_jobs=n_jobs)
    old_rows = net.move_neurons(changed, coef, X)
    expected = W.copy()
    expected[changed] = W[changed] + coef @ X
    # the same additions in the same order: equal bits, and rows not moved kept
    assert_array_equal(net.W, expected)
    assert_array_equal(old_rows, W[changed])
    net.W[changed] = old_rows
    assert_array_equal(net.W, W)


@pytest.mark.parametrize("sparse", [False, True])
def test_affine_scale_changes_the_solver_view_not_the_model(sparse):
    # With affine_scale t the solver sees the affine part as <t e_i, theta / t>:
    # the same outputs, rows t e_i, coefficients theta / t, and the model's
    # intercept and linear coefficients unchanged.
    rng = np.random.RandomState(0)
    raw = rng.rand(30, 8) * (rng.rand(30, 8) < 0.4)
    raw = csr_array(raw) if sparse else raw
    X = InputTransform("maxabs").fit(raw, np.ones(30)).transform(raw)
    m, t = 64, 0.3
    W = rng.standard_normal((m, 9))
    signs = np.where(rng.rand(m, 2) < 0.5, -1.0, 1.0)
    beta, V = rng.standard_normal(2), rng.standard_normal((8, 2))

    def network(scale):
        return TwoLayerNetwork(
            W, signs, 0.5, beta.copy(), linear_coef=V.copy(), affine_scale=scale
        )

    plain, scaled = network(1.0), network(t)
    assert_allclose(scaled.forward(X), plain.forward(X), rtol=1e-12, atol=1e-12)
    E, Et = plain.affine_rows(X), scaled.affine_rows(X)
    if sparse:
        E, Et = E.toarray(), Et.toarray()
    assert_allclose(Et, t * E, rtol=1e-15)
    assert_allclose(scaled.affine_coef, plain.affine_coef / t, rtol=1e-15)
    assert_allclose(Et @ scaled.affine_coef, E @ plain.affine_coef, rtol=1e-12)
    theta = rng.standard_normal((9, 2))
    scaled.affine_coef = theta
    assert_allclose(scaled.intercept, t * theta[0], rtol=1e-15)
    assert_allclose(scaled.linear_coef, t * theta[1:], rtol=1e-15)
    assert_allclose(scaled.affine_coef, theta, rtol=1e-15)
