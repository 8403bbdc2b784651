"""Helpers shared by the tests: reference derivatives and rule replays.

The solver never forms ``J v`` or ``J^T u`` for whole weight matrices (it works
on the implicit form of :meth:`TwoLayerNetwork.neuron_coef`); the slow,
obvious products below check that form and the Gram against finite
differences.
"""

import numpy as np
import scipy.sparse as sp

from sklearn_sublinear._solvers._stopping import StoppingRule


def shifted_relu_derivative(z, threshold):
    """Return the derivative ``1[z > threshold]`` as floats."""
    return (np.asarray(z) > threshold).astype(np.float64)


def jvp(network, active, X, V, dbeta=None):
    """Directional derivative ``J [V, dbeta]`` of every output.

    Returns ``out[i, o] = (1/sqrt(m)) sum_{r in S_i} a_ro <V_r, x_i> + dbeta_o``,
    an ndarray of shape (n_samples, n_outputs).
    """
    active = sp.csr_array(active)
    rows = np.repeat(np.arange(active.shape[0]), np.diff(active.indptr))
    dots = np.einsum("ed,ed->e", V[active.indices], X[rows])
    D = sp.csr_array((dots, active.indices, active.indptr), shape=active.shape)
    out = network.scale * (D @ network.signs)
    if dbeta is not None:
        out += dbeta
    return out


def vjp(network, active, X, U):
    """Transposed product ``J^T U`` for ``U`` of shape (n_samples, n_outputs).

    Returns ``(dW, dbeta)`` with ``dW`` of shape (n_neurons, n_inputs),
    ``dW_r = (1/sqrt(m)) sum_o a_ro sum_{i: r in S_i} U_io x_i`` and
    ``dbeta = U.sum(axis=0)``.
    """
    coef, changed = network.neuron_coef(active, U)
    dW = np.zeros_like(network.W)
    dW[changed] = coef @ X
    return dW, U.sum(axis=0)


def gram_matvec(network, active, X, u):
    """``G u`` without forming ``G`` (see ``TwoLayerNetwork.gram_operator``)."""
    return network.gram_operator(active, X)(u)


def replay_stopping_rule(values, tol, n_iter_no_change, share=None, share_above=None):
    """Iterations run by :class:`StoppingRule` on ``values`` (start first)."""
    rule = StoppingRule(tol, n_iter_no_change, values[0], share, share_above)
    for k, value in enumerate(values[1:], start=1):
        if rule.update(value):
            return k
    return len(values) - 1


def unit_rows_and_weights(rng, n, d, m, w_scale=1.0):
    """``n`` unit-norm rows in ``d`` dimensions and ``m`` Gaussian weights."""
    X = rng.standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X, w_scale * rng.standard_normal((m, d))


def index_data(seed, n=40, d=6, m=300):
    """``(rng, X, W)``: a generator, unit rows and weights for an index."""
    rng = np.random.default_rng(seed)
    X, W = unit_rows_and_weights(rng, n, d, m)
    return rng, X, W


def assert_identical_csr(A, B):
    """Same shape, index arrays and data, bit for bit."""
    assert A.shape == B.shape
    np.testing.assert_array_equal(A.indptr, B.indptr)
    np.testing.assert_array_equal(A.indices, B.indices)
    np.testing.assert_array_equal(A.data, B.data)


def assert_same_csr(A, B):
    """:func:`assert_identical_csr`, and both with sorted indices."""
    assert_identical_csr(A, B)
    assert A.has_sorted_indices and B.has_sorted_indices
