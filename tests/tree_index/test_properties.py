"""Property tests: tree and dense indexes agree with brute force."""

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from sklearn_sublinear._tree_index import DenseIndex, TreeIndex  # noqa: E402


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 25),
    d=st.integers(1, 9),
    m=st.integers(1, 150),
    block_size=st.integers(1, 40),
    b=st.floats(-2.0, 2.5),
    n_steps=st.integers(0, 4),
    rebuild=st.booleans(),
)
def test_tree_equals_dense_and_brute_force(
    seed, n, d, m, block_size, b, n_steps, rebuild
):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    W = rng.standard_normal((m, d))
    tree = TreeIndex(X, b, block_size=block_size)
    tree.build(W)
    dense = DenseIndex(X, b).build(W)
    for step in range(n_steps + 1):
        if step:
            k = int(rng.integers(1, m + 1))
            changed = np.sort(rng.choice(m, k, replace=False))
            W = W.copy()
            W[changed] += 10.0 ** rng.uniform(-8, 0.5) * rng.standard_normal((k, d))
            tree.update(W, changed)
            dense.update(W, changed)
            if rebuild:
                tree.rebuild(rows=rng.choice(n, int(rng.integers(0, n + 1))))
        A, B = tree.query(), dense.query()
        np.testing.assert_array_equal(A.indptr, B.indptr)
        np.testing.assert_array_equal(A.indices, B.indices)
        np.testing.assert_array_equal(A.data, B.data)
        Z = X @ W.T
        differ = (A.toarray() != 0) != (Z > b)
        assert np.all(np.abs(Z[differ] - b) <= 1e-12)
