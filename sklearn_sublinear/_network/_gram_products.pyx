"""Sums over the firing pairs of fixed active sets, without the GIL.

``V`` holds one ``(c, d)`` block per neuron that fires on some row, in the
compact order given by ``rank`` (neuron ``r`` -> its block) or ``cols`` (block
``b`` -> its neuron). Every sum runs in the stored order of the pairs, so a
value never depends on how the rows or neurons were cut among threads. The
callers check shapes and indices.
"""

from cython cimport Py_ssize_t

from .._typedefs cimport index_t, row_index_t


def row_sums(
    const index_t[::1] indptr,
    const index_t[::1] indices,
    const Py_ssize_t[::1] rank,
    const double[:, ::1] X,
    const double[:, ::1] U,
    double[:, :, ::1] V,
    Py_ssize_t start,
    Py_ssize_t stop,
):
    """Add ``U[i, k] X[i]`` to ``V[rank[r], k]`` for rows ``start:stop``, ``r in S_i``.

    ``indptr``, ``indices``: the csr pattern of the active sets. Every row
    may write any block, so each thread needs its own ``V``.
    """
    cdef Py_ssize_t i, p, k, j
    cdef Py_ssize_t d = X.shape[1], c = U.shape[1]
    cdef double u
    cdef double* v
    cdef const double* x
    with nogil:
        for i in range(start, stop):
            x = &X[i, 0]
            for p in range(indptr[i], indptr[i + 1]):
                for k in range(c):
                    u = U[i, k]
                    v = &V[rank[indices[p]], k, 0]
                    for j in range(d):
                        v[j] += u * x[j]


def neuron_sums(
    const index_t[::1] indptr,
    const index_t[::1] indices,
    const Py_ssize_t[::1] cols,
    const double[:, ::1] X,
    const double[:, ::1] U,
    double[:, :, ::1] V,
    Py_ssize_t start,
    Py_ssize_t stop,
):
    """``V[b, k] = sum_{i: cols[b] in S_i} U[i, k] X[i]`` for blocks ``start:stop``.

    ``indptr``, ``indices``: the csc pattern of the active sets. Only the
    blocks ``start:stop`` are written, so threads with disjoint ranges may
    share ``V``.
    """
    cdef Py_ssize_t b, p, i, k, j
    cdef Py_ssize_t d = X.shape[1], c = U.shape[1]
    cdef double u
    cdef double* v
    cdef const double* x
    with nogil:
        for b in range(start, stop):
            for k in range(c):
                v = &V[b, k, 0]
                for j in range(d):
                    v[j] = 0.0
            for p in range(indptr[cols[b]], indptr[cols[b] + 1]):
                i = indices[p]
                x = &X[i, 0]
                for k in range(c):
                    u = U[i, k]
                    v = &V[b, k, 0]
                    for j in range(d):
                        v[j] += u * x[j]


def row_dots(
    const index_t[::1] indptr,
    const index_t[::1] indices,
    const Py_ssize_t[::1] rank,
    const double[:, ::1] X,
    const double[:, :, ::1] V,
    double[:, ::1] acc,
    double[:, ::1] out,
    Py_ssize_t start,
    Py_ssize_t stop,
):
    """``out[i, k] = <X[i], sum_{r in S_i} V[rank[r], k]>`` for rows ``start:stop``.

    ``indptr``, ``indices``: the csr pattern of the active sets; ``acc`` is
    scratch of shape ``(c, d)`` owned by the calling thread. Only the rows
    ``start:stop`` are written.
    """
    cdef Py_ssize_t i, p, k, j
    cdef Py_ssize_t d = X.shape[1], c = V.shape[1]
    cdef double s
    cdef double* a
    cdef const double* v
    cdef const double* x
    with nogil:
        for i in range(start, stop):
            for k in range(c):
                a = &acc[k, 0]
                for j in range(d):
                    a[j] = 0.0
            for p in range(indptr[i], indptr[i + 1]):
                for k in range(c):
                    a = &acc[k, 0]
                    v = &V[rank[indices[p]], k, 0]
                    for j in range(d):
                        a[j] += v[j]
            x = &X[i, 0]
            for k in range(c):
                a = &acc[k, 0]
                s = 0.0
                for j in range(d):
                    s += a[j] * x[j]
                out[i, k] = s


# -- rows of a csr matrix ------------------------------------------------------
# The same sums over the stored entries of csr rows ``xptr``, ``xind``,
# ``xdat`` (columns shifted by ``offset`` in ``V``); the callers add the parts
# that are not stored (the centering and the bias coordinate).


def row_sums_csr(
    const index_t[::1] indptr,
    const index_t[::1] indices,
    const Py_ssize_t[::1] rank,
    const row_index_t[::1] xptr,
    const row_index_t[::1] xind,
    const double[::1] xdat,
    Py_ssize_t offset,
    const double[:, ::1] U,
    double[:, :, ::1] V,
    Py_ssize_t start,
    Py_ssize_t stop,
):
    """Add ``U[i, k] x_iq`` to ``V[rank[r], k, offset + j_q]`` for the stored
    entries ``(j_q, x_iq)`` of rows ``start:stop``, ``r in S_i``."""
    cdef Py_ssize_t i, p, k, q
    cdef Py_ssize_t c = U.shape[1]
    cdef double u
    cdef double* v
    with nogil:
        for i in range(start, stop):
            for p in range(indptr[i], indptr[i + 1]):
                for k in range(c):
                    u = U[i, k]
                    v = &V[rank[indices[p]], k, offset]
                    for q in range(xptr[i], xptr[i + 1]):
                        v[xind[q]] += u * xdat[q]


def neuron_sums_csr(
    const index_t[::1] indptr,
    const index_t[::1] indices,
    const Py_ssize_t[::1] cols,
    const row_index_t[::1] xptr,
    const row_index_t[::1] xind,
    const double[::1] xdat,
    Py_ssize_t offset,
    const double[:, ::1] U,
    double[:, :, ::1] V,
    Py_ssize_t start,
    Py_ssize_t stop,
):
    """``V[b, k] = sum_{i: cols[b] in S_i} U[i, k] x_i`` over the stored entries
    of the rows (placed from ``offset``) for blocks ``start:stop``; the rest
    of ``V[b, k]`` is zero."""
    cdef Py_ssize_t b, p, i, k, q, j
    cdef Py_ssize_t c = U.shape[1], width = V.shape[2]
    cdef double u
    cdef double* v
    with nogil:
        for b in range(start, stop):
            for k in range(c):
                v = &V[b, k, 0]
                for j in range(width):
                    v[j] = 0.0
            for p in range(indptr[cols[b]], indptr[cols[b] + 1]):
                i = indices[p]
                for k in range(c):
                    u = U[i, k]
                    v = &V[b, k, offset]
                    for q in range(xptr[i], xptr[i + 1]):
                        v[xind[q]] += u * xdat[q]


def row_dots_csr(
    const index_t[::1] indptr,
    const index_t[::1] indices,
    const Py_ssize_t[::1] rank,
    const row_index_t[::1] xptr,
    const row_index_t[::1] xind,
    const double[::1] xdat,
    Py_ssize_t offset,
    const double[:, :, ::1] V,
    double[:, ::1] out,
    Py_ssize_t start,
    Py_ssize_t stop,
):
    """``out[i, k] = sum_{r in S_i} sum_q x_iq V[rank[r], k, offset + j_q]`` over
    the stored entries of rows ``start:stop``."""
    cdef Py_ssize_t i, p, k, q
    cdef Py_ssize_t c = V.shape[1]
    cdef double s
    cdef const double* v
    with nogil:
        for i in range(start, stop):
            for k in range(c):
                s = 0.0
                for p in range(indptr[i], indptr[i + 1]):
                    v = &V[rank[indices[p]], k, offset]
                    for q in range(xptr[i], xptr[i + 1]):
                        s += xdat[q] * v[xind[q]]
                out[i, k] = s
