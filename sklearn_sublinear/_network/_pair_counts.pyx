"""Overlap counts of sparse 0/1 columns, pair by pair."""

from cython cimport Py_ssize_t
from libc.stdint cimport int32_t

from .._typedefs cimport index_t


def pair_counts(
    const index_t[::1] indptr,
    const index_t[::1] indices,
    const Py_ssize_t[::1] cols,
    int32_t[:, ::1] counts,
    Py_ssize_t row_start,
    Py_ssize_t row_stop,
):
    """Add the pair counts of the columns ``cols`` owned by rows ``row_start:row_stop``.

    ``A`` is the 0/1 pattern of a csc matrix (``indptr``, ``indices``). In
    each column, the pair of the entries at positions ``p <= q`` adds 1 to
    ``counts[indices[p], indices[q]]`` when ``indices[p]`` is in the row
    range: each pair once (with sorted rows, in the upper triangle), each
    entry once on the diagonal, and only the rows of the range are written,
    so threads with disjoint ranges may share ``counts``. Runs without the
    GIL; the caller checks the indices.
    """
    cdef Py_ssize_t c, p, q, start, stop, i
    cdef int32_t* row
    with nogil:
        for c in range(cols.shape[0]):
            start = indptr[cols[c]]
            stop = indptr[cols[c] + 1]
            for p in range(start, stop):
                i = indices[p]
                if i < row_start or i >= row_stop:
                    continue
                row = &counts[i, 0]
                for q in range(p, stop):
                    row[indices[q]] += 1
