"""Exact float64 dot products of (sample, neuron) pairs, one pair at a time."""

from cython cimport Py_ssize_t

from .._typedefs cimport index_t


cdef inline double _dot(const double* a, const double* b, Py_ssize_t d) noexcept nogil:
    # Four partial sums over the features k = 0, 1, 2, 3 (mod 4), then the
    # tail into the first, added as (s0 + s1) + (s2 + s3): the order depends on
    # d alone, so a pair's value never depends on the other pairs of the call.
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    cdef Py_ssize_t k = 0
    while k + 4 <= d:
        s0 += a[k] * b[k]
        s1 += a[k + 1] * b[k + 1]
        s2 += a[k + 2] * b[k + 2]
        s3 += a[k + 3] * b[k + 3]
        k += 4
    while k < d:
        s0 += a[k] * b[k]
        k += 1
    return (s0 + s1) + (s2 + s3)


def pair_dots(
    const double[:, ::1] W,
    const double[:, ::1] X,
    const Py_ssize_t[::1] rows,
    const Py_ssize_t[::1] cols,
    double[::1] out,
):
    """``out[p] = <W[cols[p]], X[rows[p]]>`` for every pair ``p``, without the GIL.

    Returns the number of pairs whose indices are out of bounds (their values
    are not computed); the caller raises.
    """
    cdef Py_ssize_t p, r, i, bad = 0
    cdef Py_ssize_t n_pairs = rows.shape[0], d = X.shape[1]
    cdef Py_ssize_t m = W.shape[0], n = X.shape[0]
    with nogil:
        for p in range(n_pairs):
            r = cols[p]
            i = rows[p]
            if r < 0 or r >= m or i < 0 or i >= n:
                bad += 1
                continue
            out[p] = _dot(&W[r, 0], &X[i, 0], d)
    return bad


# -- rows of a csr matrix ------------------------------------------------------
# A value below is summed over the stored entries of its row, in stored order,
# from 0.0: it never depends on the batch or the thread.


def csr_pair_dots(
    const index_t[::1] indptr,
    const index_t[::1] indices,
    const double[::1] data,
    const double[:, ::1] W,
    Py_ssize_t offset,
    const Py_ssize_t[::1] rows,
    const Py_ssize_t[::1] cols,
    double[::1] out,
):
    """``out[p] = sum_q data[q] W[cols[p], offset + indices[q]]`` over the stored
    entries ``q`` of row ``rows[p]`` of a csr matrix, without the GIL.

    Returns the number of pairs whose indices are out of bounds (their values
    are not computed); the caller raises. The column indices must be within
    ``W.shape[1] - offset`` (checked by the caller).
    """
    cdef Py_ssize_t p, r, i, q, bad = 0
    cdef Py_ssize_t n_pairs = rows.shape[0]
    cdef Py_ssize_t m = W.shape[0], n = indptr.shape[0] - 1
    cdef double s
    cdef const double* w
    with nogil:
        for p in range(n_pairs):
            r = cols[p]
            i = rows[p]
            if r < 0 or r >= m or i < 0 or i >= n:
                bad += 1
                continue
            w = &W[r, offset]
            s = 0.0
            for q in range(indptr[i], indptr[i + 1]):
                s = s + data[q] * w[indices[q]]
            out[p] = s
    return bad

