"""TreeIndex: every training sample's max-tree over blocks of neurons."""

import numpy as np
import scipy.sparse as sp
from joblib import effective_n_jobs

from ._base import BaseIndex
from ._dense import DenseIndex, dense_candidates
from ._exact import (
    EXACT_CHUNK_ELEMENTS,
    active_csr,
    exact_preactivations,
    round_up_float32,
    rounding_coefficient,
    row_norms,
    transient_nbytes,
)
from ._max_tree import descend, refresh_pairs, tree_shape
from ._parallel import REBUILD_CHUNK_BYTES, REBUILD_ROW_CHUNK, rebuild_trees
from ._threads import blas_controller, map_threads

# Float64 entries of the (candidate pairs, block_size) buffers of one query step.
QUERY_CHUNK_ELEMENTS = 2**20

# Why changed neurons leave the trees ("hot" neurons)
# --------------------------------------------------
# A Gauss-Newton step moves exactly the neurons that fire on some training
# sample (``Delta w_r`` is a combination of the rows that fire ``r``), so a
# neuron that fires on no training row never moves, and never starts firing.
# Training therefore happens inside the set ``U_0`` of neurons that fire at
# initialization, ``|U_0| ~ m (1 - (1 - k/m)^n)`` (~6% of 2**20 neurons at
# n=1000, k=64), and those neurons move far: after a few steps 800-1150 of
# them fire per sample instead of 64. Keeping their leaves as loosened upper
# bounds (Cauchy-Schwarz or exact increments, the index's previous design)
# made every query recompute most blocks: at m=2**20, 1.05 s query plus 0.28 s
# update per iteration against 1.94 s for the dense brute force.
# Here an update only moves the changed neurons out of the trees into a
# "hot" set whose products are recomputed at every query by the float32
# BLAS filter of the dense index (``n |hot| d`` flops), while the trees keep
# bounding the cold neurons, whose weights never change, so the trees need
# no update at all: their leaves are tightened to the cold block maxima by
# the first query that visits them. After the first step about a third of
# the hot set fires on no sample (56.6k hot, 35.5k firing at m=2**20): those
# "silent" neurons cannot fire before they move again and skip the filter.
# Same fit, m=2**20, idle machine (benchmarks/results/bench_width_scaling.json):
# query 0.26 s and update 0.007 s per iteration, against 1.76 s for the dense
# brute force (0.35 s against 2.12 s before silent neurons and threads).


def _query_chunk(bl, sa, tree, X, W, hot, bs, leaf0, coef, x_norms, block_w, b):
    """Exact products of the candidate pairs ``(bl, sa)``, sorted by block.

    Tightens their leaves in place to the max over the block's cold neurons
    and returns the ``(sample, neuron)`` pairs of cold neurons whose float64
    BLAS product is above ``b`` minus its rounding margin, with their exact
    pre-activations.
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
    new_leaf = round_up_float32(Z.max(axis=1) + margin)
    np.minimum(tree[leaf0 + bl, sa], new_leaf, out=new_leaf)
    tree[leaf0 + bl, sa] = new_leaf
    pr, pc = np.nonzero(Z > (b - margin)[:, None])
    rows, cols = sa[pr], bl[pr] * bs + pc
    # A pair's exact value does not depend on its batch: computed here, it
    # runs in the chunk's thread.
    return rows, cols, exact_preactivations(W, X, rows, cols)


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
        sqrt(2), so that the number of leaves is a power of two). Memory is
        ``8 n m / block_size`` bytes; a query recomputes ``block_size`` products
        per candidate leaf.
    n_jobs : int, default=None
        The number of jobs to run in parallel for builds, rebuilds, the
        candidate leaves of a query and the exact values of the hot neurons'
        candidate pairs (joblib threads over blocks of samples or of
        candidates). ``None`` means 1 unless in a
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
    some :meth:`update`). Leaf ``(j, i)`` holds a float32 upper bound of
    ``max <w_r, x_i>`` over the cold neurons ``r`` of block ``j`` and internal
    nodes hold the max of their children (layout and costs in
    ``_max_tree.py``). A query descends, level by level and for all samples at
    once, into nodes above ``b``; candidate blocks get their products in
    float64, which tightens the leaf to the block's cold max (lazy
    tightening). Hot neurons go through the float32 BLAS filter of
    :class:`DenseIndex`, ``n |hot| d`` flops, except the *silent* ones: a hot
    neuron that the filter finds firing on no sample cannot fire until its
    weights change, so it skips the filter until an update changes it again
    (in training, a third of the hot set). Every surviving pair is decided
    by the shared exact routine, so the answer equals :class:`DenseIndex`'s
    bit for bit.

    An update only marks neurons hot: cold weights never change, so the
    leaves stay valid bounds. In Gauss-Newton training only the neurons that
    fire on some training row ever change, so the hot set stays within the
    neurons firing at initialization (see the comment at the top of this
    module).

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
            Rebuild jobs; each holds its own transient buffers.
        threshold : float, default=None
            When given, the candidate pair lists and the returned activation
            matrix are counted too (see ``transient_nbytes``).
        **params : dict
            Ignored.

        Returns
        -------
        nbytes : int
            The tree array, norms, hot mask and float32 copy of X held, plus
            the largest transient buffers (per-job rebuild products and float32
            weight chunks, per-job query step and exact-value buffers, or the
            dense filter of the hot neurons, whichever is larger) and the exact
            routine's buffers.
        """
        n_leaves, bs = tree_shape(n_neurons, block_size)
        held = 4 * (2 * n_leaves - 1) * n_samples + 8 * n_samples + 10 * n_neurons
        held += 8 * n_leaves + 4 * n_samples * n_features
        jobs = effective_n_jobs(n_jobs)
        per_job = 2 * REBUILD_CHUNK_BYTES + 4 * REBUILD_ROW_CHUNK * n_features
        per_job += 4 * (REBUILD_CHUNK_BYTES // (4 * REBUILD_ROW_CHUNK)) * n_features
        # query chunks run in up to `jobs` threads, each with its own buffers
        query = jobs * (6 * 8 * QUERY_CHUNK_ELEMENTS + 3 * 8 * EXACT_CHUNK_ELEMENTS)
        hot = DenseIndex.estimate_nbytes(
            n_samples, n_features, n_neurons, n_jobs=n_jobs
        )
        transient = transient_nbytes(n_samples, n_neurons, threshold, n_jobs)
        return int(held + max(jobs * per_job, query, hot) + transient)

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
        self._X32 = self.X.astype(np.float32)
        self._w_norms = row_norms(W)
        self._hot = np.zeros(m, dtype=bool)
        self._silent = np.zeros(m, dtype=bool)
        self._tree = np.empty((2 * self.n_leaves_ - 1, n), dtype=np.float32)
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
        rebuild_trees(
            self._tree,
            self.X,
            self.W_,
            self._x_norms,
            self._block_w_norms(),
            self.block_size_,
            self._hot,
            rows,
            self.n_jobs,
        )
        return self

    def _block_w_norms(self):
        # largest cold weight norm of each block (0 for an all-hot block)
        n_blocks = -(-self.W_.shape[0] // self.block_size_)
        starts = np.arange(n_blocks) * self.block_size_
        return np.maximum.reduceat(np.where(self._hot, 0.0, self._w_norms), starts)

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
        blocks, samples = descend(tree, b)
        order = np.lexsort((samples, blocks))
        blocks, samples = blocks[order], samples[order]

        coef = rounding_coefficient(d, "float64")
        block_w = self._block_w_norms()
        leaf0 = self.n_leaves_ - 1
        step = max(1, QUERY_CHUNK_ELEMENTS // bs)
        chunks = [(p0, p0 + step) for p0 in range(0, blocks.size, step)]
        # Chunks touch disjoint (leaf, sample) entries and return their pairs
        # in chunk order, so threads change neither the tree nor the answer.
        # Small products: threaded BLAS only adds synchronization (30x slower
        # measured on 2 busy cores), so each chunk runs BLAS on one thread.
        shared = (tree, X, W, self._hot, bs, leaf0, coef, self._x_norms, block_w, b)
        tasks = [(blocks[c0:c1], samples[c0:c1], *shared) for c0, c1 in chunks]
        with blas_controller().limit(limits=1, user_api="blas"):
            parts = map_threads(_query_chunk, tasks, self.n_jobs)
        if blocks.size:
            refresh_pairs(tree, leaf0 + blocks, samples)
        hot = np.flatnonzero(self._hot & ~self._silent)
        if hot.size:
            # The hot neurons: float32 BLAS filter, exact values over threads.
            rows, cols = dense_candidates(
                self._X32, self._x_norms, W, b, hot, self.n_jobs
            )
            values = exact_preactivations(W, X, rows, cols, self.n_jobs)
            parts.append((rows, cols, values))
            # A hot neuron without candidates fires on no sample, so it stays
            # silent, and out of the filter, until an update changes it.
            has_candidates = np.zeros(m, dtype=bool)
            has_candidates[cols] = True
            self._silent[hot[~has_candidates[hot]]] = True
        if parts:
            rows, cols, values = (np.concatenate(a) for a in zip(*parts))
        else:
            rows = cols = np.zeros(0, np.intp)
            values = np.zeros(0)
        return active_csr(rows, cols, values, b, (n, m))

    # -- updating ----------------------------------------------------------

    def update(self, W, changed, coef=None):
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
        coef : sparse matrix of shape (len(changed), n_samples), default=None
            Implicit weights of the step, ``W[changed] - W_old[changed] ==
            coef @ X``. Validated, not needed.

        Returns
        -------
        action : {"none", "update"}
            ``"none"`` when no neuron changed.
        """
        changed = self._check_update(W, changed)
        n = self.X.shape[0]
        if coef is not None:
            if not (sp.issparse(coef) or isinstance(coef, np.ndarray)):
                raise TypeError("coef must be a scipy sparse matrix or an ndarray.")
            if coef.shape != (changed.size, n):
                raise ValueError(
                    f"coef must have shape ({changed.size}, {n}), got {coef.shape}."
                )
        self.W_ = W
        if changed.size == 0:
            return "none"
        self._ensure_writeable()
        # The hot neurons' norms are not needed: the trees leave them out and
        # the dense filter takes the norms of the weights it reads.
        self._hot[changed] = True
        self._silent[changed] = False
        return "update"

    # -- inspection --------------------------------------------------------

    def get_arrays(self):
        """Arrays of the index, for tests and inspection.

        Returns
        -------
        tree : ndarray of shape (2 * n_leaves_ - 1, n_samples), dtype float32
            Node-major trees (a view: do not modify).
        x_norms : ndarray of shape (n_samples,)
            Sample norms, rounded up.
        w_norms : ndarray of shape (n_neurons,)
            Weight norms, rounded up, as of the build (current for the cold
            neurons, the only ones the trees bound).
        """
        self._check_built()
        return self._tree, self._x_norms, self._w_norms

    @property
    def nbytes(self):
        """Bytes held by the trees, norms, hot mask and float32 rows (not X, W)."""
        if not hasattr(self, "_tree"):
            return 0
        held = (self._tree, self._x_norms, self._w_norms, self._X32)
        held += (self._hot, self._silent)
        return int(sum(a.nbytes for a in held))

    def _ensure_writeable(self):
        # An index unpickled from a joblib memmap (max_nbytes) holds read-only
        # arrays; take private copies before the first write.
        for name in ("_tree", "_x_norms", "_w_norms", "_hot", "_silent"):
            array = getattr(self, name)
            if not array.flags.writeable:
                setattr(self, name, np.array(array))
