"""CountSketch of the rows of a sparse Jacobian, pair by pair."""

from cython cimport Py_ssize_t
from libc.stdint cimport int32_t

from .._typedefs cimport index_t, row_index_t


def count_sketch_rows(
    const double[:, ::1] X,
    const index_t[::1] indptr,
    const index_t[::1] indices,
    const int32_t[:, ::1] buckets,
    const double[:, ::1] signs,
    Py_ssize_t start,
    double[:, ::1] Y,
):
    """Add the sketch of the rows ``start:start + len(Y)`` to ``Y``.

    For each of those rows ``i`` of ``X`` and each neuron ``r`` firing on it
    (csr ``indptr``, ``indices`` over neurons), in stored order,
    ``x_ik signs[r, k]`` is added to ``Y[i - start, buckets[r, k]]`` for ``k``
    in order. Runs without the GIL; the caller checks the shapes and indices.
    """
    cdef Py_ssize_t i, p, r, k, row
    cdef Py_ssize_t d = X.shape[1]
    cdef double* out
    cdef const double* x
    with nogil:
        for i in range(Y.shape[0]):
            row = start + i
            out = &Y[i, 0]
            x = &X[row, 0]
            for p in range(indptr[row], indptr[row + 1]):
                r = indices[p]
                for k in range(d):
                    out[buckets[r, k]] += signs[r, k] * x[k]


def count_sketch_csr_rows(
    const row_index_t[::1] xptr,
    const row_index_t[::1] xind,
    const double[::1] xdat,
    Py_ssize_t offset,
    const index_t[::1] indptr,
    const index_t[::1] indices,
    const int32_t[:, ::1] buckets,
    const double[:, ::1] signs,
    Py_ssize_t start,
    double[:, ::1] Y,
):
    """:func:`count_sketch_rows` over the stored entries of csr rows only
    (input ``offset + j`` for a stored column ``j``); the caller adds the
    parts that are not stored."""
    cdef Py_ssize_t i, p, r, q, k, row
    cdef double* out
    with nogil:
        for i in range(Y.shape[0]):
            row = start + i
            out = &Y[i, 0]
            for p in range(indptr[row], indptr[row + 1]):
                r = indices[p]
                for q in range(xptr[row], xptr[row + 1]):
                    k = offset + xind[q]
                    out[buckets[r, k]] += signs[r, k] * xdat[q]
