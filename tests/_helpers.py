"""Reference derivatives of the network that only the tests use.

The solver never forms ``J v`` or ``J^T u`` for whole weight matrices (it works
on the implicit form of :meth:`TwoLayerNetwork.neuron_coef`); these slow,
obvious products check that form and the Gram against finite differences.
"""

import numpy as np
import scipy.sparse as sp


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
