"""Exact pre-activations and the rounding margins of the float32 filters.

Every index decides firing the same way: a cheap filter (float32 or float64
BLAS products, or tree upper bounds) proposes candidate ``(sample, neuron)``
pairs, then :func:`exact_preactivations` computes ``<w_r, x_i>`` for each pair
in float64 and the pair fires iff that value is ``> threshold``. The value of
one pair depends only on ``W[r]`` and ``X[i]``, never on how the pairs were
batched, so two indexes with valid filters return bit-identical answers.

Rounding margin
---------------
Let ``u = 2**-24`` (float32 unit roundoff), ``v = 2**-53`` (float64) and
``gamma_d(u) = d u / (1 - d u)``. With ``X32 = fl32(X)`` and ``W32 = fl32(W)``
(each entry off by a relative ``u`` at most), any float32 dot product of ``d``
terms (any summation order, with or without FMA) satisfies

    |fl32(<w32, x32>) - <w, x>| <= (gamma_d(u) (1 + u)^2 + 2u + u^2) ||w|| ||x||

and the float64 routine is within ``gamma_d(v) ||w|| ||x||`` of ``<w, x>``.
:func:`rounding_coefficient` returns the sum of both coefficients, widened by
1%, so ``|z32 - exact| <= c ||w|| ||x||`` for every pair; a filter keeps the
pairs with ``z32 > b - c ||w|| ||x||`` and cannot lose a firing pair.
"""

import math

import numpy as np
import scipy.sparse as sp

from ._pair_dots import pair_dots

_U32 = 2.0**-24
_U64 = 2.0**-53
# Absolute slack for gradual underflow: each of the d products may lose up to
# the smallest float32 subnormal spacing.
_TINY32 = 2.0**-149


def _gamma(d, u):
    du = d * u
    if du >= 0.5:
        raise ValueError(
            f"n_features={d} is too large for a float32 rounding bound; "
            "reduce the number of features."
        )
    return du / (1.0 - du)


def rounding_coefficient(n_features, precision="float32"):
    """Coefficient ``c`` with ``|filter value - exact value| <= c ||w|| ||x||``.

    Parameters
    ----------
    n_features : int
        Length ``d`` of the dot products.
    precision : {"float32", "float64"}, default="float32"
        Precision of the filter: ``"float32"`` for products of float32 copies of
        X and W (storage rounding included), ``"float64"`` for float64 BLAS
        products of the original arrays.

    Returns
    -------
    c : float
        The coefficient, including the error of the exact float64 routine and a
        1% safety widening.
    """
    d = max(int(n_features), 1)
    exact64 = _gamma(d, _U64)
    if precision == "float32":
        u = _U32
        filt = _gamma(d, u) * (1.0 + u) ** 2 + 2.0 * u + u * u
    elif precision == "float64":
        filt = _gamma(d, _U64)
    else:
        raise ValueError(
            f"precision must be 'float32' or 'float64', got {precision!r}."
        )
    return 1.01 * (filt + exact64)


def transient_nbytes(n_samples, n_neurons, threshold=None):
    """Bytes of the candidate pair lists shared by both index kinds.

    Parameters
    ----------
    n_samples, n_neurons : int
        Problem sizes.
    threshold : float, default=None
        When given, the candidate pairs are estimated for unit-norm samples
        and ``w ~ N(0, I)`` as twice the expected firing pairs
        ``n m P(N(0, 1) > threshold)``, at 48 bytes each (pair lists, exact
        values and the returned CSR arrays); otherwise they are not counted.

    Returns
    -------
    nbytes : int
        Transient bytes shared by both index kinds.
    """
    if threshold is None:
        return 0
    p = 0.5 * math.erfc(float(threshold) / math.sqrt(2.0))
    return int(48 * 2 * p * n_samples * n_neurons)


def absolute_slack(n_features):
    """Absolute margin covering float32 underflow of the ``d`` products."""
    return 2.0 * max(int(n_features), 1) * _TINY32


def round_up_float32(values):
    """Float32 array that is ``>=`` the float64 ``values`` entry by entry.

    Round-to-nearest moves a value by at most ``2**-24`` relatively (plus
    ``2**-150`` absolutely in the subnormal range); widening first by ``2**-22``
    relatively and ``2**-140`` absolutely makes the conversion an upward
    rounding. ``-inf`` stays ``-inf``; overflow gives ``+inf``, still a bound.
    """
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        widened = values + np.abs(values) * 2.0**-22 + 2.0**-140
        widened = np.where(np.isneginf(values), -np.inf, widened)
        return widened.astype(np.float32)


def row_norms(A):
    """Euclidean norms of the rows of ``A`` in float64, rounded up slightly."""
    A = np.asarray(A)
    norms = np.sqrt(np.einsum("ij,ij->i", A, A, dtype=np.float64))
    # sqrt and the sum of squares are accurate to a few ulps; 1e-12 covers them.
    return norms * (1.0 + 1e-12)


def exact_preactivations(W, X, rows, cols):
    """Exact float64 pre-activations ``<W[cols[p]], X[rows[p]]>`` pair by pair.

    Parameters
    ----------
    W : ndarray of shape (n_neurons, n_features), dtype float64
        Weights.
    X : ndarray of shape (n_samples, n_features), dtype float64
        Samples.
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
        grouped (the indexes compute them in their threads' chunks). At
        m=2**20 after training, 1.2M pairs took 38 ms against 71 ms for BLAS
        dot products of gathered rows (one thread), and no gathered buffers.
    """
    rows = np.ascontiguousarray(rows, dtype=np.intp).ravel()
    cols = np.ascontiguousarray(cols, dtype=np.intp).ravel()
    if rows.shape != cols.shape:
        raise ValueError(
            f"rows and cols must have the same length, got {rows.size} and {cols.size}."
        )
    n, m = X.shape[0], W.shape[0]
    out_of_range = IndexError(f"rows must be in [0, {n}) and cols in [0, {m}).")
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


def active_csr(parts, shape):
    """Sorted CSR activation structure from parts of firing pairs.

    Parameters
    ----------
    parts : list of tuple of ndarray
        ``(rows, cols, values)`` of firing pairs, each pair in one part only,
        rows within a part in any order, ``values`` their exact
        pre-activations. Consumed: the list is emptied, so that each part is
        freed once copied.
    shape : tuple of int
        ``(n_samples, n_neurons)``.

    Returns
    -------
    active : scipy.sparse.csr_array of shape (n_samples, n_neurons)
        The pairs with sorted column indices and float64 data.

    Notes
    -----
    A counting sort by sample: each part is scattered into its rows' slots,
    after those of the earlier parts. Besides the parts, it holds the output
    (12 bytes per pair) and one part's positions; concatenating the parts and
    sorting them held about 6 times that (86 MiB above 1.2M pairs). Parts
    whose rows are non-decreasing, with columns above those of earlier parts
    within each row (the dense filter's neuron chunks), give sorted columns
    without a sort.
    """
    n_samples, n_neurons = shape
    counts = np.zeros(n_samples, dtype=np.intp)
    for rows, _, _ in parts:
        counts += np.bincount(rows, minlength=n_samples)
    nnz = int(counts.sum())
    idx_dtype = np.int32 if max(n_neurons, nnz) < 2**31 else np.int64
    indptr = np.zeros(n_samples + 1, dtype=idx_dtype)
    np.cumsum(counts, out=indptr[1:])
    indices = np.empty(nnz, dtype=idx_dtype)
    data = np.empty(nnz, dtype=np.float64)
    # next free slot of every row
    fill = indptr[:-1].astype(np.intp)
    parts.reverse()
    while parts:
        rows, cols, values = parts.pop()
        if rows.size == 0:
            continue
        if np.any(rows[1:] < rows[:-1]):
            # a stable sort keeps the part's column order within each row
            order = np.argsort(rows, kind="stable")
            rows, cols, values = rows[order], cols[order], values[order]
            del order
        first = np.flatnonzero(np.concatenate(([True], rows[1:] != rows[:-1])))
        run = np.diff(np.append(first, rows.size))
        starts = rows[first]
        # slot of each pair: its row's next free slot plus its rank in the run
        pos = np.repeat(fill[starts] - first, run)
        pos += np.arange(rows.size)
        indices[pos] = cols
        data[pos] = values
        fill[starts] += run
        del rows, cols, values, pos
    active = sp.csr_array((data, indices, indptr), shape=(n_samples, n_neurons))
    if not active.has_sorted_indices:
        active.sort_indices()
    return active


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


def check_data(X, threshold):
    """Validate the training rows and threshold given to an index."""
    if not isinstance(X, np.ndarray) or X.ndim != 2:
        raise ValueError(
            "X must be a 2-D numpy array of shape (n_samples, n_features), got "
            f"{type(X).__name__} with shape {getattr(X, 'shape', None)}."
        )
    if X.dtype != np.float64:
        raise TypeError(f"X must have dtype float64, got {X.dtype}.")
    threshold = float(threshold)
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold}.")
    if X.size and not np.abs(X).max() < 2.0**100:
        raise ValueError("X must be finite with entries below 2**100 in magnitude.")
    return threshold


# Rows of W checked at a time when only some rows are: bounded gathers.
CHECK_ROW_CHUNK = 2**12


def _bounded(values):
    # max and min reduce without a temporary (|W| would copy W: 520 MiB at
    # m=2**20, d=65); nan propagates to both and fails the comparisons.
    return values.size == 0 or (values.max() < 2.0**100 and values.min() > -(2.0**100))


def check_weights(W, n_features, rows=None):
    """Validate a weight matrix given to ``build`` or ``update``.

    Only the values of ``W[rows]`` are checked when ``rows`` is given.
    """
    if not isinstance(W, np.ndarray) or W.ndim != 2 or W.shape[1] != n_features:
        raise ValueError(
            f"W must be a 2-D numpy array of shape (n_neurons, {n_features}), got "
            f"{type(W).__name__} with shape {getattr(W, 'shape', None)}."
        )
    if W.dtype != np.float64:
        raise TypeError(f"W must have dtype float64, got {W.dtype}.")
    if W.shape[0] == 0:
        raise ValueError("W must have at least one neuron (row).")
    if rows is None:
        ok = _bounded(W)
    else:
        rows = np.asarray(rows, dtype=np.intp)
        ok = all(
            _bounded(W[rows[s : s + CHECK_ROW_CHUNK]])
            for s in range(0, rows.size, CHECK_ROW_CHUNK)
        )
    if not ok:
        raise ValueError("W must be finite with entries below 2**100 in magnitude.")


def check_changed(changed, n_neurons):
    """Validate the sorted unique indices of changed neurons."""
    changed = np.asarray(changed)
    if changed.ndim != 1 or (changed.size and changed.dtype.kind not in "iu"):
        raise TypeError("changed must be a 1-D array of integer neuron indices.")
    changed = changed.astype(np.intp, copy=False)
    if changed.size and (
        changed[0] < 0 or changed[-1] >= n_neurons or np.any(np.diff(changed) <= 0)
    ):
        raise ValueError(f"changed must be sorted, unique and within [0, {n_neurons}).")
    return changed
