"""Row blocks and 0/1 patterns of csr arrays, for products over threads.

scipy's csr products release the GIL and each output row depends on its row of
the left factor only, so cutting the rows into blocks (one per thread) changes
no bit of the result.
"""

import numpy as np
import scipy.sparse as sp
from joblib import effective_n_jobs

from .._tree_index._sparse_rows import index_arrays  # noqa: F401 (re-exported)

# Stored entries below which a sparse product runs in the calling thread: the
# thread start-up would cost more than it saves.
THREAD_MIN_NNZ = 2**16


def pattern(active):
    """0/1 float64 csr pattern of ``active`` (stored entries, even if zero)."""
    active = sp.csr_array(active)
    return sp.csr_array(
        (np.ones(active.indices.size), active.indices, active.indptr),
        shape=active.shape,
    )


def pattern_view(active):
    """0/1 csr pattern of ``active`` sharing its index arrays, without values.

    Its data is a read-only broadcast 1 (no memory): for the products and
    conversions that use the positions of the stored entries only.
    """
    active = sp.csr_array(active)
    ones = np.broadcast_to(np.float64(1.0), (active.indices.size,))
    return sp.csr_array((ones, active.indices, active.indptr), shape=active.shape)


def csr_rows(S, r0, r1):
    """Rows ``r0:r1`` of the csr array ``S``, sharing its data and indices."""
    a, b = S.indptr[r0], S.indptr[r1]
    return sp.csr_array(
        (S.data[a:b], S.indices[a:b], S.indptr[r0 : r1 + 1] - a),
        shape=(r1 - r0, S.shape[1]),
    )


def n_threads(S, n_jobs):
    """Threads for the rows of sparse ``S``: one below ``THREAD_MIN_NNZ`` entries."""
    if S.nnz < THREAD_MIN_NNZ:
        return 1
    return max(1, min(effective_n_jobs(n_jobs), S.shape[0]))


def row_blocks(S, n_jobs):
    """``(r0, r1)`` blocks of the rows of csr ``S``, one per thread
    (:func:`nnz_blocks` of its ``indptr``)."""
    return nnz_blocks(S.indptr, n_jobs)


def nnz_blocks(indptr, n_jobs):
    """``(start, stop)`` blocks of a compressed axis, one per thread.

    About equal numbers of stored entries each; a single block below
    ``THREAD_MIN_NNZ`` entries.

    Parameters
    ----------
    indptr : ndarray of int
        The ``indptr`` of a csr (rows) or csc (columns) array.
    n_jobs : int or None
        The number of threads (joblib's ``effective_n_jobs``).
    """
    n, nnz = indptr.size - 1, int(indptr[-1])
    jobs = 1 if nnz < THREAD_MIN_NNZ else max(1, min(effective_n_jobs(n_jobs), n))
    cuts = np.searchsorted(indptr, np.linspace(0, nnz, jobs + 1)[1:-1])
    bounds = np.unique(np.concatenate(([0], cuts, [n]))).tolist()
    return list(zip(bounds[:-1], bounds[1:]))
