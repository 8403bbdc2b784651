"""The packed one-bit trees, their writes, and the lean query assembly."""

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp

import sklearn_sublinear._tree_index._parallel as parallel_module
from sklearn_sublinear._tree_index import (
    DenseIndex,
    TreeIndex,
    estimate_index_nbytes,
    exact_preactivations,
)
from sklearn_sublinear._tree_index._dense import dense_active_parts, dense_candidates
from sklearn_sublinear._tree_index._exact import active_csr, check_weights
from sklearn_sublinear._tree_index._max_tree import (
    byte_aligned_chunks,
    clear_pairs,
    descend,
    empty_tree,
    fill_internal,
    tree_nbytes,
    unpack_tree,
    write_leaves,
)


def _unit_rows_and_weights(rng, n, d, m, w_scale=1.0):
    """``n`` unit-norm rows in ``d`` dimensions and ``m`` Gaussian weights."""
    X = rng.standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X, w_scale * rng.standard_normal((m, d))


def _exact_matrix(X, W):
    n, m = X.shape[0], W.shape[0]
    rows, cols = np.divmod(np.arange(n * m), m)
    return exact_preactivations(W, X, rows, cols).reshape(n, m)


def _cold_block_max(index, X, W):
    exact = _exact_matrix(X, W)
    exact[:, index.hot_neurons_] = -np.inf
    n_leaves, bs = index.n_leaves_, index.block_size_
    padded = np.full((X.shape[0], n_leaves * bs), -np.inf)
    padded[:, : W.shape[0]] = exact
    return padded.reshape(X.shape[0], n_leaves, bs).max(axis=2).T


def _leaves(index):
    return index.get_arrays()[0][index.n_leaves_ - 1 :]


def _assert_sound(index, X, W):
    # bit 0 only where no cold neuron of the block fires; internal = OR
    tree = index.get_arrays()[0]
    n_leaves = index.n_leaves_
    assert np.all(_leaves(index) | (_cold_block_max(index, X, W) <= index.threshold_))
    for node in range(n_leaves - 1):
        np.testing.assert_array_equal(
            tree[node], tree[2 * node + 1] | tree[2 * node + 2]
        )


def _assert_same(A, B):
    np.testing.assert_array_equal(A.indptr, B.indptr)
    np.testing.assert_array_equal(A.indices, B.indices)
    np.testing.assert_array_equal(A.data, B.data)
    assert A.has_sorted_indices and B.has_sorted_indices


def _assert_brute_force(A, X, W, b):
    exact = _exact_matrix(X, W)
    np.testing.assert_array_equal(A.toarray() != 0, exact > b)
    rows, cols = A.nonzero()
    np.testing.assert_array_equal(A.data, exact[rows, cols])


# -- packed trees ------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 8, 13, 64, 70])
def test_packed_tree_primitives_match_bool_reference(n):
    rng = np.random.default_rng(n)
    n_leaves = 8
    tree = empty_tree(n_leaves, n)
    assert tree.shape == (2 * n_leaves - 1, -(-n // 8)) and tree.dtype == np.uint8
    assert tree.nbytes == tree_nbytes(n_leaves, n)
    ref = np.zeros((2 * n_leaves - 1, n), dtype=bool)
    # leaf writes: whole slices, then sorted subsets whose bytes hold other
    # samples whose bits must survive
    for step in range(6):
        first = int(rng.integers(0, n_leaves))
        k = int(rng.integers(1, n_leaves - first + 1))
        if step == 0:
            rows = slice(0, n)
            idx = np.arange(n)
        else:
            idx = np.sort(rng.choice(n, int(rng.integers(1, n + 1)), replace=False))
            rows = idx
        bits = rng.random((k, idx.size)) < 0.5
        write_leaves(tree, n_leaves - 1 + first, rows, bits)
        ref[n_leaves - 1 + first : n_leaves - 1 + first + k][:, idx] = bits
        np.testing.assert_array_equal(unpack_tree(tree, n), ref)
    fill_internal(tree)
    for node in range(n_leaves - 2, -1, -1):
        ref[node] = ref[2 * node + 1] | ref[2 * node + 2]
    np.testing.assert_array_equal(unpack_tree(tree, n), ref)
    # the descent returns exactly the set leaves (internal nodes are the OR)
    blocks, samples = descend(tree, n)
    leaf_blocks, leaf_samples = np.nonzero(ref[n_leaves - 1 :])
    assert sorted(zip(blocks.tolist(), samples.tolist())) == sorted(
        zip(leaf_blocks.tolist(), leaf_samples.tolist())
    )
    # clearing pairs, duplicates and shared bytes included
    p = rng.integers(0, blocks.size, size=2 * blocks.size) if blocks.size else []
    clear_pairs(tree, n_leaves - 1 + blocks[p], samples[p])
    ref[n_leaves - 1 + blocks[p], samples[p]] = False
    np.testing.assert_array_equal(unpack_tree(tree, n), ref)
    # padding bits of the last byte are never set
    if n % 8:
        assert not np.any(tree[:, -1] >> (n % 8))


@pytest.mark.parametrize("size", [8, 16, 256])
def test_byte_aligned_chunks(size):
    rng = np.random.default_rng(size)
    n = 203
    chunks = byte_aligned_chunks(None, n, size)
    assert [(c.start, c.stop) for c in chunks] == [
        (s, min(s + size, n)) for s in range(0, n, size)
    ]
    assert byte_aligned_chunks(np.zeros(0, np.intp), n, size) == []
    for _ in range(20):
        rows = np.sort(rng.choice(n, int(rng.integers(1, n + 1)), replace=False))
        chunks = byte_aligned_chunks(rows, n, size)
        np.testing.assert_array_equal(np.concatenate(chunks), rows)
        bytes_of = [set((c >> 3).tolist()) for c in chunks]
        for a in range(len(bytes_of)):
            for b in range(a + 1, len(bytes_of)):
                assert not bytes_of[a] & bytes_of[b]
        # a chunk only grows to finish its last byte
        assert all(c.size <= size + 7 for c in chunks)


# -- bits of the index ----------------------------------------------------------


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_bits_sound_then_tight_after_a_query(n_jobs):
    rng = np.random.default_rng(0)
    n, d, m = 45, 6, 700
    X, W = _unit_rows_and_weights(rng, n, d, m)
    b = 1.5
    tree = TreeIndex(X, b, block_size=16, n_jobs=n_jobs).build(W)
    _assert_sound(tree, X, W)
    block_max = _cold_block_max(tree, X, W)
    # after the build, a set leaf is at most a float32 margin below b
    assert np.all(~_leaves(tree) | (block_max > b - 1e-5))
    assert np.any(_leaves(tree)) and not np.all(_leaves(tree))
    _assert_same(tree.query(), DenseIndex(X, b).build(W).query())
    # every set leaf was visited and tightened: set iff the cold max is above b,
    # up to the float64 margin
    _assert_sound(tree, X, W)
    assert np.all(~_leaves(tree) | (block_max > b - 1e-12))
    # after a step, bits of blocks whose firing neurons all went hot clear
    W_new = W.copy()
    changed = np.unique(tree.query().indices)
    W_new[changed] += 0.3 * rng.standard_normal((changed.size, d))
    tree.update(W_new, changed)
    _assert_same(tree.query(), DenseIndex(X, b).build(W_new).query())
    _assert_sound(tree, X, W_new)
    assert np.all(~_leaves(tree) | (_cold_block_max(tree, X, W_new) > b - 1e-12))


def test_all_hot_and_empty_blocks_are_zero():
    rng = np.random.default_rng(1)
    n, d, m = 20, 4, 100  # 16 leaves of 7 neurons: the last two blocks are
    X, W = _unit_rows_and_weights(rng, n, d, m)  # partial or empty
    b = -100.0  # every pair fires: every non-empty block is set
    tree = TreeIndex(X, b, block_size=6).build(W)
    assert (tree.n_leaves_, tree.block_size_) == (16, 7)
    leaves = _leaves(tree)
    assert leaves[:15].all() and not leaves[15:].any()
    W_new = W.copy()
    W_new[7:14] += 1.0  # block 1 entirely hot
    tree.update(W_new, np.arange(7, 14))
    tree.rebuild()
    leaves = _leaves(tree)
    assert not leaves[1].any() and not leaves[15:].any() and leaves[0].all()
    A = tree.query()
    _assert_same(A, DenseIndex(X, b).build(W_new).query())
    assert A.nnz == n * m


@pytest.mark.parametrize(
    "w_scale, b",
    [
        (1e29, 1e29),  # huge pre-activations, float32 still finite
        (1e29, -1e29),
        (1e-42, 0.0),  # float32 products underflow: the slack keeps the bits
        (1e-42, 1e-43),
        (1e-200, -1e-300),  # float32 products are 0, the pairs still fire
        (1.0, -0.5),  # negative threshold
        (-1.0, -2.5),  # negative weights
    ],
)
def test_extreme_scales_match_brute_force(w_scale, b):
    rng = np.random.default_rng(2)
    n, d, m = 30, 5, 200
    X, W = _unit_rows_and_weights(rng, n, d, m, w_scale)
    tree = TreeIndex(X, b, block_size=8, n_jobs=2).build(W)
    _assert_sound(tree, X, W)
    A = tree.query()
    _assert_same(A, DenseIndex(X, b).build(W).query())
    _assert_brute_force(A, X, W, b)
    assert 0 < A.nnz < n * m or b < 0
    _assert_sound(tree, X, W)
    changed = np.arange(0, m, 3)
    W = W.copy()
    W[changed] *= 1.5
    tree.update(W, changed)
    A = tree.query()
    _assert_same(A, DenseIndex(X, b).build(W).query())
    _assert_brute_force(A, X, W, b)


@pytest.mark.parametrize("n", [37, 64])
def test_rebuild_subset_keeps_other_samples_bits(n, monkeypatch):
    # 8-row tasks: neighbouring tasks would share bytes without the
    # byte-aligned split
    monkeypatch.setattr(parallel_module, "REBUILD_ROW_CHUNK", 8)
    rng = np.random.default_rng(n)
    d, m = 5, 300
    X, W = _unit_rows_and_weights(rng, n, d, m)
    b = 1.2
    tree = TreeIndex(X, b, block_size=8, n_jobs=2).build(W)
    changed = np.sort(rng.choice(m, 40, replace=False))
    W = W.copy()
    W[changed] += rng.standard_normal((40, d))
    tree.update(W, changed)
    tree.query()  # tightens leaves of every sample
    before = _leaves(tree)
    fresh = TreeIndex(X, b, block_size=8).build(W.copy())
    fresh.update(W, changed)
    fresh.rebuild()
    rows = np.sort(rng.choice(n, n // 3, replace=False))
    tree.rebuild(rows=rows)
    after = _leaves(tree)
    others = np.setdiff1d(np.arange(n), rows)
    np.testing.assert_array_equal(after[:, others], before[:, others])
    np.testing.assert_array_equal(after[:, rows], _leaves(fresh)[:, rows])
    _assert_sound(tree, X, W)
    _assert_same(tree.query(), DenseIndex(X, b).build(W).query())


# -- query pipeline --------------------------------------------------------------


def test_active_csr_from_parts():
    rng = np.random.default_rng(3)
    n, m = 17, 50
    pairs = rng.choice(n * m, 300, replace=False)
    rows, cols = np.divmod(pairs, m)
    values = rng.standard_normal(300)
    expected = sp.csr_array((values, (rows, cols)), shape=(n, m))
    expected.sort_indices()
    cuts = [0, 0, 40, 41, 200, 300]  # an empty part and unsorted rows
    parts = [
        (rows[a:b].astype(np.int32), cols[a:b], values[a:b])
        for a, b in zip(cuts[:-1], cuts[1:])
    ]
    A = active_csr(parts, (n, m))
    assert parts == []  # consumed
    _assert_same(A, expected)
    _assert_same(active_csr([], (n, m)), sp.csr_array((n, m)))


@pytest.mark.parametrize("chunk_bytes", [None, 5 * 16 * 3, 1])
def test_dense_active_parts_and_chunk_sizes(chunk_bytes, monkeypatch):
    import sklearn_sublinear._tree_index._dense as dense_module

    rng = np.random.default_rng(4)
    n, d, m = 50, 6, 300
    X, W = _unit_rows_and_weights(rng, n, d, m)
    b = 1.0
    monkeypatch.setattr(dense_module, "DENSE_NEURON_CHUNK", 16)
    x_norms = np.linalg.norm(X, axis=1) * (1 + 1e-12)
    X32 = X.astype(np.float32)
    exact = _exact_matrix(X, W)
    for neurons in (None, np.sort(rng.choice(m, 120, replace=False))):
        cols_all = np.arange(m) if neurons is None else neurons
        # the candidates do not depend on the rows per chunk
        rows, cols = dense_candidates(X32, x_norms, W, b, neurons)
        ref = set(zip(rows.tolist(), cols.tolist()))
        rows, cols = dense_candidates(X32, x_norms, W, b, neurons, 2, chunk_bytes)
        assert set(zip(rows.tolist(), cols.tolist())) == ref
        for n_jobs in (1, 2):
            parts = dense_active_parts(
                X32, x_norms, W, X, b, neurons, n_jobs, chunk_bytes
            )
            assert all(np.all(np.diff(r) >= 0) for r, _, _ in parts)
            A = active_csr(parts, (n, m))
            fires = np.zeros((n, m), dtype=bool)
            fires[:, cols_all] = exact[:, cols_all] > b
            np.testing.assert_array_equal(A.toarray() != 0, fires)
            np.testing.assert_array_equal(A.data, exact[A.nonzero()])


def test_check_weights_rejects_without_copying_w():
    W = np.ones((20000, 8))  # 5 chunks of rows
    tracemalloc.start()
    try:
        check_weights(W, 8)
        check_weights(W, 8, rows=np.arange(20000))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < W.nbytes / 2
    for bad in (np.nan, np.inf, -np.inf, 2.0**101, -(2.0**101)):
        V = W.copy()
        V[5000, 3] = bad
        with pytest.raises(ValueError, match="finite"):
            check_weights(V, 8)
        with pytest.raises(ValueError, match="finite"):
            check_weights(V, 8, rows=[0, 5000])
        check_weights(V, 8, rows=[0, 4999])


def test_estimate_covers_traced_peak():
    rng = np.random.default_rng(5)
    n, d, m = 300, 9, 2**13
    X, W = _unit_rows_and_weights(rng, n, d, m)
    b = 2.5
    changed = np.unique(DenseIndex(X, b).build(W).query().indices)
    W_new = W.copy()
    W_new[changed] += 0.1 * rng.standard_normal((changed.size, d))
    for kind, cls in (("tree", TreeIndex), ("dense", DenseIndex)):
        index = cls(X, b, n_jobs=2)
        tracemalloc.start()
        try:
            start = tracemalloc.get_traced_memory()[0]
            index.build(W)
            A = index.query()
            del A
            index.update(W_new, changed)
            index.query()
            index.query()
            peak = tracemalloc.get_traced_memory()[1] - start
        finally:
            tracemalloc.stop()
        estimate = estimate_index_nbytes(kind, n, d, m, n_jobs=2, threshold=b)
        assert estimate >= peak, (kind, estimate, peak)
