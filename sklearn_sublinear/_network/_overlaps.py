"""Overlap counts ``|S_i & S_j|`` of the active sets, and their cost model.

The Gram of the network is ``(X X^T) * (A A^T) / m`` with ``A`` the 0/1
pattern of the active sets; this module computes ``A A^T`` exactly, choosing
per neuron between counting pairs (a compiled loop) and a float32 BLAS
product, by a model of their costs.
"""

import numpy as np
import scipy.sparse as sp

from .._threads import map_threads
from ._pair_counts import pair_counts
from ._sparse import n_threads

# Seconds per operation of the two ways to count overlaps (one core): a unit of
# c_r^2 for a column counted pair by pair, an entry of the pair counts' dense
# output, a float32 multiply-add. Only their ratios matter: they decide which
# columns go to BLAS, and the Gram's time is flat over a wide range of them
# (benchmarks/bench_width_scaling.py, key "runs" / "median_phases" / "gram").
SPARSE_PAIR_SECONDS = 1e-9
SPARSE_OUTPUT_SECONDS = 5e-9
DENSE_FLOP_SECONDS = 2e-11


def _heavy_columns(col_counts, n):
    """Which columns :func:`overlap_counts` sends to BLAS, by its cost model.

    ``col_counts`` holds the number of ones of each column (empty columns
    may be left out); returns a boolean mask over them.
    """
    counts = col_counts.astype(np.float64)
    column_dense = DENSE_FLOP_SECONDS * float(n) * n
    heavy = counts**2 * SPARSE_PAIR_SECONDS > column_dense
    split_cost = (
        SPARSE_PAIR_SECONDS * float(np.sum(np.where(heavy, 0.0, counts) ** 2))
        + SPARSE_OUTPUT_SECONDS * float(n) * n
        + column_dense * np.count_nonzero(heavy)
    )
    if split_cost > column_dense * np.count_nonzero(col_counts):
        heavy = col_counts > 0
    if n >= 2**24:  # float32 counts would round
        heavy[:] = False
    return heavy


def overlap_counts(active, n_jobs=None):
    """Dense ``A A^T`` (float64) for the 0/1 pattern ``A`` of ``active``.

    ``A A^T`` is a sum over neurons of the outer products of their columns.
    Counting the sample pairs of a column with ``c_r`` ones costs about
    ``c_r^2 SPARSE_PAIR_SECONDS``, a float32 BLAS product ``n^2`` per column at
    a much higher rate: columns with ``c_r^2 SPARSE_PAIR_SECONDS > n^2
    DENSE_FLOP_SECONDS`` (the per-operation times below) go to BLAS, the
    others are counted pair by pair, unless BLAS over every column costs less
    than this split (the pair counts also pay for their dense output).

    Both parts take the columns of the csc form (``active`` as given when
    csc, else converted). The heavy ones are densified and multiplied by
    blocks ``B_a B_b^T`` (``b <= a``) of ``n_jobs`` blocks of rows. The light
    ones are counted pair by pair by a compiled loop (:func:`pair_counts`)
    into one int32 triangle, each of ``n_jobs`` tasks writing the pairs of a
    block of rows (about equal numbers of pairs when the samples fire alike).
    All tasks share the threads, each on one BLAS thread (BLAS on its own
    threads, then the light part over the threads, was slower: idle BLAS
    workers spin). Counts below 2^24 are exact in float32
    and every count is an integer, so the result does not depend on
    ``n_jobs``.

    Parameters
    ----------
    active : sparse array of shape (n_samples, n_neurons)
        Active sets; only the positions of the stored entries count.
    n_jobs : int, default=None
        The number of threads (joblib's ``effective_n_jobs``).

    Returns
    -------
    counts : ndarray of shape (n_samples, n_samples)
        ``|S_i & S_j|``.
    """
    by_neuron = sp.csc_array(active)
    n = by_neuron.shape[0]
    col_counts = np.diff(by_neuron.indptr)
    # the cost model over the columns with entries only
    nonzero = np.flatnonzero(col_counts)
    heavy = _heavy_columns(col_counts[nonzero], n)
    jobs = n_threads(by_neuron, n_jobs)
    dense, dense_tasks = _dense_tasks(by_neuron, nonzero[heavy], jobs)
    upper, light_tasks = _light_tasks(by_neuron, nonzero[~heavy], jobs)
    map_threads(_call, dense_tasks + light_tasks, jobs, one_blas_thread=True)
    if upper is None:
        out = np.zeros((n, n))
    else:
        # each pair is in one of the triangles, the diagonal in both
        out = np.add(upper, upper.T, dtype=np.float64)
        out.flat[:: n + 1] -= upper.flat[:: n + 1]
    if dense is not None:
        out += dense
    return out


def _dense_tasks(by_neuron, dense_cols, jobs):
    """The float32 output and the BLAS tasks ``B_a B_b^T`` of the heavy columns.

    Returns ``(None, [])`` without heavy columns.
    """
    if not dense_cols.size:
        return None, []
    n, m = by_neuron.shape
    # A^T as a 0/1 csr: rows are neurons, so columns are picked by row.
    columns = sp.csr_array(
        (np.ones(by_neuron.nnz, dtype=np.float32), by_neuron.indices, by_neuron.indptr),
        shape=(m, n),
    )
    block_t = columns[dense_cols].toarray()
    dense = np.empty((n, n), dtype=np.float32)
    cuts = np.linspace(0, n, jobs + 1).astype(int).tolist()
    blocks = list(zip(cuts[:-1], cuts[1:]))
    # off-diagonal blocks first: they take twice the time of a diagonal one
    tasks = [
        (_dense_overlap, block_t, dense, rows_a, rows_b)
        for gap in range(jobs - 1, -1, -1)
        for rows_a, rows_b in zip(blocks[gap:], blocks)
    ]
    return dense, tasks


def _light_tasks(by_neuron, light_cols, jobs):
    """The int32 upper triangle and the pair-counting tasks of the light columns.

    Returns ``(None, [])`` without light columns.
    """
    if not light_cols.size:
        return None, []
    n = by_neuron.shape[0]
    # Row i owns the pairs with the rows after it in a column: about
    # n - i of them, so equal shares of pairs cut at n (1 - sqrt(1 - t)).
    shares = np.arange(1, jobs) / jobs
    cuts = (n * (1.0 - np.sqrt(1.0 - shares))).astype(int).tolist()
    bounds = [0, *cuts, n]
    upper = np.zeros((n, n), dtype=np.int32)
    args = (by_neuron.indptr, by_neuron.indices, light_cols.astype(np.intp))
    tasks = [
        (pair_counts, *args, upper, r0, r1)
        for r0, r1 in zip(bounds[:-1], bounds[1:])
        if r1 > r0
    ]
    return upper, tasks


def _call(func, *args):
    return func(*args)


def _dense_overlap(block_t, dense, rows_a, rows_b):
    # dense[a, b] and dense[b, a] = B_a B_b^T, a syrk on the diagonal
    (a0, a1), (b0, b1) = rows_a, rows_b
    product = block_t[:, a0:a1].T @ block_t[:, b0:b1]
    dense[a0:a1, b0:b1] = product
    if a0 != b0:
        dense[b0:b1, a0:a1] = product.T
