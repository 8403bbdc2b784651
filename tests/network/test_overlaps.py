"""Overlap counts of the active sets against dense products."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.sparse import csc_array, csr_array
from sklearn_sublinear._network._pair_counts import pair_counts

from sklearn_sublinear._network import _overlaps, _sparse
from sklearn_sublinear._network._overlaps import overlap_counts
from sklearn_sublinear._network._sparse import pattern as ones_pattern


def _random_pattern(rng, n, m, density):
    return csr_array((rng.rand(n, m) < density).astype(float))


def test_overlap_counts_dense_and_sparse_paths_agree(small_network, reference):
    X, net = small_network
    pattern = (reference["active"](X, net) != 0).astype(float)
    expected = (pattern @ pattern.T).toarray()
    assert_allclose(overlap_counts(ones_pattern(reference["active"](X, net))), expected)
    # A dense pattern takes the float32 BLAS path; counts stay exact.
    dense_pattern = np.ones((30, 50))
    assert_allclose(
        overlap_counts(ones_pattern(csr_array(dense_pattern))), np.full((30, 30), 50.0)
    )


@pytest.mark.parametrize(
    "pair_seconds, output_seconds",
    [(1e-14, 1e-14), (1e-8, 2.5e-8), (1.0, 1.0)],
    ids=["all-sparse", "split", "all-dense"],
)
@pytest.mark.parametrize("n_jobs", [1, 2, 3])
def test_overlap_counts_split_is_exact(
    pair_seconds, output_seconds, n_jobs, monkeypatch
):
    # 20 columns firing on nearly every row (BLAS at the default rates) and
    # 3000 columns firing on about 3 rows each (sparse product); with threads,
    # both parts cut into blocks of rows.
    monkeypatch.setattr(_overlaps, "SPARSE_PAIR_SECONDS", pair_seconds)
    monkeypatch.setattr(_overlaps, "SPARSE_OUTPUT_SECONDS", output_seconds)
    monkeypatch.setattr(_sparse, "THREAD_MIN_NNZ", 1)
    rng = np.random.RandomState(0)
    heavy = rng.uniform(size=(400, 20)) < 0.95
    light = rng.uniform(size=(400, 3000)) < 3 / 400
    pattern = csr_array(np.hstack([light[:, :1500], heavy, light[:, 1500:]]) * 1.0)
    expected = (pattern @ pattern.T).toarray()
    counts = overlap_counts(ones_pattern(pattern), n_jobs=n_jobs)
    assert_allclose(counts, expected, rtol=0, atol=0)


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_pair_counts_kernel_counts_every_pair_of_a_column(index_dtype):
    rng = np.random.RandomState(0)
    A = (rng.uniform(size=(30, 80)) < 0.2).astype(np.int64)
    by_neuron = csc_array(A.astype(float))
    cols = np.arange(0, 80, 2, dtype=np.intp)
    args = (
        by_neuron.indptr.astype(index_dtype),
        by_neuron.indices.astype(index_dtype),
        cols,
    )
    expected = np.triu(A[:, cols] @ A[:, cols].T)
    upper = np.ones((30, 30), dtype=np.int32)  # counts are added
    pair_counts(*args, upper, 0, 30)
    # sorted rows: every pair lands above the diagonal, each row on it once
    assert_array_equal(upper - 1, expected)
    # a row range writes its own rows only
    part = np.zeros((30, 30), dtype=np.int32)
    pair_counts(*args, part, 10, 17)
    assert_array_equal(part[10:17], expected[10:17])
    assert not part[:10].any() and not part[17:].any()


@pytest.mark.parametrize("n_jobs", [1, 2, 3])
def test_overlap_counts_sparse_part_over_threads_is_exact(n_jobs, monkeypatch):
    monkeypatch.setattr(_sparse, "THREAD_MIN_NNZ", 1)
    # every column sparse, so the whole count runs over the threads
    monkeypatch.setattr(_overlaps, "DENSE_FLOP_SECONDS", 1.0)
    rng = np.random.RandomState(n_jobs)
    A = (rng.rand(40, 300) < 0.1).astype(float)
    counts = overlap_counts(ones_pattern(csr_array(A)), n_jobs=n_jobs)
    assert_array_equal(counts, A @ A.T)
