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
    double[::1] ux,
    Py_ssize_t start,
    Py_ssize_t stop,
):
    """Add ``U[i, k] X[i]`` to ``V[rank[r], k]`` for rows ``start:stop``, ``r in S_i``.

    ``indptr``, ``indices``: the csr pattern of the active sets; ``ux`` is
    scratch of size ``c d`` owned by the calling thread. Every row may write
    any block, so each thread needs its own ``V``.

    The products ``U[i, k] X[i, j]`` are formed once per row, then added to
    each firing neuron's block as one contiguous run of ``c d`` values
    (the same roundings as one product per pair).
    """
    cdef Py_ssize_t i, p, k, j
    cdef Py_ssize_t d = X.shape[1], c = U.shape[1], cd = c * d
    cdef double u
    cdef double* v
    cdef double* t = &ux[0]
    cdef const double* x
    with nogil:
        for i in range(start, stop):
            x = &X[i, 0]
            for k in range(c):
                u = U[i, k]
                for j in range(d):
                    t[k * d + j] = u * x[j]
            for p in range(indptr[i], indptr[i + 1]):
                v = &V[rank[indices[p]], 0, 0]
                for j in range(cd):
                    v[j] += t[j]


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
    double[:, ::1] out,
    Py_ssize_t start,
    Py_ssize_t stop,
):
    """``out[i, k] = <X[i], sum_{r in S_i} V[rank[r], k]>`` for rows ``start:stop``.

    ``indptr``, ``indices``: the csr pattern of the active sets. Only the
    rows ``start:stop`` are written.

    A row's sums over its firing neurons are taken eight coordinates
    ``(k, j)`` at a time (the last few one at a time), held in registers (one
    pass over the row's pairs per group, their blocks staying in cache),
    then dotted with ``X[i]``: every sum runs in the same order as one
    coordinate at a time.
    """
    cdef Py_ssize_t i, p, k, j, q, p0, p1, b
    cdef Py_ssize_t d = X.shape[1], c = V.shape[1], cd = c * d
    cdef Py_ssize_t stride = V.strides[0] // sizeof(double)
    cdef double a0, a1, a2, a3, a4, a5, a6, a7
    cdef double a[8]
    cdef const double* v
    cdef const double* base
    cdef const double* x
    if V.shape[0] == 0:
        base = NULL
    else:
        base = &V[0, 0, 0]
    with nogil:
        for i in range(start, stop):
            x = &X[i, 0]
            p0, p1 = indptr[i], indptr[i + 1]
            for k in range(c):
                out[i, k] = 0.0
            q = 0
            while q < cd:
                a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
                if q + 8 <= cd:
                    for p in range(p0, p1):
                        v = base + rank[indices[p]] * stride + q
                        a0 += v[0]
                        a1 += v[1]
                        a2 += v[2]
                        a3 += v[3]
                        a4 += v[4]
                        a5 += v[5]
                        a6 += v[6]
                        a7 += v[7]
                    b = 8
                else:
                    for p in range(p0, p1):
                        a0 += base[rank[indices[p]] * stride + q]
                    b = 1
                a[0], a[1], a[2], a[3] = a0, a1, a2, a3
                a[4], a[5], a[6], a[7] = a4, a5, a6, a7
                for j in range(b):
                    k = (q + j) // d
                    out[i, k] += a[j] * x[q + j - k * d]
                q += b


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
