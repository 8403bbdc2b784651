"""The exact routine that decides firing: ties, batching, bounds, BLAS threads."""

import numpy as np
import pytest
from _helpers import index_data as _data
from threadpoolctl import threadpool_limits

from sklearn_sublinear._tree_index import DenseIndex, TreeIndex, exact_preactivations


def test_exact_ties_at_threshold():
    # Values exactly equal to b must not fire: construct exact ties.
    X = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    W = np.array([[0.5, 0.0], [0.5, 0.5], [0.0, 0.5], [0.25, 0.0], [0.75, 0.0]])
    b = 0.5
    for index in (TreeIndex(X, b, block_size=2), DenseIndex(X, b)):
        A = index.build(W).query()
        rows, cols = np.divmod(np.arange(15), 5)
        exact = exact_preactivations(W, X, rows, cols)
        assert np.count_nonzero(exact == b) == 4
        assert A.nnz == np.count_nonzero(exact > b) == 2
        assert A[0, 0] == 0 and A[1, 2] == 0 and A[0, 4] == 0.75


@pytest.mark.parametrize("d", [1, 3, 37, 300])
def test_exact_routine_independent_of_batching(d):
    rng, X, W = _data(2, n=30, d=d, m=50)
    rows = rng.integers(0, 30, 500)
    cols = rng.integers(0, 50, 500)
    full = exact_preactivations(W, X, rows, cols)
    parts = np.concatenate(
        [
            exact_preactivations(W, X, rows[s : s + 7], cols[s : s + 7])
            for s in range(0, 500, 7)
        ]
    )
    np.testing.assert_array_equal(full, parts)
    single = [
        exact_preactivations(W, X, rows[p : p + 1], cols[p : p + 1])[0]
        for p in range(0, 500, 50)
    ]
    np.testing.assert_array_equal(full[::50], single)
    order = rng.permutation(500)
    np.testing.assert_array_equal(
        full[order], exact_preactivations(W, X, rows[order], cols[order])
    )
    # rows not in C order are gathered first: same sums, same bits
    np.testing.assert_array_equal(
        full, exact_preactivations(np.asfortranarray(W), X[:, ::1], rows, cols)
    )
    np.testing.assert_allclose(full, (W[cols] * X[rows]).sum(axis=1), atol=1e-13)


def test_exact_routine_rejects_out_of_range_pairs():
    _, X, W = _data(2, n=3, d=4, m=5)
    with pytest.raises(IndexError, match="cols in"):
        exact_preactivations(W, X, [0, 1], [0, 5])
    with pytest.raises(IndexError, match="rows must be in"):
        exact_preactivations(W, X, [-1], [0])
    with pytest.raises(ValueError, match="same length"):
        exact_preactivations(W, X, [0, 1], [0])
    # rows not in C order are gathered: checked before, not wrapped
    with pytest.raises(IndexError, match="rows must be in"):
        exact_preactivations(np.asfortranarray(W), X, [-1], [0])
    with pytest.raises(IndexError, match="cols in"):
        exact_preactivations(np.asfortranarray(W), X, [0], [5])


def test_exact_routine_independent_of_blas_threads():
    # OpenBLAS splits dot products above 10000 terms over its threads; the
    # indexes call the routine with and without a BLAS thread limit.
    rng, X, W = _data(3, n=4, d=20000, m=5)
    rows, cols = np.divmod(np.arange(20), 5)
    with threadpool_limits(limits=1, user_api="blas"):
        one = exact_preactivations(W, X, rows, cols)
    with threadpool_limits(limits=2, user_api="blas"):
        two = exact_preactivations(W, X, rows, cols)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_allclose(one, (W[cols] * X[rows]).sum(axis=1), rtol=1e-12)
