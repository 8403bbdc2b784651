"""Sums of rows over the firing pairs of fixed active sets, over threads.

The matrix-free Gram product ``G U`` and the step ``J^T U`` reduce to two
passes over the firing pairs ``(i, r)``: sums by neuron ``V_r = sum_{i: r in
S_i} U_i x_i``, and dots by row ``<x_i, sum_{r in S_i} V_r>``. Both run as
compiled loops (:mod:`._gram_products`) without the GIL, in blocks over
threads, with every sum in an order fixed by the active sets alone, so no
result depends on ``n_jobs``.
"""

import numpy as np
import scipy.sparse as sp

from .._threads import map_threads
from .._tree_index._sparse_rows import is_sparse_rows
from ._gram_products import (
    neuron_sums,
    neuron_sums_csr,
    row_dots,
    row_dots_csr,
    row_sums,
    row_sums_csr,
)
from ._sparse import index_arrays, nnz_blocks, pattern

# The sums by neuron run by row (each row adds its products to its neurons'
# sums, read scattered; the rows are read in order), one partial sum per block
# of rows, added in block order, while the partials of this many blocks (fixed
# whatever n_jobs, so the order of the sums is too) take at most ROW_SUM_BYTES
# and one partial is smaller than the rows; otherwise (wide networks, few
# rows), neuron by neuron over the csc pattern (the rows of a neuron read
# scattered). Either way the scattered side is the smaller one.
# benchmarks/bench_scale.py (key "runs" / "seconds") and
# benchmarks/bench_width_scaling.py (key "runs" / "median_phases") tune both.
ROW_SUM_BLOCKS = 8
ROW_SUM_BYTES = 2**25
# Bytes of the temporary of one block of the sparse rows' centering of the
# sums (a few MiB instead of the sums' size, which is the weights').
SHIFT_BLOCK_BYTES = 2**24


class PairSums:
    """The two passes over the firing pairs of fixed active sets.

    Parameters
    ----------
    active : sparse array of shape (n_rows, n_neurons)
        Active sets; only the positions of the stored entries count.
    n_jobs : int, default=None
        The number of threads (joblib's ``effective_n_jobs``).
    by_neuron : sparse array or callable, default=None
        The csc form of ``active``, or a callable returning it, used when the
        sums run by neuron (``active`` is converted then if None).

    Attributes
    ----------
    neurons : ndarray of int
        Sorted neurons firing on some row: the blocks of the sums ``V``.
    """

    def __init__(self, active, n_jobs=None, by_neuron=None):
        self._active = sp.csr_array(active)
        self._by_neuron = by_neuron
        self._csr = index_arrays(self._active)
        m = self._active.shape[1]
        counts = np.bincount(self._csr[1], minlength=m)
        self.neurons = np.flatnonzero(counts)
        self._rank = np.zeros(m, dtype=np.intp)
        self._rank[self.neurons] = np.arange(self.neurons.size)
        self.n_jobs = n_jobs
        self._row_blocks = nnz_blocks(self._csr[0], n_jobs)
        # fixed by the pairs alone: the order in which partial sums are added
        self._sum_blocks = nnz_blocks(self._csr[0], ROW_SUM_BLOCKS)
        self._csc = None
        self._ones = None

    @property
    def by_neuron(self):
        """The csc form of the active sets (the pairs grouped by neuron),
        made on first use: the Cholesky system's Gram and the sums of wide
        networks need it, not the conjugate gradient's."""
        if callable(self._by_neuron):
            self._by_neuron = self._by_neuron()
        if self._by_neuron is None:
            self._by_neuron = self._active.tocsc()
        return self._by_neuron

    def neuron_sums(self, X, U):
        """``V[b, k] = sum_{i: neurons[b] in S_i} U[i, k] X[i]``.

        Parameters
        ----------
        X : ndarray of shape (n_rows, d)
            Rows.
        U : ndarray of shape (n_rows, c)
            Multipliers.

        Returns
        -------
        V : ndarray of shape (len(neurons), c, d)
        """
        U = np.ascontiguousarray(U, dtype=np.float64)
        if is_sparse_rows(X):
            # the stored entries times U s, then the centering and the bias
            # coordinate (``_sparse_rows.py``)
            Us = U * X.scale[:, None]
            V = self._sums(
                X.shape[1], Us, _csr_arrays(X), row_sums_csr, neuron_sums_csr
            )
            t = (self._pattern().T @ Us)[self.neurons]
            f, d = X.offset, X.Z.shape[1]
            if np.any(X.shift):
                # by blocks of neurons: the products' temporary stays small
                # (one block, not the sums' size)
                step = max(1, SHIFT_BLOCK_BYTES // (8 * V.shape[1] * max(d, 1)))
                for b0 in range(0, V.shape[0], step):
                    b1 = b0 + step
                    V[b0:b1, :, f : f + d] -= t[b0:b1, :, None] * X.shift
            V[:, :, X.bias_index] = t
            return V
        X = np.ascontiguousarray(X, dtype=np.float64)
        return self._sums(X.shape[1], U, (X,), row_sums, neuron_sums, scratch=True)

    def _sums(self, d, U, X, row_kernel, neuron_kernel, scratch=False):
        # the sums by neuron of U[i] times the rows X (a tuple of the
        # kernels' arguments), by row or by neuron (ROW_SUM_BYTES); with
        # scratch, the row kernel takes a buffer of one row's products
        shape = (self.neurons.size, U.shape[1], d)
        partial = 8 * np.prod(shape)
        rows = sum(a.nbytes for a in X if isinstance(a, np.ndarray))
        if sums_by_row(len(self._sum_blocks), partial, rows):
            parts = [np.zeros(shape) for _ in self._sum_blocks]
            buffers = [(np.empty(U.shape[1] * d),) if scratch else () for _ in parts]
            tasks = [
                (*self._csr, self._rank, *X, U, V, *t, a, b)
                for V, t, (a, b) in zip(parts, buffers, self._sum_blocks)
            ]
            map_threads(row_kernel, tasks, self.n_jobs)
            V = parts[0]
            for part in parts[1:]:
                V += part
            return V
        if self._csc is None:
            self._csc = index_arrays(sp.csc_array(self.by_neuron))
            self._neuron_blocks = nnz_blocks(
                np.concatenate(([0], np.cumsum(np.diff(self._csc[0])[self.neurons]))),
                self.n_jobs,
            )
        V = np.empty(shape)
        tasks = [
            (*self._csc, self.neurons, *X, U, V, a, b) for a, b in self._neuron_blocks
        ]
        map_threads(neuron_kernel, tasks, self.n_jobs)
        return V

    def _pattern(self):
        """0/1 csr pattern of the active sets (for the sparse rows' corrections)."""
        if self._ones is None:
            self._ones = pattern(self._active)
        return self._ones

    def row_dots(self, X, V):
        """``out[i, k] = <X[i], sum_{r in S_i} V[b(r), k]>``, ``b(r)`` the block of
        neuron ``r`` in :attr:`neurons`.

        Returns
        -------
        out : ndarray of shape (n_rows, c)
        """
        c, d = V.shape[1], V.shape[2]
        if is_sparse_rows(X):
            out = np.empty((X.shape[0], c))
            tasks = [
                (*self._csr, self._rank, *_csr_arrays(X), V, out, a, b)
                for a, b in self._row_blocks
            ]
            map_threads(row_dots_csr, tasks, self.n_jobs)
            # the centering and bias coordinate of every neuron's sums
            # (the offsets of the sums' rows, by blocks: no copy of the sums)
            C = X.offsets(V.reshape(-1, d))
            full = np.zeros((self._active.shape[1], c))
            full[self.neurons] = C.reshape(-1, c)
            out -= self._pattern() @ full
            out *= X.scale[:, None]
            return out
        X = np.ascontiguousarray(X, dtype=np.float64)
        out = np.empty((X.shape[0], c))
        V = np.ascontiguousarray(V, dtype=np.float64)
        tasks = [(*self._csr, self._rank, X, V, out, a, b) for a, b in self._row_blocks]
        map_threads(row_dots, tasks, self.n_jobs)
        return out


def sums_by_row(n_blocks, partial_nbytes, rows_nbytes):
    """Whether the sums by neuron run by row (each of ``n_blocks`` blocks of
    rows into its own partial sums of ``partial_nbytes``) rather than by
    neuron: while the partial sums take at most ``ROW_SUM_BYTES`` together
    and each no more than the rows (``rows_nbytes``) it is summed over."""
    return n_blocks * partial_nbytes <= ROW_SUM_BYTES and partial_nbytes <= rows_nbytes


def _csr_arrays(X):
    """The kernels' arguments of the stored entries of :class:`SparseRows`."""
    return (*index_arrays(X.Z), np.ascontiguousarray(X.Z.data), X.offset)
