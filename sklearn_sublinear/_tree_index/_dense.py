"""Dense brute-force active-set index: a chunked float32 matmul filter."""

import numpy as np
from joblib import effective_n_jobs

from .._threads import imap_threads, map_threads, results_in_flight
from ._base import BaseIndex
from ._csr import (
    PART_PAIR_BYTES,
    RESULT_PAIR_BYTES,
    ROW_ORDER_GROWTH,
    active_csr,
    row_order_csr,
    transient_nbytes,
)
from ._exact import firing_part
from ._margins import (
    absolute_slack,
    filter_precision,
    filter_rows,
    filter_weights,
    round_up_float32,
    rounding_coefficient,
    row_norms,
)
from ._sparse_rows import products_nbytes

# Bytes of one (rows, neurons) float32 product chunk plus its boolean mask;
# each thread holds one. Up to DENSE_NEURON_CHUNK neurons (one chunk, whose
# products use the BLAS threads) large chunks pay; several neuron chunks share
# the threads, each on one BLAS thread, and products that stay in cache pay
# (benchmarks/bench_index.py, key "results" / "dense_query_s", and
# bench_width_scaling.py, key "runs" / "median_phases" / "query").
DENSE_CHUNK_BYTES = 32 * 2**20
DENSE_SPLIT_CHUNK_BYTES = 8 * 2**20
# Neurons per task; rows per chunk then follow from the chunk bytes. Fixed, so
# the candidates do not depend on n_jobs. Small chunks over threads, each on
# one BLAS thread, beat large chunks on BLAS's threads: the comparisons and
# index scans run in parallel too, and no idle BLAS worker spins against the
# threads of the exact routine that follows (bench_index.py, key "results" /
# "dense_query_s").
DENSE_NEURON_CHUNK = 2**12
# A task's parts (PART_PAIR_BYTES per firing pair: row, column, value) are
# joined into one while they take at most this many bytes; above, they go to
# active_csr one per row step, so that no pair is copied once more (large n).
CONCAT_PARTS_BYTES = 2**24


def _dense_chunks(n_samples, n_neurons, chunk_bytes=None):
    """Fixed (row_step, neuron_step) of the dense filter."""
    if chunk_bytes is None:
        split = n_neurons > DENSE_NEURON_CHUNK
        chunk_bytes = DENSE_SPLIT_CHUNK_BYTES if split else DENSE_CHUNK_BYTES
    neuron_step = min(n_neurons, DENSE_NEURON_CHUNK)
    row_step = max(1, chunk_bytes // (5 * neuron_step))
    return min(row_step, max(n_samples, 1)), neuron_step


def dense_filter_nbytes(
    n_samples, n_features, n_neurons, chunk_bytes=None, sparse=False
):
    """Bytes one thread of the dense filter holds at once.

    One product chunk with its mask, one gathered weight chunk in float64 and
    float32 and the candidate indices of one row step; over sparse rows, the
    float64 products of :meth:`SparseRows.products` instead.
    """
    row_step, neuron_step = _dense_chunks(n_samples, n_neurons, chunk_bytes)
    nbytes = 5 * row_step * neuron_step + (12 * n_features + 8) * neuron_step
    if sparse:
        nbytes += products_nbytes(row_step, neuron_step)
    return nbytes


def _filter_tasks(X32, x_norms, W, threshold, neurons, chunk_bytes, n_jobs, X=None):
    # One task per neuron chunk and block of rows, in that order (so the
    # parts of a chunk come row-major whatever the blocks). With fewer neuron
    # chunks than threads, the rows are split too, in whole row steps: the
    # chunks, and so the candidates, are those of a single block.
    n = X32.shape[0]
    m = W.shape[0] if neurons is None else neurons.size
    row_step, neuron_step = _dense_chunks(n, m, chunk_bytes)
    n_chunks = -(-m // neuron_step)
    steps = -(-n // row_step)
    blocks = max(1, min(steps, -(-effective_n_jobs(n_jobs) // n_chunks)))
    cuts = [row_step * (steps * k // blocks) for k in range(blocks)] + [n]
    args = (X32, x_norms, W, threshold, neurons, row_step, neuron_step, X)
    return [
        (c0, r_start, r_stop, *args)
        for c0 in range(0, m, neuron_step)
        for r_start, r_stop in zip(cuts[:-1], cuts[1:])
    ]


def dense_candidates(
    X32, x_norms, W, threshold, neurons=None, n_jobs=None, chunk_bytes=None
):
    """Candidate pairs of the float32 filter over all neurons or ``neurons``.

    Parameters
    ----------
    X32 : ndarray of shape (n_samples, n_features), dtype float32
        The samples in float32.
    x_norms : ndarray of shape (n_samples,)
        Their norms, rounded up.
    W : ndarray of shape (n_neurons, n_features), dtype float64
        Weights.
    threshold : float
        Shift ``b``.
    neurons : ndarray of int, default=None
        Sorted neuron indices to filter; all when None. Gathered chunk by
        chunk, so memory stays bounded by ``chunk_bytes`` per thread.
    n_jobs : int, default=None
        The number of threads sharing the neuron chunks, each running
        its products on one BLAS thread; with one job the products use the
        BLAS threads. ``None`` means 1 unless in a
        :obj:`joblib.parallel_backend` context. ``-1`` means using all
        processors.
    chunk_bytes : int, default=None
        Bytes of one float32 product chunk and its mask (rows of
        ``DENSE_NEURON_CHUNK`` neurons); when None, ``DENSE_CHUNK_BYTES`` for
        one neuron chunk and ``DENSE_SPLIT_CHUNK_BYTES`` for several. The
        candidates do not depend on it.

    Returns
    -------
    rows, cols : ndarray of int
        Every pair ``(i, r)`` with ``fl32(<w_r, x_i>) > b - c ||w|| ||x_i||``
        (``c`` from :func:`rounding_coefficient`, ``||w||`` the chunk's largest
        weight norm), a superset of the firing pairs, row-major within each
        neuron chunk.
    """
    tasks = _filter_tasks(X32, x_norms, W, threshold, neurons, chunk_bytes, n_jobs)
    results = map_threads(_filter_chunk, tasks, n_jobs, one_blas_thread=True)
    parts = [part for result in results for part in result]
    rows = [np.zeros(0, np.intp)] + [r for r, _ in parts]
    cols = [np.zeros(0, np.intp)] + [c for _, c in parts]
    return np.concatenate(rows), np.concatenate(cols)


def dense_active_parts(
    X32, x_norms, W, X, threshold, neurons=None, n_jobs=None, chunk_bytes=None
):
    """Firing pairs and exact values of all neurons or ``neurons``, in parts.

    The float32 filter of :func:`dense_candidates`, then, in the same thread,
    the exact values of each neuron chunk's candidates and only the pairs
    above ``threshold`` (:func:`firing_part`, one value per pair whatever the
    batch): the candidate lists of all chunks never exist at once.

    Parameters
    ----------
    X32, x_norms, W, threshold, neurons, n_jobs, chunk_bytes
        As in :func:`dense_candidates`.
    X : ndarray of shape (n_samples, n_features), dtype float64
        The samples, for the exact values.

    Returns
    -------
    parts : list of tuple of ndarray
        ``(rows, cols, values)`` of the firing pairs of each product chunk
        (a neuron chunk's row step), in neuron chunk order, rows
        non-decreasing and columns increasing within a row (for
        :func:`active_csr`). The parts are not concatenated: that copied
        every firing pair once more.
    """
    tasks = _filter_tasks(X32, x_norms, W, threshold, neurons, chunk_bytes, n_jobs, X)
    results = map_threads(_filter_chunk, tasks, n_jobs, one_blas_thread=True)
    return [part for result in results for part in result]


def _row_step_parts(X32, x_norms, W, X, threshold, n_jobs):
    """Firing pairs of all neurons (one neuron chunk), one part per row step,
    in row order, with at most a few row steps computed ahead
    (:func:`imap_threads`)."""
    n = X32.shape[0]
    row_step, neuron_step = _dense_chunks(n, W.shape[0])
    args = (X32, x_norms, W, threshold, None, row_step, neuron_step, X)
    tasks = [(0, r0, min(r0 + row_step, n), *args) for r0 in range(0, n, row_step)]
    for result in imap_threads(_filter_chunk, tasks, n_jobs, one_blas_thread=True):
        yield from result


def _filter_chunk(
    c0,
    r_start,
    r_stop,
    X32,
    x_norms,
    W,
    threshold,
    neurons,
    row_step,
    neuron_step,
    X=None,
):
    # Candidate pairs of the neurons c0:c0 + neuron_step (of `neurons` if
    # given) and the rows r_start:r_stop; with X, the firing ones and their
    # exact values. One part per row step.
    d = X32.shape[1]
    m = W.shape[0] if neurons is None else neurons.size
    c1 = min(c0 + neuron_step, m)
    chunk = W[c0:c1] if neurons is None else W[neurons[c0:c1]]
    W32 = filter_weights(chunk, X32)
    w_max = row_norms(chunk).max()
    del chunk
    margin = rounding_coefficient(d, filter_precision(X32)) * w_max
    slack = absolute_slack(d)
    parts = []
    for r0 in range(r_start, r_stop, row_step):
        r1 = min(r0 + row_step, r_stop)
        z = X32[r0:r1] @ W32.T
        # rounded down to float32: comparing float32 products with float64
        # cuts converts every product, and a lower cut keeps a superset of
        # the candidates
        cut = -round_up_float32(margin * x_norms[r0:r1] + slack - threshold)
        # flat indices split by divmod, faster than a 2D nonzero
        rr, cc = np.divmod(np.flatnonzero(z > cut[:, None]), c1 - c0)
        # release the chunk before the next product is allocated
        del z, cut
        rr += r0
        cc = cc + c0 if neurons is None else neurons[cc + c0]
        if X is None:
            parts.append((rr, cc))
        else:
            parts.append(firing_part(W, X, rr, cc, threshold))
    if sum(part[0].size for part in parts) * PART_PAIR_BYTES <= CONCAT_PARTS_BYTES:
        # few pairs: one part per task, fewer parts for active_csr to place
        return [tuple(np.concatenate(a) for a in zip(*parts))] if parts else []
    return parts


class DenseIndex(BaseIndex):
    """Brute-force twin of :class:`TreeIndex`: recompute every product per query.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), dtype float64
        Training rows. Kept by reference and never modified.
    threshold : float
        Shift ``b``: neuron ``r`` fires for sample ``i`` iff ``<w_r, x_i> > b``.
    n_jobs : int, default=None
        The number of threads sharing the chunks of neurons, each
        running the float32 filter and the exact values of its candidates.
        ``None`` means 1 unless in a :obj:`joblib.parallel_backend` context.
        ``-1`` means using all processors.

    Attributes
    ----------
    W_ : ndarray of shape (n_neurons, n_features)
        The indexed weights (a reference).

    Notes
    -----
    A query computes ``X32 @ W32.T`` in chunks of at most ``DENSE_CHUNK_BYTES``
    for one chunk of neurons, ``DENSE_SPLIT_CHUNK_BYTES`` per thread for
    several, keeps the pairs above ``b - c ||w_r|| ||x_i||`` (``c`` from
    :func:`rounding_coefficient`) and decides them with the exact float64
    routine in the chunk's thread, so its answer equals the tree index's bit
    for bit. Cost per query: ``2 n m d`` flops plus a scan of ``n m`` values.
    The index holds nothing between queries except ``||x_i||``; updates and
    rebuilds only record ``W``. A query's peak is the chunk buffers of its
    threads (:func:`dense_filter_nbytes` each) plus the returned matrix (12
    bytes per pair) and, with several neuron chunks, the firing pairs (16
    bytes each); with one, only the parts of a few row steps at a time
    (:func:`row_order_csr`).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_sublinear._tree_index import DenseIndex
    >>> X = np.eye(2)
    >>> W = np.array([[1.0, 0.0], [0.2, 0.9], [-1.0, 0.5]])
    >>> DenseIndex(X, 0.4).build(W).query().toarray()
    array([[1. , 0. , 0. ],
           [0. , 0.9, 0.5]])
    """

    @classmethod
    def estimate_nbytes(
        cls,
        n_samples,
        n_features,
        n_neurons,
        *,
        threshold=None,
        n_jobs=None,
        sparse=False,
        **params,
    ):
        """Peak bytes of a query for these sizes, computed before allocating.

        Parameters
        ----------
        n_samples, n_features, n_neurons : int
            Problem sizes.
        threshold : float, default=None
            When given, the candidate pair lists and the returned activation
            matrix are estimated too (see ``transient_nbytes``).
        n_jobs : int, default=None
            Threads of the filter and of the exact values, each with its own
            buffers.
        sparse : bool, default=False
            Whether the rows are :class:`SparseRows` (no float32 copy,
            float64 products).
        **params : dict
            Ignored (no tuning parameters).

        Returns
        -------
        nbytes : int
            Held norms plus the transient float32 copy of X and, per thread,
            one product chunk with its mask and one gathered weight chunk in
            float64 and float32 (:func:`dense_filter_nbytes`).
        """
        per_job = dense_filter_nbytes(n_samples, n_features, n_neurons, sparse=sparse)
        return int(
            8 * n_samples
            + 4 * n_samples * n_features * (not sparse)
            + effective_n_jobs(n_jobs) * per_job
            + transient_nbytes(n_samples, n_neurons, threshold)
        )

    @classmethod
    def query_pair_nbytes(cls, n_samples, n_neurons, *, n_jobs=None):
        """Bytes per firing pair at the peak of a query, beside the buffers of
        :meth:`estimate_nbytes`.

        With one neuron chunk, the returned matrix as it grows
        (:func:`row_order_csr`) and the parts of the row steps computed ahead
        of it (twice the threads, and the one being placed), as a share of
        the rows; with several, the returned matrix and all the parts it is
        assembled from.
        """
        if n_neurons > DENSE_NEURON_CHUNK:
            return super().query_pair_nbytes(n_samples, n_neurons, n_jobs=n_jobs)
        row_step, _ = _dense_chunks(n_samples, n_neurons)
        ahead = results_in_flight(n_jobs) * row_step
        grown = RESULT_PAIR_BYTES * (1 + 1 / ROW_ORDER_GROWTH)
        return grown + PART_PAIR_BYTES * min(1.0, ahead / max(n_samples, 1))

    def build(self, W):
        """Index weights ``W``; return self.

        Parameters
        ----------
        W : ndarray of shape (n_neurons, n_features), dtype float64
            Weights, kept by reference.

        Returns
        -------
        self : DenseIndex
            The index.
        """
        self._check_build(W)
        self.W_ = W
        self._x_norms = row_norms(self.X)
        return self

    def query(self):
        """Firing neurons of every training sample.

        Returns
        -------
        active : scipy.sparse.csr_array of shape (n_samples, n_neurons)
            Sorted column indices, exact float64 pre-activations as data.
        """
        self._check_built()
        X, W, b = self.X, self.W_, self.threshold_
        X32 = filter_rows(X)
        shape = (X.shape[0], W.shape[0])
        if W.shape[0] <= DENSE_NEURON_CHUNK:
            # one neuron chunk: the row steps' parts come in row order and go
            # into the result as they arrive
            parts = _row_step_parts(X32, self._x_norms, W, X, b, self.n_jobs)
            return row_order_csr(parts, shape)
        parts = dense_active_parts(X32, self._x_norms, W, X, b, n_jobs=self.n_jobs)
        return active_csr(parts, shape)

    def update(self, W, changed):
        """Record new weights; the next query recomputes everything.

        Parameters
        ----------
        W : ndarray of shape (n_neurons, n_features), dtype float64
            The new weights.
        changed : ndarray of int
            Sorted unique indices of changed neurons (validated, else unused).

        Returns
        -------
        action : str
            ``"dense"``.
        """
        self._check_update(W, changed)
        self.W_ = W
        return "dense"

    def rebuild(self, rows=None):
        """Nothing to recompute: queries always start from scratch.

        Parameters
        ----------
        rows : array-like of int, default=None
            Ignored.

        Returns
        -------
        self : DenseIndex
            The index.
        """
        self._check_built()
        return self

    @property
    def nbytes(self):
        """Bytes held between queries (the sample norms)."""
        norms = getattr(self, "_x_norms", None)
        return 0 if norms is None else int(norms.nbytes)
