"""Standardized rows of a sparse input, kept sparse.

The preprocessed row of an input ``x`` is ``s [z - c, 1]`` with ``z = x /
sigma`` (the input divided by the column scales, as sparse as ``x``), ``c =
mu / sigma`` (the column means, scaled) and the row scale ``s = 1 / ||[z - c,
1]||``. Centering makes the row dense, so it is never applied: every product
with such rows is the product with the stored entries of ``z``, minus a
correction for ``c``, plus the bias coordinate, all times ``s``. For a weight
row ``w = [w_f, w_b]``

    <w, s [z - c, 1]> = s (<w_f, z> - o),   o = <w_f, c> - w_b,

where the *offset* ``o`` of the weight row costs one dense dot product, made
once per weight row and shared by every row of the input. The function is
the one of the dense standardized rows, to rounding; memory is that of the
stored entries.

Exactness: the exact value of a pair (:meth:`SparseRows.pair_dots`) sums
``<w_f, z_i>`` over the stored entries of row ``i`` in stored order from 0.0
(:func:`csr_pair_dots`) and the offset by the fixed-order :func:`pair_dots`,
so it does not depend on the batch, the thread or the index that asks for it.
The filters' products (:meth:`SparseRows.products`, scipy's) may sum in
another order: their rounding is covered by :meth:`SparseRows.norm_bounds`.
"""

import numpy as np
import scipy.sparse as sp

from ._pair_dots import csr_pair_dots, pair_dots

# Bytes of the transposed weight chunk of one sparse product (the product
# reads the weights of a stored column's neurons contiguously).
PRODUCT_CHUNK_BYTES = 2**24


def products_nbytes(n_rows, n_neurons):
    """Transient bytes of :meth:`SparseRows.products` of ``n_rows`` rows and
    ``n_neurons`` weight rows: the result, one chunk's product and the
    transposed weight chunk."""
    return 16 * n_rows * n_neurons + PRODUCT_CHUNK_BYTES


def is_sparse_rows(X):
    """Whether ``X`` holds :class:`SparseRows` (not an ndarray)."""
    return isinstance(X, SparseRows)


def fixed_dots(A, v):
    """``A @ v`` with every dot product summed in an order fixed by its length.

    Parameters
    ----------
    A : ndarray of shape (k, d)
        Rows.
    v : ndarray of shape (d,)
        Vector.

    Returns
    -------
    out : ndarray of shape (k,)
    """
    A = np.ascontiguousarray(A, dtype=np.float64)
    out = np.empty(A.shape[0])
    if A.shape[0]:
        v = np.ascontiguousarray(v, dtype=np.float64).reshape(1, -1)
        cols = np.arange(A.shape[0], dtype=np.intp)
        pair_dots(A, v, np.zeros(A.shape[0], dtype=np.intp), cols, out)
    return out


class SparseRows:
    """Rows ``s_i [z_i - c, 1]`` (bias last) or ``s_i [1, z_i - c]`` of a csr ``Z``.

    Parameters
    ----------
    Z : csr_array of shape (n_rows, n_columns), dtype float64
        Stored entries of the rows (canonical: no duplicates).
    shift : ndarray of shape (n_columns,)
        ``c``.
    scale : ndarray of shape (n_rows,)
        ``s``, positive.
    bias_first : bool, default=False
        Whether the bias coordinate comes first (the affine rows ``[1, u]``
        of a linear term) rather than last (the network's input rows).

    Notes
    -----
    Offers what the index, the network and the solvers ask of their rows:
    ``shape``, row selection ``X[rows]`` and ``X[a:b]``, ``X @ B`` for dense
    ``B``, ``X.T @ Q``, ``X @ X.T`` (the Gram of the rows, dense), row norms,
    exact pair values and the sums over firing pairs (``_pair_sums.py``).
    """

    dtype = np.dtype(np.float64)
    ndim = 2

    def __init__(self, Z, shift, scale, bias_first=False):
        self.Z = Z
        self.shift = shift
        self.scale = scale
        self.bias_first = bias_first

    @property
    def shape(self):
        return (self.Z.shape[0], self.Z.shape[1] + 1)

    @property
    def nnz(self):
        """Stored entries (of ``Z``)."""
        return int(self.Z.nnz)

    @property
    def offset(self):
        """Position of the first feature coordinate (1 with the bias first)."""
        return 1 if self.bias_first else 0

    @property
    def bias_index(self):
        return 0 if self.bias_first else self.Z.shape[1]

    @property
    def bias(self):
        """The bias coordinate of every row, ``s``."""
        return self.scale

    @property
    def T(self):
        return _Transposed(self)

    @property
    def nbytes(self):
        """Bytes of the stored entries, their indices and the row scales."""
        Z = self.Z
        return int(
            Z.data.nbytes + Z.indices.nbytes + Z.indptr.nbytes + self.scale.nbytes
        )

    def _like(self, Z, scale, bias_first=None):
        first = self.bias_first if bias_first is None else bias_first
        return SparseRows(Z, self.shift, scale, first)

    def __getitem__(self, key):
        if isinstance(key, slice):
            start, stop, step = key.indices(self.shape[0])
            if step == 1:
                a, b = self.Z.indptr[start], self.Z.indptr[max(start, stop)]
                indptr = self.Z.indptr[start : max(start, stop) + 1] - a
                Z = sp.csr_array(
                    (self.Z.data[a:b], self.Z.indices[a:b], indptr),
                    shape=(indptr.size - 1, self.Z.shape[1]),
                )
                return self._like(Z, self.scale[key])
        key = np.asarray(key)
        if key.ndim != 1 and not isinstance(key, slice):
            raise IndexError("SparseRows select rows only: X[rows] or X[a:b].")
        return self._like(self.Z[key], self.scale[key])

    def scaled(self, factor):
        """The rows times ``factor`` (one per row); shares the stored entries."""
        return self._like(self.Z, self.scale * factor)

    def affine(self, scale=1.0):
        """The affine rows ``scale [1, z_i - c]`` (bias first, row scale
        ``scale``); they share the stored entries."""
        return self._like(self.Z, np.full(self.shape[0], scale), bias_first=True)

    def toarray(self):
        """The rows as a dense array (for few rows only)."""
        out = np.empty(self.shape)
        f = slice(1, None) if self.bias_first else slice(0, -1)
        out[:, f] = self.Z.toarray() - self.shift
        out[:, self.bias_index] = 1.0
        out *= self.scale[:, None]
        return out

    # -- products --------------------------------------------------------------
    def offsets(self, B, rows=None):
        """``o_r = <B[r, features], c> - B[r, bias]`` for the weight rows ``B``
        (or ``B[rows]``), by chunks of rows: no copy of the weight rows."""
        f, d = self.offset, self.Z.shape[1]
        k = B.shape[0] if rows is None else rows.size
        out = np.empty(k)
        step = max(1, PRODUCT_CHUNK_BYTES // (8 * max(d, 1)))
        for c0 in range(0, k, step):
            c1 = min(c0 + step, k)
            block = B[c0:c1] if rows is None else B[rows[c0:c1]]
            out[c0:c1] = fixed_dots(block[:, f : f + d], self.shift)
            out[c0:c1] -= block[:, self.bias_index]
        return out

    def products(self, B):
        """``X @ B.T`` for dense weight rows ``B`` (k, n_columns + 1)."""
        B = np.asarray(B, dtype=np.float64)
        n, k = self.shape[0], B.shape[0]
        d, f = self.Z.shape[1], self.offset
        out = np.empty((n, k))
        step = max(1, PRODUCT_CHUNK_BYTES // (8 * max(d, 1)))
        for c0 in range(0, k, step):
            c1 = min(c0 + step, k)
            # scipy's product reads the rows of a C-ordered right factor
            Wt = np.ascontiguousarray(B[c0:c1, f : f + d].T)
            block = self.Z @ Wt
            block -= self.offsets(B[c0:c1])
            out[:, c0:c1] = block
        out *= self.scale[:, None]
        return out

    def pair_dots(self, W, rows, cols):
        """Exact ``<W[cols[p]], X[rows[p]]>`` (``rows``, ``cols`` intp, checked)."""
        ucols, inverse = np.unique(cols, return_inverse=True)
        offsets = self.offsets(W, ucols)[inverse]
        out = np.empty(rows.size)
        indptr, indices = index_arrays(self.Z)
        data = np.ascontiguousarray(self.Z.data, dtype=np.float64)
        W = np.ascontiguousarray(W)
        if csr_pair_dots(indptr, indices, data, W, self.offset, rows, cols, out):
            raise IndexError("pair indices out of range.")
        out -= offsets
        out *= self.scale[rows]
        return out

    def __matmul__(self, other):
        if isinstance(other, _Transposed):
            return self.gram(other.rows)
        other = np.asarray(other, dtype=np.float64)
        squeeze = other.ndim == 1
        out = self.products(other.reshape(other.shape[0], -1).T)
        return out[:, 0] if squeeze else out

    def gram(self, other):
        """``X @ Y.T`` for rows ``Y`` of the same input (dense, n x n')."""
        if self.bias_first != other.bias_first:
            raise ValueError("The Gram of rows with different layouts.")
        c = self.shift
        Zc = self.Z @ c
        Yc = other.Z @ c
        inner = (self.Z @ other.Z.T).toarray()
        inner -= Zc[:, None]
        inner -= Yc[None, :]
        inner += c @ c + 1.0
        inner *= self.scale[:, None]
        inner *= other.scale[None, :]
        return inner

    def rmatmul(self, Q):
        """``X.T @ Q`` for dense ``Q`` of shape (n_rows,) or (n_rows, k)."""
        Q = np.asarray(Q, dtype=np.float64)
        squeeze = Q.ndim == 1
        Qs = Q.reshape(Q.shape[0], -1) * self.scale[:, None]
        total = Qs.sum(axis=0)
        out = np.empty((self.shape[1], Qs.shape[1]))
        f, d = self.offset, self.Z.shape[1]
        out[f : f + d] = self.Z.T @ Qs
        out[f : f + d] -= self.shift[:, None] * total
        out[self.bias_index] = total
        return out[:, 0] if squeeze else out

    # -- norms -----------------------------------------------------------------
    def squared_norms(self):
        """``||x_i||^2`` of every row (``s_i^2 (||z_i - c||^2 + 1)``)."""
        return self.scale**2 * self.centered_squared_norms()

    def centered_squared_norms(self):
        """``||z_i - c||^2 + 1``, at least 1 (as exactly)."""
        Z, c = self.Z, self.shift
        stored = np.asarray(Z.multiply(Z).sum(axis=1)).ravel() - 2.0 * (Z @ c)
        return np.maximum(stored + (c @ c + 1.0), 1.0)

    def norm_bounds(self):
        """Bounds ``b_i`` with ``|computed - exact| <= coef ||w|| b_i`` for every
        value of row ``i`` (filters and exact values alike), with ``coef`` the
        float64 :func:`rounding_coefficient` of the row length.

        The sum over stored entries is off by ``gamma ||z_i|| ||w||``, the
        offset by ``gamma ||c|| ||w||`` plus its subtraction and the final
        subtraction and scaling by ``s_i`` a few units of ``v``: four times
        ``s_i (||z_i|| + ||c|| + 1)`` covers them (``_margins.py``).
        """
        Z = self.Z
        z_norms = np.sqrt(np.asarray(Z.multiply(Z).sum(axis=1)).ravel())
        c_norm = np.sqrt(self.shift @ self.shift)
        return 4.0 * self.scale * (z_norms + c_norm + 1.0) * (1.0 + 1e-12)

    def check(self):
        """Raise unless the stored entries, shift and scales are finite and
        bounded as the index needs (below 2**100 in magnitude)."""
        for name, a in (
            ("X", self.Z.data),
            ("shift", self.shift),
            ("scale", self.scale),
        ):
            if a.size and not np.abs(a).max() < 2.0**100:
                raise ValueError(
                    f"{name} must be finite with entries below 2**100 in magnitude."
                )


class _Transposed:
    """``X.T`` of :class:`SparseRows`, for ``X.T @ Q`` and ``X @ X.T``."""

    def __init__(self, rows):
        self.rows = rows

    def __matmul__(self, Q):
        return self.rows.rmatmul(Q)


def index_arrays(Z):
    """``(indptr, indices)`` of a compressed sparse array in one index dtype."""
    dtype = np.int32 if Z.indices.dtype == Z.indptr.dtype == np.int32 else np.int64
    return (
        np.ascontiguousarray(Z.indptr, dtype=dtype),
        np.ascontiguousarray(Z.indices, dtype=dtype),
    )
