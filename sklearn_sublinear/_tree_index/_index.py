"""TreeIndex: every training sample's max-tree over blocks of neurons."""

import numpy as np
from joblib import effective_n_jobs

from .._threads import map_threads, one_blas_thread
from ._base import BaseIndex
from ._csr import active_csr, transient_nbytes
from ._dense import dense_active_parts, dense_filter_nbytes
from ._exact import firing_part
from ._margins import filter_rows, round_up_float32, rounding_coefficient, row_norms
from ._max_tree import (
    clear_pairs,
    descend,
    empty_tree,
    fill_internal,
    tree_nbytes,
    tree_shape,
    unpack_tree,
)
from ._parallel import REBUILD_CHUNK_BYTES, REBUILD_ROW_CHUNK, rebuild_trees
from ._sparse_rows import products_nbytes

# Float64 entries of the (candidate pairs, block_size) buffer of one query
# step; each thread holds one.
QUERY_CHUNK_ELEMENTS = 2**18
# Bytes of one product chunk of the hot neurons' dense filter, per thread.
# The hot set is a small share of the neurons, so smaller chunks than the
# dense index's cost little time and keep the query's peak low
# (benchmarks/bench_width_scaling.py, key "index_peaks").
HOT_CHUNK_BYTES = 4 * 2**20
# Neurons whose norms are computed at a time for the block norms.
NORM_CHUNK = 2**16

# Why changed neurons leave the trees ("hot" neurons)
# --------------------------------------------------
# A Gauss-Newton step moves exactly the neurons that fire on some training
# sample (``Delta w_r`` is a combination of the rows that fire ``r``), so a
# neuron that fires on no training row never moves, and never starts firing.
# Training therefore happens inside the set ``U_0`` of neurons that fire at
# initialization, ``|U_0| ~ m (1 - (1 - k/m)^n)``, and those neurons move
# far: after a few steps many times more of them fire per sample than at
# initialization. Keeping their leaves as loosened upper bounds
# (Cauchy-Schwarz or exact increments) made every query recompute most blocks,
# nearly as slow as the dense brute force.
# Here an update only moves the changed neurons out of the trees into a
# "hot" set whose products are recomputed at every query by the float32
# BLAS filter of the dense index (``n |hot| d`` flops), while the trees keep
# bounding the cold neurons, whose weights never change, so the trees need
# no update at all: their leaves are tightened to the cold block maxima by
# the first query that visits them. After the first step about a third of
# the hot set fires on no sample: those "silent" neurons cannot fire before
# they move again and skip the filter. The figures are in docs/design.rst
# (benchmarks/bench_width_scaling.py, key "runs" / "median_phases").


def _cold_block_norms(W, hot, block_size):
    """Largest weight norm (rounded up) of each block's cold neurons, or 0."""
    m = W.shape[0]
    out = np.empty(-(-m // block_size))
    step = block_size * max(1, NORM_CHUNK // block_size)
    for c0 in range(0, m, step):
        c1 = min(c0 + step, m)
        norms = row_norms(W[c0:c1])
        norms[hot[c0:c1]] = 0.0
        starts = np.arange(0, c1 - c0, block_size)
        out[c0 // block_size : -(-c1 // block_size)] = np.maximum.reduceat(
            norms, starts
        )
    return out


def _query_chunk(bl, sa, X, W, hot, bs, coef, x_norms, block_w, b):
    """Exact products of the candidate pairs ``(bl, sa)``, sorted by block.

    Returns the firing pairs of cold neurons (as a part for ``active_csr``)
    and the candidate pairs whose leaf tightens to 0: the max over the
    block's cold neurons, plus its rounding margin, is not above ``b``. The
    caller clears those bits; bits of neighbouring samples share bytes, so
    threads do not write them.
    """
    m = W.shape[0]
    Xp = X[sa]
    Z = np.full((bl.size, bs), -np.inf)
    # One BLAS call per run of pairs sharing a block: the block's weights are
    # read once, the products are computed in float64.
    cuts = np.flatnonzero(np.diff(bl)) + 1
    starts = np.concatenate(([0], cuts))
    stops = np.concatenate((cuts, [bl.size]))
    for s0, s1 in zip(starts.tolist(), stops.tolist()):
        c0 = int(bl[s0]) * bs
        c1 = min(c0 + bs, m)
        Z[s0:s1, : c1 - c0] = Xp[s0:s1] @ W[c0:c1].T
        Z[s0:s1, np.flatnonzero(hot[c0:c1])] = -np.inf
    # One margin per pair, with the block's largest weight norm: a per-product
    # margin would cost more than it saves.
    margin = coef * x_norms[sa] * block_w[bl]
    # the bit of the float32 bound the trees used to store, for the same
    # leaves as before
    cleared = ~(round_up_float32(Z.max(axis=1) + margin) > b)
    pr, pc = np.nonzero(Z > (b - margin)[:, None])
    del Z
    rows, cols = sa[pr], bl[pr] * bs + pc
    # A pair's exact value does not depend on its batch: computed here, it
    # runs in the chunk's thread.
    return firing_part(W, X, rows, cols, b), bl[cleared], sa[cleared]


class TreeIndex(BaseIndex):
    """Per-sample max-trees over blocks of neurons, plus a set of hot neurons.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), dtype float64
        Training rows. Kept by reference and never modified.
    threshold : float
        Shift ``b``: neuron ``r`` fires for sample ``i`` iff ``<w_r, x_i> > b``.
    block_size : int, default=128
        Target number of neurons per leaf (the actual size is within a factor
        sqrt(2), so that the number of leaves is a power of two). The trees
        take ``n m / (4 block_size)`` bytes; a query recomputes
        ``block_size`` products per candidate leaf.
    n_jobs : int, default=None
        The number of jobs to run in parallel for builds, rebuilds, the
        candidate leaves of a query and the filter and exact values of the
        hot neurons (joblib threads over blocks of samples for the
        rebuilds; threads of a kept pool over candidate leaves or hot
        neurons for the queries). ``None`` means 1 unless in a
        :obj:`joblib.parallel_backend` context. ``-1`` means using all
        processors.

    Attributes
    ----------
    W_ : ndarray of shape (n_neurons, n_features)
        The indexed weights (a reference).
    n_leaves_ : int
        Leaves per tree (a power of two).
    block_size_ : int
        Neurons per leaf.
    hot_neurons_ : ndarray of int
        Sorted indices of the neurons changed since :meth:`build`.

    Notes
    -----
    Neurons are *cold* (unchanged since :meth:`build`) or *hot* (changed by
    some :meth:`update`). Leaf ``(j, i)`` is one bit: whether a float32 upper
    bound of ``max <w_r, x_i>`` over the cold neurons ``r`` of block ``j`` is
    above ``b``; internal nodes are the OR of their children (layout, why bits
    and costs in ``_max_tree.py``). A query descends, level by level and for
    all samples at once, into set nodes; candidate blocks get their products
    in float64, which tightens the leaf to the block's cold max (lazy
    tightening: the bit clears when that max is not above ``b``). Hot neurons
    go through the float32 BLAS filter of :class:`DenseIndex` in smaller
    chunks (``HOT_CHUNK_BYTES``), ``n |hot| d`` flops, except the *silent*
    ones: a hot neuron that fires on no sample cannot fire until its
    weights change, so it skips the filter until an update changes it again
    (in training, a third of the hot set). Every surviving pair is decided
    by the shared exact routine, so the answer equals :class:`DenseIndex`'s
    bit for bit.

    An update only marks neurons hot: cold weights never change, so the
    leaves stay valid. In Gauss-Newton training only the neurons that
    fire on some training row ever change, so the hot set stays within the
    neurons firing at initialization (see the comment at the top of this
    module).

    Memory: the index holds the trees (``n m / (4 block_size)`` bytes), the
    hot and silent masks (``2 m``), block norms and the float32 rows; a query
    adds its threads' chunk buffers, the firing pairs (16 bytes each) and the
    returned matrix (12 bytes per pair). After training, both its peak and
    :class:`DenseIndex`'s are mostly those pairs and the returned matrix
    (``benchmarks/bench_width_scaling.py``, key "index_peaks").

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_sublinear._tree_index import TreeIndex
    >>> X = np.eye(2)
    >>> W = np.array([[1.0, 0.0], [0.2, 0.9], [-1.0, 0.5]])
    >>> TreeIndex(X, 0.4, block_size=1).build(W).query().toarray()
    array([[1. , 0. , 0. ],
           [0. , 0.9, 0.5]])
    """

    def __init__(self, X, threshold, *, block_size=128, n_jobs=None):
        super().__init__(X, threshold, n_jobs=n_jobs)
        self.block_size = block_size

    @classmethod
    def estimate_nbytes(
        cls,
        n_samples,
        n_features,
        n_neurons,
        *,
        block_size=128,
        n_jobs=None,
        threshold=None,
        sparse=False,
        **params,
    ):
        """Peak bytes of the index for these sizes, computed before allocating.

        Parameters
        ----------
        n_samples, n_features, n_neurons : int
            Problem sizes.
        block_size : int, default=128
            Target neurons per leaf.
        n_jobs : int, default=None
            Rebuild and query threads; each holds its own transient buffers.
        threshold : float, default=None
            When given, the candidate pair lists and the returned activation
            matrix are counted too (see ``transient_nbytes``).
        sparse : bool, default=False
            Whether the rows are :class:`SparseRows` (no float32 copy,
            float64 products).
        **params : dict
            Ignored.

        Returns
        -------
        nbytes : int
            The packed trees, norms, block norms, hot and silent masks and
            float32 copy of X held, plus the largest transient buffers
            (per-thread rebuild products and float32 weight chunks, per-thread
            query steps, or the per-thread chunks of the hot neurons' dense
            filter, whichever is larger) and the candidate pair lists.
        """
        n_leaves, bs = tree_shape(n_neurons, block_size)
        n_blocks = -(-n_neurons // bs)
        held = tree_nbytes(n_leaves, n_samples) + 8 * n_samples + 2 * n_neurons
        held += 8 * n_blocks + 4 * n_samples * n_features * (not sparse)
        jobs = effective_n_jobs(n_jobs)
        step = REBUILD_CHUNK_BYTES // (4 * REBUILD_ROW_CHUNK)
        # product, its float64 block maxima and the float32 weight chunk
        rebuild = 2 * REBUILD_CHUNK_BYTES + 4 * step * n_features
        rebuild += 4 * REBUILD_ROW_CHUNK * n_features
        if sparse:
            rebuild += products_nbytes(REBUILD_ROW_CHUNK, step)
        # Z, its mask and the gathered rows
        pairs = QUERY_CHUNK_ELEMENTS // bs
        query = 9 * QUERY_CHUNK_ELEMENTS + 8 * pairs * (n_features + 8)
        hot = dense_filter_nbytes(
            n_samples, n_features, n_neurons, HOT_CHUNK_BYTES, sparse
        )
        # outside the threads: the hot filter's neuron list and masks, the
        # block norms' chunk
        serial = 11 * n_neurons + 16 * NORM_CHUNK
        transient = transient_nbytes(n_samples, n_neurons, threshold)
        return int(held + max(rebuild, query, hot) * jobs + serial + transient)

    # -- building ----------------------------------------------------------

    def build(self, W):
        """Index weights ``W`` (every neuron cold) and build the trees.

        Parameters
        ----------
        W : ndarray of shape (n_neurons, n_features), dtype float64
            Weights, kept by reference.

        Returns
        -------
        self : TreeIndex
            The index.
        """
        self._check_build(W)
        if not isinstance(self.block_size, (int, np.integer)) or self.block_size < 1:
            raise ValueError(
                f"block_size must be a positive integer, got {self.block_size!r}."
            )
        n = self.X.shape[0]
        m = W.shape[0]
        self.n_leaves_, self.block_size_ = tree_shape(m, int(self.block_size))
        self.W_ = W
        self._x_norms = row_norms(self.X)
        self._X32 = filter_rows(self.X)
        self._hot = np.zeros(m, dtype=bool)
        self._silent = np.zeros(m, dtype=bool)
        self._tree = empty_tree(self.n_leaves_, n)
        self._block_w = np.zeros(0)  # computed by the rebuild
        self.rebuild()
        return self

    def rebuild(self, rows=None):
        """Recompute the trees of the samples ``rows`` over the cold neurons.

        Parameters
        ----------
        rows : array-like of int, default=None
            Samples to rebuild; all if None.

        Returns
        -------
        self : TreeIndex
            The index.
        """
        self._check_built()
        n = self.X.shape[0]
        if rows is not None:
            rows = np.unique(np.asarray(rows, dtype=np.intp))
            if rows.size and (rows[0] < 0 or rows[-1] >= n):
                raise ValueError(f"rows must be within [0, {n}).")
        self._ensure_writeable()
        # Block norms of the current cold neurons; the leaves of samples not
        # rebuilt used larger or equal ones, so they stay valid.
        self._block_w = _cold_block_norms(self.W_, self._hot, self.block_size_)
        rebuild_trees(
            self._tree,
            self.X,
            self.W_,
            self._x_norms,
            self._block_w,
            self.block_size_,
            self._hot,
            self.threshold_,
            rows,
            self.n_jobs,
        )
        return self

    @property
    def hot_neurons_(self):
        self._check_built()
        return np.flatnonzero(self._hot)

    # -- querying ----------------------------------------------------------

    def query(self):
        """Firing neurons of every training sample.

        Candidate leaves are tightened to their exact cold block max as a side
        effect, so later queries visit fewer nodes.

        Returns
        -------
        active : scipy.sparse.csr_array of shape (n_samples, n_neurons)
            Sorted column indices, exact float64 pre-activations as data.
        """
        self._check_built()
        X, W, b = self.X, self.W_, self.threshold_
        n, d = X.shape
        m = W.shape[0]
        bs = self.block_size_
        self._ensure_writeable()
        tree = self._tree
        blocks, samples = descend(tree, n)
        order = np.lexsort((samples, blocks))
        blocks, samples = blocks[order], samples[order]
        del order

        coef = rounding_coefficient(d, "float64")
        step = max(1, QUERY_CHUNK_ELEMENTS // bs)
        chunks = [(p0, p0 + step) for p0 in range(0, blocks.size, step)]
        # Chunks return their pairs in chunk order, and the cleared bits are
        # applied here, so threads change neither the tree nor the answer.
        # The block norms of the last rebuild bound the current cold norms.
        # Small products: threaded BLAS only adds synchronization, so each
        # chunk runs BLAS on one thread.
        shared = (X, W, self._hot, bs, coef, self._x_norms, self._block_w, b)
        tasks = [(blocks[c0:c1], samples[c0:c1], *shared) for c0, c1 in chunks]
        del blocks, samples
        with one_blas_thread():
            results = map_threads(_query_chunk, tasks, self.n_jobs)
        del tasks
        parts = [part for part, _, _ in results]
        cleared = [(bl, sa) for _, bl, sa in results if bl.size]
        del results
        if cleared:
            bl, sa = (np.concatenate(a) for a in zip(*cleared))
            clear_pairs(tree, self.n_leaves_ - 1 + bl, sa)
            fill_internal(tree)
            del bl, sa, cleared
        hot = np.flatnonzero(self._hot & ~self._silent)
        if hot.size:
            # The hot neurons: float32 BLAS filter and exact values in the
            # chunks' threads, in chunks smaller than the dense index's.
            hot_parts = dense_active_parts(
                self._X32,
                self._x_norms,
                W,
                X,
                b,
                hot,
                self.n_jobs,
                chunk_bytes=HOT_CHUNK_BYTES,
            )
            # A hot neuron that fires on no sample stays silent, and out of
            # the filter, until an update changes it.
            fires = np.zeros(m, dtype=bool)
            for _, cols, _ in hot_parts:
                fires[cols] = True
            self._silent[hot[~fires[hot]]] = True
            del fires, hot
            parts += hot_parts
            del hot_parts
        return active_csr(parts, (n, m))

    # -- updating ----------------------------------------------------------

    def update(self, W, changed):
        """Move the index to new weights where only the ``changed`` rows moved.

        The changed neurons become hot; the trees are not touched, since the
        cold neurons they bound keep their weights.

        Parameters
        ----------
        W : ndarray of shape (n_neurons, n_features), dtype float64
            The new weights (a new array or the indexed one modified in
            place). Rows not in ``changed`` equal the previous ones.
        changed : ndarray of int
            Sorted unique indices of the changed neurons.

        Returns
        -------
        action : {"none", "update"}
            ``"none"`` when no neuron changed.
        """
        changed = self._check_update(W, changed)
        self.W_ = W
        if changed.size == 0:
            return "none"
        self._ensure_writeable()
        # The block norms stay: the trees leave the hot neurons out and the
        # dense filter takes the norms of the weights it reads.
        self._hot[changed] = True
        self._silent[changed] = False
        return "update"

    # -- inspection --------------------------------------------------------

    def get_arrays(self):
        """Arrays of the index, for tests and inspection.

        Returns
        -------
        tree : ndarray of shape (2 * n_leaves_ - 1, n_samples), dtype bool
            The node bits, unpacked (a copy): node ``k`` of sample ``i`` may
            lead to a cold neuron firing on ``x_i``.
        x_norms : ndarray of shape (n_samples,)
            Sample norms, rounded up.
        block_w_norms : ndarray of shape (n_blocks,)
            Largest weight norm of each block's cold neurons as of the last
            rebuild, rounded up (an upper bound for the current cold neurons).
        """
        self._check_built()
        return unpack_tree(self._tree, self.X.shape[0]), self._x_norms, self._block_w

    @property
    def nbytes(self):
        """Bytes held by the trees, norms, hot masks and float32 rows (not X, W)."""
        if not hasattr(self, "_tree"):
            return 0
        held = (self._tree, self._x_norms, self._block_w, self._hot, self._silent)
        if self._X32 is not self.X:
            held += (self._X32,)
        return int(sum(a.nbytes for a in held))

    def _ensure_writeable(self):
        # An index unpickled from a joblib memmap (max_nbytes) holds read-only
        # arrays; take private copies before the first write.
        for name in ("_tree", "_x_norms", "_block_w", "_hot", "_silent"):
            array = getattr(self, name)
            if not array.flags.writeable:
                setattr(self, name, np.array(array))
