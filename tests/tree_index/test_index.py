"""Exactness, determinism and persistence of the active-set indexes."""

import pickle

import joblib
import numpy as np
import pytest
import scipy.sparse as sp

import sklearn_sublinear._tree_index._dense as dense_module
import sklearn_sublinear._tree_index._exact as exact_module
import sklearn_sublinear._tree_index._index as index_module
from sklearn_sublinear._tree_index import (
    DenseIndex,
    TreeIndex,
    estimate_index_nbytes,
    exact_preactivations,
    expected_hot_fraction,
    make_index,
)
from sklearn_sublinear._tree_index._dense import dense_active_parts, dense_candidates
from sklearn_sublinear._tree_index._exact import round_up_float32


def _data(seed, n=40, d=6, m=300):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    W = rng.standard_normal((m, d))
    return rng, X, W


def _assert_identical(A, B):
    assert A.shape == B.shape
    np.testing.assert_array_equal(A.indptr, B.indptr)
    np.testing.assert_array_equal(A.indices, B.indices)
    np.testing.assert_array_equal(A.data, B.data)


def _assert_matches_brute_force(A, X, W, b):
    Z = X @ W.T
    fires = A.toarray() != 0
    differ = fires != (Z > b)
    assert np.all(np.abs(Z[differ] - b) <= 1e-12)
    rows, cols = A.nonzero()
    np.testing.assert_allclose(A.data, Z[rows, cols], rtol=0, atol=1e-12)
    assert np.all(A.data > b)
    assert A.has_sorted_indices


def _cold_block_max(index, X, W):
    # exact float64 max of every (block, sample) over the cold neurons
    n_leaves, bs = index.n_leaves_, index.block_size_
    exact = exact_preactivations(
        W,
        X,
        np.repeat(np.arange(X.shape[0]), W.shape[0]),
        np.tile(np.arange(W.shape[0]), X.shape[0]),
    ).reshape(X.shape[0], W.shape[0])
    exact[:, index.hot_neurons_] = -np.inf  # hot neurons are not in the trees
    padded = np.full((X.shape[0], n_leaves * bs), -np.inf)
    padded[:, : W.shape[0]] = exact
    return padded.reshape(X.shape[0], n_leaves, bs).max(axis=2).T


def _assert_valid_bounds(index, X, W):
    # A leaf bit is 0 only if no cold neuron of its block fires; an internal
    # node is the OR of its children; padding bits of the last byte stay 0.
    tree, _, _ = index.get_arrays()
    n_leaves = index.n_leaves_
    assert tree.dtype == bool and tree.shape == (2 * n_leaves - 1, X.shape[0])
    block_max = _cold_block_max(index, X, W)
    assert np.all(tree[n_leaves - 1 :] | (block_max <= index.threshold_))
    for node in range(n_leaves - 1):
        np.testing.assert_array_equal(
            tree[node], tree[2 * node + 1] | tree[2 * node + 2]
        )
    packed = index._tree
    assert packed.dtype == np.uint8 and packed.shape[1] == -(-X.shape[0] // 8)
    if X.shape[0] % 8:
        assert not np.any(packed[:, -1] >> (X.shape[0] % 8))


@pytest.mark.parametrize("m, block_size", [(1, 64), (7, 2), (300, 16), (500, 64)])
@pytest.mark.parametrize("b", [-0.5, 0.0, 1.2])
@pytest.mark.parametrize("n_jobs", [1, 2])
def test_build_query_matches_brute_force(m, block_size, b, n_jobs, monkeypatch):
    # query steps of 3 candidate pairs: chunks in both threads clear bits of
    # neighbouring samples, which share bytes
    monkeypatch.setattr(index_module, "QUERY_CHUNK_ELEMENTS", 3 * block_size)
    _, X, W = _data(0, m=m)
    tree = TreeIndex(X, b, block_size=block_size, n_jobs=n_jobs).build(W)
    dense = DenseIndex(X, b).build(W)
    A = tree.query()
    _assert_identical(A, dense.query())
    _assert_matches_brute_force(A, X, W, b)
    _assert_valid_bounds(tree, X, W)
    # the query tightened leaves; a second query answers the same
    _assert_identical(tree.query(), A)
    _assert_valid_bounds(tree, X, W)


@pytest.mark.parametrize("b, expected", [(100.0, 0), (-100.0, None)])
def test_all_below_all_above(b, expected):
    _, X, W = _data(1, m=50)
    A = TreeIndex(X, b, block_size=8).build(W).query()
    _assert_identical(A, DenseIndex(X, b).build(W).query())
    assert A.nnz == (X.shape[0] * W.shape[0] if expected is None else expected)


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


@pytest.mark.parametrize("d", [37, 300])
def test_exact_routine_independent_of_batching(d, monkeypatch):
    rng, X, W = _data(2, n=30, d=d, m=50)
    rows = rng.integers(0, 30, 500)
    cols = rng.integers(0, 50, 500)
    full = exact_preactivations(W, X, rows, cols)
    # small chunks, so that 500 pairs make enough chunks for threads
    monkeypatch.setattr(exact_module, "EXACT_SMALL_CHUNK_ELEMENTS", 5 * d)
    monkeypatch.setattr(exact_module, "EXACT_CHUNK_ELEMENTS", 5 * d)
    monkeypatch.setattr(exact_module, "EXACT_MIN_CHUNKS_PER_JOB", 2)
    for n_jobs in (1, 2, 3):
        threaded = exact_preactivations(W, X, rows, cols, n_jobs=n_jobs)
        np.testing.assert_array_equal(full, threaded)
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
    np.testing.assert_allclose(full, (W[cols] * X[rows]).sum(axis=1), atol=1e-13)


def test_dense_filter_independent_of_n_jobs(monkeypatch):
    rng, X, W = _data(12, n=50, d=6, m=300)
    b = 1.0
    monkeypatch.setattr(dense_module, "DENSE_NEURON_CHUNK", 16)
    monkeypatch.setattr(dense_module, "DENSE_CHUNK_BYTES", 5 * 16 * 7)  # 7 rows
    x_norms = np.linalg.norm(X, axis=1) * (1 + 1e-12)
    neurons = np.sort(rng.choice(300, 100, replace=False))
    for subset in (None, neurons):
        one = dense_candidates(X.astype(np.float32), x_norms, W, b, subset, 1)
        for n_jobs in (2, 3):
            other = dense_candidates(
                X.astype(np.float32), x_norms, W, b, subset, n_jobs
            )
            np.testing.assert_array_equal(one[0], other[0])
            np.testing.assert_array_equal(one[1], other[1])
        # a superset of the firing pairs of the filtered neurons
        Z = X @ W.T
        cols = np.arange(300) if subset is None else subset
        fires = set(zip(*np.nonzero(Z[:, cols] > b)))
        fires = {(i, cols[k]) for i, k in fires}
        assert fires <= set(zip(one[0].tolist(), one[1].tolist()))
        assert set(one[1].tolist()) <= set(cols.tolist())


def test_round_up_float32():
    rng = np.random.default_rng(3)
    v = np.concatenate(
        [
            rng.standard_normal(1000) * 10.0 ** rng.integers(-40, 30, 1000),
            [0.0, -np.inf, 1e-45, -1e-45],
        ]
    )
    up = round_up_float32(v)
    assert up.dtype == np.float32
    assert np.all(up.astype(np.float64) >= v)


@pytest.mark.parametrize("rebuild_every", [0, 5])
def test_update_sequences(rebuild_every):
    rng, X, W = _data(4, n=30, d=5, m=200)
    n, m = X.shape[0], W.shape[0]
    b = 2.0
    tree = TreeIndex(X, b, block_size=8).build(W)
    dense = DenseIndex(X, b).build(W)
    actions = set()
    hot = np.zeros(m, dtype=bool)
    for step in range(16):
        k = [1, 10, 150][step % 3]
        changed = np.sort(rng.choice(m, k, replace=False))
        scale = [1e-12, 1e-3, 0.5, 3.0][step % 4]
        W_new = W.copy()
        if step % 2:
            coef = sp.random(k, n, density=0.1, random_state=step, format="csr")
            coef = coef * scale
            W_new[changed] += coef @ X
        else:
            coef = None
            W_new[changed] += scale * rng.standard_normal((k, X.shape[1]))
        actions.add(tree.update(W_new, changed, coef))
        assert dense.update(W_new, changed, coef) == "dense"
        hot[changed] = True
        W = W_new
        if rebuild_every and step % rebuild_every == rebuild_every - 1:
            tree.rebuild()
        A = tree.query()
        _assert_identical(A, dense.query())
        _assert_matches_brute_force(A, X, W, b)
        _assert_valid_bounds(tree, X, W)
        # the changed neurons, and only they, left the trees
        np.testing.assert_array_equal(tree.hot_neurons_, np.flatnonzero(hot))
    assert actions == {"update"}


def test_silent_hot_neurons_skip_the_filter_until_changed(monkeypatch):
    rng, X, W = _data(11, n=30, d=5, m=200)
    b = 1.0
    tree = TreeIndex(X, b, block_size=8).build(W)
    filtered = []

    def spy(X32, x_norms, W, X, threshold, neurons=None, *args, **kwargs):
        filtered.append(neurons.copy())
        return dense_active_parts(
            X32, x_norms, W, X, threshold, neurons, *args, **kwargs
        )

    monkeypatch.setattr(index_module, "dense_active_parts", spy)
    silent = np.array([3, 50, 120])
    loud = np.array([7, 90])
    W = W.copy()
    W[silent] = 0.0  # pre-activation 0 <= b on every sample
    W[loud] = 3.0 * X[:2]
    changed = np.union1d(silent, loud)
    tree.update(W, changed)
    A = tree.query()
    _assert_identical(A, DenseIndex(X, b).build(W).query())
    np.testing.assert_array_equal(filtered[-1], changed)
    fires = np.zeros(W.shape[0], dtype=bool)
    fires[A.indices] = True
    assert fires[loud].all() and not fires[silent].any()
    # the next query filters the firing hot neurons only, same answer
    _assert_identical(tree.query(), A)
    np.testing.assert_array_equal(filtered[-1], loud)
    # a silent neuron that changes is filtered again and can fire
    W[silent[0]] = 3.0 * X[5]
    tree.update(W, silent[:1])
    A = tree.query()
    np.testing.assert_array_equal(filtered[-1], np.sort(np.r_[silent[0], loud]))
    _assert_identical(A, DenseIndex(X, b).build(W).query())
    _assert_matches_brute_force(A, X, W, b)
    assert A[5, silent[0]] > b
    np.testing.assert_array_equal(tree.hot_neurons_, changed)


def test_update_without_change_in_place_and_errors():
    rng, X, W = _data(5, m=40)
    tree = TreeIndex(X, 0.5, block_size=4).build(W)
    assert tree.update(W.copy(), np.array([], dtype=int)) == "none"
    assert tree.hot_neurons_.size == 0
    # in place, without implicit weights
    W_same = tree.W_
    W_same[[1, 30]] += rng.standard_normal((2, X.shape[1]))
    assert tree.update(W_same, np.array([1, 30])) == "update"
    _assert_identical(tree.query(), DenseIndex(X, 0.5).build(W_same).query())
    with pytest.raises(ValueError, match="sorted, unique"):
        tree.update(W.copy(), np.array([3, 1]))
    with pytest.raises(ValueError, match="coef must have shape"):
        tree.update(W.copy(), np.array([1]), sp.csr_array((2, X.shape[0])))


def test_rebuild_subset_and_n_jobs_identical():
    rng, X, W = _data(6, n=600, d=8, m=256)
    b = 0.8
    one = TreeIndex(X, b, block_size=16, n_jobs=1).build(W)
    two = TreeIndex(X, b, block_size=16, n_jobs=2).build(W)
    np.testing.assert_array_equal(one.get_arrays()[0], two.get_arrays()[0])
    W_new = W + 0.1 * rng.standard_normal(W.shape)
    # new weights without an update: a rebuild of all samples makes the trees
    # valid again (it also recomputes the block norms)
    one.W_ = W_new
    one.rebuild(rows=np.arange(0, 600, 3))
    one.rebuild(rows=np.setdiff1d(np.arange(600), np.arange(0, 600, 3)))
    _assert_valid_bounds(one, X, W_new)
    _assert_identical(one.query(), DenseIndex(X, b).build(W_new).query())


def test_joblib_memmapped_inputs():
    # max_nbytes=1 hands every array to the workers as a read-only memmap:
    # X, W and the tree array of an index that is rebuilt and queried there.
    _, X, W = _data(7, n=50, d=6, m=400)
    b = 0.7
    ref = DenseIndex(X, b).build(W).query()
    built = TreeIndex(X, b, block_size=8).build(W)
    fresh = TreeIndex(X, b, block_size=8, n_jobs=2)
    results = joblib.Parallel(n_jobs=2, max_nbytes=1)(
        [
            joblib.delayed(TreeIndex.build)(fresh, W),
            joblib.delayed(TreeIndex.rebuild)(built),
            joblib.delayed(TreeIndex.query)(built),
        ]
    )
    _assert_identical(results[0].query(), ref)
    _assert_identical(results[1].query(), ref)
    _assert_identical(results[2], ref)


def test_pickle_round_trip():
    rng, X, W = _data(8, m=120)
    index = TreeIndex(X, 0.6, block_size=8).build(W)
    index.query()
    clone = pickle.loads(pickle.dumps(index))
    np.testing.assert_array_equal(clone.get_arrays()[0], index.get_arrays()[0])
    W_new = W.copy()
    W_new[[3, 50]] += rng.standard_normal((2, W.shape[1]))
    for idx in (index, clone):
        idx.update(W_new, np.array([3, 50]))
    _assert_identical(clone.query(), index.query())


def test_errors():
    _, X, W = _data(9, m=20)
    with pytest.raises(ValueError, match="not built"):
        TreeIndex(X, 0.1).query()
    with pytest.raises(TypeError, match="float64"):
        TreeIndex(X, 0.1).build(W.astype(np.float32))
    with pytest.raises(ValueError, match="shape"):
        DenseIndex(X, 0.1).build(W[:, :2])
    with pytest.raises(ValueError, match="finite"):
        TreeIndex(X, 0.1).build(np.full_like(W, np.nan))
    with pytest.raises(ValueError, match="block_size"):
        TreeIndex(X, 0.1, block_size=0).build(W)
    with pytest.raises(ValueError, match="kind"):
        make_index("kd", X, 0.1, 20)


def test_make_index_and_estimates():
    _, X, _ = _data(10, n=1000, d=4, m=1)
    b_sparse = 3.8  # about 64 of 2**20 neurons fire per sample
    assert isinstance(make_index("auto", X, b_sparse, 2**20), TreeIndex)
    assert isinstance(make_index("auto", X, 0.0, 2**20), DenseIndex)
    assert isinstance(make_index("auto", X, b_sparse, 2**10), DenseIndex)
    # 20,000 samples would make three quarters of the neurons hot
    X_many = np.tile(X, (20, 1))
    assert expected_hot_fraction(20000, b_sparse) > 0.5
    assert isinstance(make_index("auto", X_many, b_sparse, 2**20), DenseIndex)
    assert isinstance(make_index("tree", X, 0.0, 10), TreeIndex)
    assert isinstance(make_index("dense", X, b_sparse, 2**20), DenseIndex)
    # estimates cover what a built index holds
    _, X, W = _data(11, n=50, d=6, m=700)
    tree = TreeIndex(X, 0.5).build(W)
    assert estimate_index_nbytes("tree", 50, 6, 700) >= tree.nbytes > 0
    assert estimate_index_nbytes("dense", 50, 6, 700) > 0
    big = estimate_index_nbytes("tree", 1000, 64, 2**20)
    assert big >= (2 * 2**13 - 1) * 1000 // 8


def test_read_only_arrays_are_copied_before_writes():
    # What an index unpickled from joblib memmaps looks like in a worker.
    rng, X, W = _data(12, m=90)
    index = TreeIndex(X, 0.4, block_size=8).build(W)
    for name in ("_tree", "_x_norms", "_block_w", "_hot", "_silent"):
        getattr(index, name).flags.writeable = False
    X.flags.writeable = False
    W_new = W.copy()
    W_new[[1, 2, 80]] += rng.standard_normal((3, W.shape[1]))
    assert index.update(W_new, np.array([1, 2, 80])) == "update"
    _assert_identical(index.query(), DenseIndex(X, 0.4).build(W_new).query())
    index.rebuild(rows=[0, 5])
    _assert_valid_bounds(index, X, W_new)


def test_in_place_step_and_revert_with_coef():
    # The solver's pattern: W[U] += coef @ X, update(W, U, coef), then on
    # rejection restore the rows and update(W, U, -coef), all on one array.
    rng, X, W = _data(13, n=30, d=5, m=160)
    b = 1.5
    tree = TreeIndex(X, b, block_size=8).build(W)
    dense = DenseIndex(X, b).build(W)
    for step in range(6):
        changed = np.sort(rng.choice(160, 20, replace=False))
        coef = sp.random(20, 30, density=0.2, random_state=step, format="csr")
        coef = coef * [1e-3, 1.0, 30.0][step % 3]
        old_rows = W[changed].copy()
        W[changed] += coef @ X
        tree.update(W, changed, coef)
        dense.update(W, changed, coef)
        _assert_identical(tree.query(), dense.query())
        _assert_valid_bounds(tree, X, W)
        if step % 2:
            W[changed] = old_rows
            tree.update(W, changed, -coef)
            dense.update(W, changed, -coef)
            _assert_identical(tree.query(), dense.query())
            _assert_valid_bounds(tree, X, W)
