"""Overlap counts of sparse 0/1 columns, pair by pair."""

from cython cimport Py_ssize_t
from libc.stdint cimport int32_t, int64_t

ctypedef fused index_t:
    int32_t
    int64_t


def pair_counts(
    const index_t[::1] indptr,
    const index_t[::1] indices,
    const Py_ssize_t[::1] cols,
    int32_t[:, ::1] upper,
):
    """Add the upper triangle of ``A A^T`` over the columns ``cols`` to ``upper``.

    ``A`` is the 0/1 pattern of a csc matrix (``indptr``, ``indices``, sorted
    row indices). For each column, every pair of its rows ``i < j`` adds 1 to
    ``upper[i, j]`` and each of its rows ``i`` adds 1 to ``upper[i, i]``.
    Runs without the GIL; the caller checks the indices.
    """
    cdef Py_ssize_t c, p, q, start, stop
    cdef int32_t* row
    with nogil:
        for c in range(cols.shape[0]):
            start = indptr[cols[c]]
            stop = indptr[cols[c] + 1]
            for p in range(start, stop):
                row = &upper[indices[p], 0]
                for q in range(p, stop):
                    row[indices[q]] += 1
