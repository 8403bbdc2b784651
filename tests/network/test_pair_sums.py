"""Sums over the firing pairs against dense references."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.sparse import csr_array

from sklearn_sublinear._network import _pair_sums, _sparse
from sklearn_sublinear._network._pair_sums import PairSums


def _pairs(seed=0, n=300, m=50, density=0.2, empty_neurons=(3, 17)):
    rng = np.random.RandomState(seed)
    A = (rng.uniform(size=(n, m)) < density) * rng.uniform(1.0, 2.0, (n, m))
    A[:, list(empty_neurons)] = 0.0
    return rng, csr_array(A)


@pytest.mark.parametrize("by_neuron", [False, True], ids=["by_row", "by_neuron"])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_sums_and_dots_match_dense_reference(by_neuron, index_dtype, monkeypatch):
    if by_neuron:  # no room for the partial sums: the csc path
        monkeypatch.setattr(_pair_sums, "ROW_SUM_BYTES", 0)
    rng, A = _pairs()
    A.indptr, A.indices = A.indptr.astype(index_dtype), A.indices.astype(index_dtype)
    X, U = rng.standard_normal((300, 4)), rng.standard_normal((300, 2))
    pairs = PairSums(A)
    P = (A.toarray() != 0).astype(float)
    assert_array_equal(pairs.neurons, np.flatnonzero(P.sum(axis=0)))
    V = pairs.neuron_sums(X, U)
    expected = np.einsum("ir,ik,id->rkd", P, U, X)[pairs.neurons]
    assert_allclose(V, expected, rtol=1e-12, atol=1e-12)
    full = np.zeros((50, 2, 4))
    full[pairs.neurons] = V
    assert_allclose(
        pairs.row_dots(X, V),
        np.einsum("id,ir,rkd->ik", X, P, full),
        rtol=1e-12,
        atol=1e-12,
    )


@pytest.mark.parametrize("by_neuron", [False, True], ids=["by_row", "by_neuron"])
def test_results_independent_of_n_jobs(by_neuron, monkeypatch):
    # blocks of threads even for small inputs, so the tasks really split
    monkeypatch.setattr(_sparse, "THREAD_MIN_NNZ", 1)
    if by_neuron:
        monkeypatch.setattr(_pair_sums, "ROW_SUM_BYTES", 0)
    rng, A = _pairs(seed=1)
    X, U = rng.standard_normal((300, 5)), rng.standard_normal((300, 3))
    one = PairSums(A, n_jobs=1)
    V1 = one.neuron_sums(X, U)
    for n_jobs in (2, 3):
        other = PairSums(A, n_jobs=n_jobs)
        V = other.neuron_sums(X, U)
        assert_array_equal(V, V1)
        assert_array_equal(other.row_dots(X, V), one.row_dots(X, V1))


def _in_stored_order(A, X, U, neurons):
    """Both passes pair by pair in the stored order of ``A`` (slow reference)."""
    rank = {r: b for b, r in enumerate(neurons)}
    V = np.zeros((neurons.size, U.shape[1], X.shape[1]))
    for i in range(A.shape[0]):
        for r in A.indices[A.indptr[i] : A.indptr[i + 1]]:
            V[rank[r]] += U[i][:, None] * X[i]
    out = np.zeros((A.shape[0], U.shape[1]))
    for i in range(A.shape[0]):
        acc = np.zeros((U.shape[1], X.shape[1]))
        for r in A.indices[A.indptr[i] : A.indptr[i + 1]]:
            acc += V[rank[r]]
        for k in range(U.shape[1]):
            s = 0.0
            for j in range(X.shape[1]):
                s += acc[k, j] * X[i, j]
            out[i, k] = s
    return V, out


@pytest.mark.parametrize("d", [1, 3, 8, 9, 12, 15, 17])
@pytest.mark.parametrize("c", [1, 3])
def test_by_row_sums_in_the_stored_order_bit_for_bit(d, c, monkeypatch):
    # the row kernels group coordinates and form each row's products once:
    # every sum must still run pair by pair in the stored order
    monkeypatch.setattr(_pair_sums, "ROW_SUM_BLOCKS", 1)
    rng, A = _pairs(seed=2, n=120, m=30, density=0.3)
    X, U = rng.standard_normal((120, d)), rng.standard_normal((120, c))
    pairs = PairSums(A)
    V, out = _in_stored_order(A, X, U, pairs.neurons)
    assert_array_equal(pairs.neuron_sums(X, U), V)
    assert_array_equal(pairs.row_dots(X, V), out)
