"""Exact pre-activations: the one routine that decides which pairs fire.

Every index decides firing the same way: a cheap filter (``_margins.py``)
proposes candidate ``(sample, neuron)`` pairs, then
:func:`exact_preactivations` computes ``<w_r, x_i>`` for each pair in float64
and the pair fires iff that value is ``> threshold``. The value of one pair
depends only on ``W[r]`` and ``X[i]``, never on how the pairs were batched, so
two indexes with valid filters return bit-identical answers.
"""

import numpy as np

from ._pair_dots import pair_dots
from ._sparse_rows import is_sparse_rows


def exact_preactivations(W, X, rows, cols):
    """Exact float64 pre-activations ``<W[cols[p]], X[rows[p]]>`` pair by pair.

    Parameters
    ----------
    W : ndarray of shape (n_neurons, n_features), dtype float64
        Weights.
    X : ndarray of shape (n_samples, n_features), dtype float64, or SparseRows
        Samples (sparse rows compute their values by
        :meth:`SparseRows.pair_dots`, also one value per pair).
    rows : ndarray of shape (n_pairs,), dtype int
        Sample index of each pair.
    cols : ndarray of shape (n_pairs,), dtype int
        Neuron index of each pair.

    Returns
    -------
    values : ndarray of shape (n_pairs,), dtype float64
        ``(W[cols] * X[rows]).sum(axis=1)``, computed by a compiled loop
        (:func:`pair_dots`) that reads both rows in place and sums each pair
        in an order fixed by ``n_features`` alone, so each value depends on
        its pair only and results agree bit for bit however the pairs are
        grouped (the indexes compute them in their threads' chunks). It
        gathers no rows and beats BLAS dot products of gathered rows
        (``benchmarks/bench_index.py``, key "results" / "tree_query_s").
    """
    rows = np.ascontiguousarray(rows, dtype=np.intp).ravel()
    cols = np.ascontiguousarray(cols, dtype=np.intp).ravel()
    if rows.shape != cols.shape:
        raise ValueError(
            f"rows and cols must have the same length, got {rows.size} and {cols.size}."
        )
    n, m = X.shape[0], W.shape[0]
    out_of_range = IndexError(f"rows must be in [0, {n}) and cols in [0, {m}).")
    if is_sparse_rows(X):
        if rows.size and not (
            0 <= rows.min() and rows.max() < n and 0 <= cols.min() and cols.max() < m
        ):
            raise out_of_range
        return X.pair_dots(W, rows, cols)
    if not (W.flags.c_contiguous and X.flags.c_contiguous):
        # The loop reads rows in place, in C order: gather them (same sums),
        # with the bounds checked first (take would wrap negative indices).
        if rows.size and not (
            0 <= rows.min() and rows.max() < n and 0 <= cols.min() and cols.max() < m
        ):
            raise out_of_range
        W, cols = np.take(W, cols, axis=0), np.arange(cols.size)
        X, rows = np.take(X, rows, axis=0), np.arange(rows.size)
    out = np.empty(rows.size, dtype=np.float64)
    if pair_dots(W, X, rows, cols, out):
        raise out_of_range
    return out


def firing_part(W, X, rows, cols, threshold):
    """The candidate pairs that fire, with their exact pre-activations.

    Parameters
    ----------
    W, X, rows, cols
        Weights, samples and candidate pairs, as in
        :func:`exact_preactivations`.
    threshold : float
        Shift ``b``.

    Returns
    -------
    part : tuple of ndarray
        ``(rows, cols, values)`` of the pairs whose exact value
        (:func:`exact_preactivations`) is ``> threshold``, indices in the
        smallest int type, for :func:`active_csr`.
    """
    values = exact_preactivations(W, X, rows, cols)
    keep = values > threshold
    row_dtype = np.int32 if X.shape[0] < 2**31 else np.intp
    col_dtype = np.int32 if W.shape[0] < 2**31 else np.intp
    return rows[keep].astype(row_dtype), cols[keep].astype(col_dtype), values[keep]
