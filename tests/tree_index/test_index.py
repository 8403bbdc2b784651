"""Exactness, determinism and persistence of the active-set indexes."""

import pickle
import tracemalloc

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from _helpers import assert_identical_csr as _assert_identical
from _helpers import assert_same_csr as _assert_same
from _helpers import index_data as _data
from _helpers import unit_rows_and_weights as _unit_rows_and_weights

import sklearn_sublinear._tree_index._dense as dense_module
import sklearn_sublinear._tree_index._index as index_module
import sklearn_sublinear._tree_index._parallel as parallel_module
from sklearn_sublinear._tree_index import (
    DenseIndex,
    TreeIndex,
    estimate_index_nbytes,
    exact_preactivations,
    expected_hot_fraction,
    make_index,
)
from sklearn_sublinear._tree_index._csr import active_csr
from sklearn_sublinear._tree_index._dense import dense_active_parts, dense_candidates


def _exact_matrix(X, W):
    n, m = X.shape[0], W.shape[0]
    rows, cols = np.divmod(np.arange(n * m), m)
    return exact_preactivations(W, X, rows, cols).reshape(n, m)


def _assert_brute_force(A, X, W, b):
    exact = _exact_matrix(X, W)
    np.testing.assert_array_equal(A.toarray() != 0, exact > b)
    rows, cols = A.nonzero()
    np.testing.assert_array_equal(A.data, exact[rows, cols])


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
    exact = _exact_matrix(X, W)
    exact[:, index.hot_neurons_] = -np.inf  # hot neurons are not in the trees
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


def _assert_valid_bounds(index, X, W):
    # _assert_sound, plus the layout: padding bits of the last byte stay 0
    tree, _, _ = index.get_arrays()
    assert tree.dtype == bool and tree.shape == (2 * index.n_leaves_ - 1, X.shape[0])
    _assert_sound(index, X, W)
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


@pytest.mark.parametrize("neuron_chunk", [16, 512], ids=["chunks", "row_blocks"])
def test_dense_filter_independent_of_n_jobs(neuron_chunk, monkeypatch):
    # 19 neuron chunks, or one whose rows are split among the threads
    rng, X, W = _data(12, n=50, d=6, m=300)
    b = 1.0
    monkeypatch.setattr(dense_module, "DENSE_NEURON_CHUNK", neuron_chunk)
    monkeypatch.setattr(dense_module, "DENSE_SPLIT_CHUNK_BYTES", 5 * 16 * 7)  # 7 rows
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
            W_new[changed] += (coef * scale) @ X
        else:
            W_new[changed] += scale * rng.standard_normal((k, X.shape[1]))
        actions.add(tree.update(W_new, changed))
        assert dense.update(W_new, changed) == "dense"
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
    # in place
    W_same = tree.W_
    W_same[[1, 30]] += rng.standard_normal((2, X.shape[1]))
    assert tree.update(W_same, np.array([1, 30])) == "update"
    _assert_identical(tree.query(), DenseIndex(X, 0.5).build(W_same).query())
    with pytest.raises(ValueError, match="sorted, unique"):
        tree.update(W.copy(), np.array([3, 1]))


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


def test_in_place_step_and_revert():
    # The solver's pattern: W[U] += coef @ X, update(W, U), then on
    # rejection restore the rows and update(W, U) again, all on one array.
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
        tree.update(W, changed)
        dense.update(W, changed)
        _assert_identical(tree.query(), dense.query())
        _assert_valid_bounds(tree, X, W)
        if step % 2:
            W[changed] = old_rows
            tree.update(W, changed)
            dense.update(W, changed)
            _assert_identical(tree.query(), dense.query())
            _assert_valid_bounds(tree, X, W)


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


@pytest.mark.parametrize("chunk_bytes", [None, 5 * 16 * 3, 1])
@pytest.mark.parametrize("concat_bytes", [2**24, 0], ids=["joined", "per_step"])
def test_dense_active_parts_and_chunk_sizes(chunk_bytes, concat_bytes, monkeypatch):
    # a task's parts joined, or handed over one per row step
    monkeypatch.setattr(dense_module, "CONCAT_PARTS_BYTES", concat_bytes)
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


@pytest.mark.parametrize(
    "cls, n, m",
    [
        # one neuron chunk over more rows than the row steps computed ahead
        (DenseIndex, 40000, 1536),
        (DenseIndex, 3000, 2**13),
        (TreeIndex, 3000, 2**13),
    ],
)
def test_query_pair_bytes_cover_the_traced_peak(cls, n, m):
    # The memory guard counts a query as the index's buffers plus
    # query_pair_nbytes per firing pair.
    rng = np.random.default_rng(6)
    X, W = _unit_rows_and_weights(rng, n, 9, m)
    index = cls(X, 1.0, n_jobs=2).build(W)
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        nnz = index.query().nnz
        peak = tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()
    buffers = cls.estimate_nbytes(n, 9, m, n_jobs=2)
    # the pairs are most of the peak here
    assert peak > 2 * buffers
    assert peak <= buffers + cls.query_pair_nbytes(n, m, n_jobs=2) * nnz
