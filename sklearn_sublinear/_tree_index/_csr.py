"""Assembly of the firing pairs into the CSR matrix a query returns."""

import math

import numpy as np
import scipy.sparse as sp

# row_order_csr grows its output by at least 1 / ROW_ORDER_GROWTH of its size
# (the grown tail is zeroed, so touched, until the output is cut to size).
ROW_ORDER_GROWTH = 8
# Bytes of one firing pair in the matrix a query returns (int32 column index
# and float64 value), and in the parts it is assembled from (row, column and
# value) until active_csr has placed them.
RESULT_PAIR_BYTES = 12
PART_PAIR_BYTES = 16


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


def row_order_csr(parts, shape):
    """Sorted CSR activation structure from parts that arrive in row order.

    Parameters
    ----------
    parts : iterable of tuple of ndarray
        ``(rows, cols, values)`` of firing pairs as in :func:`active_csr`,
        where every part's rows are non-decreasing and at or after the last
        row of the parts before it, and columns increase within a row (the
        dense filter's row steps over one neuron chunk). Consumed one at a
        time, e.g. from a generator.
    shape : tuple of int
        ``(n_samples, n_neurons)``.

    Returns
    -------
    active : scipy.sparse.csr_array of shape (n_samples, n_neurons)
        The pairs with sorted column indices and float64 data, equal to
        :func:`active_csr`'s.

    Notes
    -----
    Each part is appended to the output as it arrives, so the parts never
    exist all at once beside the output (:func:`active_csr` needs them all to
    count the rows first). The output grows in place (``ndarray.resize``,
    by at least ``1 / ROW_ORDER_GROWTH`` of its size; large blocks are
    remapped, not copied) and is cut to its size at the end.
    """
    n_samples, n_neurons = shape
    counts = np.zeros(n_samples, dtype=np.intp)
    col_dtype = np.int32 if n_neurons < 2**31 else np.int64
    indices = np.empty(0, dtype=col_dtype)
    data = np.empty(0, dtype=np.float64)
    nnz, last = 0, 0
    for rows, cols, values in parts:
        if rows.size == 0:
            continue
        lo, hi = int(rows[0]), int(rows[-1]) + 1
        if lo < last or np.any(rows[1:] < rows[:-1]):
            raise ValueError("row_order_csr needs parts in row order.")
        last = hi - 1
        counts[lo:hi] += np.bincount(rows - lo, minlength=hi - lo)
        end = nnz + rows.size
        if end > indices.size:
            capacity = max(end, indices.size + indices.size // ROW_ORDER_GROWTH)
            indices.resize(capacity, refcheck=False)
            data.resize(capacity, refcheck=False)
        indices[nnz:end] = cols
        data[nnz:end] = values
        nnz = end
    indices.resize(nnz, refcheck=False)
    data.resize(nnz, refcheck=False)
    idx_dtype = np.int32 if max(n_neurons, nnz) < 2**31 else np.int64
    indptr = np.zeros(n_samples + 1, dtype=idx_dtype)
    np.cumsum(counts, out=indptr[1:])
    return sp.csr_array(
        (data, indices.astype(idx_dtype, copy=False), indptr),
        shape=(n_samples, n_neurons),
    )


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
    sorting them held several times that. Parts
    whose rows are non-decreasing, with columns above those of earlier parts
    within each row (the dense filter's neuron chunks), give sorted columns
    without a sort.
    """
    n_samples, n_neurons = shape
    counts = np.zeros(n_samples, dtype=np.intp)
    for rows, _, _ in parts:
        if rows.size:
            # over the part's range of rows only: many small parts cost
            # O(pairs), not O(samples) each
            lo, hi = int(rows.min()), int(rows.max()) + 1
            counts[lo:hi] += np.bincount(rows - lo, minlength=hi - lo)
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
