"""CountSketch of the rows of a sparse Jacobian, pair by pair.

Dense rows read the sketch's column and sign of each weight ``(r, k)`` from
stored ``(m, d)`` arrays. Sparse rows hash them instead (:func:`hashed_entries`),
so that a wide sparse input holds no sketch of the weights' shape: the entry
of ``(r, k)`` is a fixed function of the seed and ``r d + k`` (splitmix64's
finalizer), the same in every call, thread and process.
"""

from cython cimport Py_ssize_t
from libc.stdint cimport int32_t, uint64_t

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


cdef uint64_t GOLDEN = 0x9E3779B97F4A7C15
cdef uint64_t MIX1 = 0xBF58476D1CE4E5B9
cdef uint64_t MIX2 = 0x94D049BB133111EB


cdef inline uint64_t _hash(uint64_t seed, uint64_t key) noexcept nogil:
    """splitmix64's output of the state ``seed + (key + 1) * GOLDEN``."""
    cdef uint64_t z = seed + (key + 1) * GOLDEN
    z = (z ^ (z >> 30)) * MIX1
    z = (z ^ (z >> 27)) * MIX2
    return z ^ (z >> 31)


cdef inline Py_ssize_t _bucket(uint64_t h, uint64_t columns) noexcept nogil:
    """Column in ``[0, columns)`` from the high 32 bits (multiply-shift)."""
    return <Py_ssize_t>(((h >> 32) * columns) >> 32)


cdef inline double _sign(uint64_t h, double scale) noexcept nogil:
    """``+-scale`` from the lowest bit."""
    return scale if h & 1 else -scale


def hashed_entries(
    uint64_t seed,
    Py_ssize_t n_inputs,
    Py_ssize_t columns,
    double scale,
    Py_ssize_t r0,
    int32_t[:, ::1] buckets,
    double[:, ::1] signs,
):
    """Write the hashed column and sign of the weights ``(r, k)`` of rows
    ``r0:r0 + len(buckets)`` (``k < n_inputs``) into ``buckets`` and ``signs``
    (``+-scale``), as :func:`count_sketch_hashed_csr_rows` uses them."""
    cdef Py_ssize_t i, k
    cdef uint64_t h
    with nogil:
        for i in range(buckets.shape[0]):
            for k in range(n_inputs):
                h = _hash(seed, <uint64_t>((r0 + i) * n_inputs + k))
                buckets[i, k] = <int32_t>_bucket(h, <uint64_t>columns)
                signs[i, k] = _sign(h, scale)


def count_sketch_hashed_csr_rows(
    const row_index_t[::1] xptr,
    const row_index_t[::1] xind,
    const double[::1] xdat,
    Py_ssize_t offset,
    const index_t[::1] indptr,
    const index_t[::1] indices,
    uint64_t seed,
    Py_ssize_t n_inputs,
    Py_ssize_t columns,
    double scale,
    Py_ssize_t start,
    double[:, ::1] Y,
):
    """:func:`count_sketch_rows` over the stored entries of csr rows only
    (input ``offset + j`` for a stored column ``j``), with the entries of
    :func:`hashed_entries` (``columns`` buckets, ``n_inputs`` inputs per
    neuron); the caller adds the parts that are not stored."""
    cdef Py_ssize_t i, p, r, q, k, row
    cdef uint64_t h
    cdef double* out
    with nogil:
        for i in range(Y.shape[0]):
            row = start + i
            out = &Y[i, 0]
            for p in range(indptr[row], indptr[row + 1]):
                r = indices[p]
                for q in range(xptr[row], xptr[row + 1]):
                    k = offset + xind[q]
                    h = _hash(seed, <uint64_t>(r * n_inputs + k))
                    out[_bucket(h, <uint64_t>columns)] += _sign(h, scale) * xdat[q]
