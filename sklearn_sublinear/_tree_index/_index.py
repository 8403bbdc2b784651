"""TreeIndex: every training sample's max-tree over blocks of neurons."""

import numpy as np
import scipy.sparse as sp
from joblib import effective_n_jobs
from sklearn.utils.parallel import Parallel, delayed

from ._base import BaseIndex
from ._exact import (
    _U64,
    EXACT_CHUNK_ELEMENTS,
    _gamma,
    active_csr,
    exact_preactivations,
    round_up_float32,
    rounding_coefficient,
    row_norms,
    transient_nbytes,
)
from ._max_tree import descend, refresh_pairs, refresh_rows, tree_shape
from ._parallel import (
    REBUILD_CHUNK_BYTES,
    REBUILD_ROW_CHUNK,
    rebuild_trees,
)

try:
    from sklearn.utils.parallel import _get_threadpool_controller as _blas_controller
except ImportError:  # pragma: no cover - scikit-learn < 1.6.1
    from threadpoolctl import ThreadpoolController

    _blas_controller = ThreadpoolController

# Float64 entries of the (candidate pairs, block_size) buffers of one query step.
QUERY_CHUNK_ELEMENTS = 2**20
# Float64 entries of the (blocks, samples) buffer of one update step.
UPDATE_CHUNK_ELEMENTS = 2**22

# Update policy, measured with benchmarks/bench_index.py and a sweep of the
# changed fraction (n=1000, d=64, alpha=0.7, block_size=64, 2 shared cores):
# - Small Gauss-Newton-like moves (||Δw|| ~ 1/sqrt(m)) barely loosen the norm
#   bound: at m=2**18, updating 5..90% of the neurons took 0.15-0.39 s plus a
#   0.17 s query, against 1.6 s rebuild + 0.35 s query. So the norm bound has
#   no changed-fraction limit; only its looseness triggers a rebuild.
# - Large moves (||Δw|| ~ 0.4): at m=2**17 the next query cost
#   0.12 s + 1.6 s * f for a fraction f of leaves above b (f=0.11: 0.26 s,
#   f=0.22: 0.46 s), against 0.64 s rebuild + 0.12 s query: crossover
#   f ~ 0.4, hence REBUILD_LOOSE_FRACTION (a bit below, the query also
#   allocates per candidate), applied to the leaves the update lifted above b
#   (tight trees may already have many leaves above b when k m / n_leaves is
#   large, and rebuilding cannot lower those).
# - The exact bound costs |U| n float64 products in one BLAS call; at m=2**18
#   with 20% of the neurons changed it already took 1.25 s, close to a
#   rebuild (float32, all neurons): above REBUILD_CHANGED_FRACTION of changed
#   neurons an update that would use the exact bound rebuilds instead.
# - A candidate leaf costs a query block_size products in small per-block
#   BLAS calls, about 5x the cost of a product in the exact bound's large
#   call: AUTO_EXACT_RATIO = 1/5.
#
# Query and update at large width, measured side by side against the previous
# code on one state (n=1000, d=64, alpha=0.7, m=2**20, block_size=128, W with
# ~650 firing neurons per sample as after the first steps, n_jobs=2):
# - Query 1.34 -> 0.84 s (medians of 4): the candidate chunks (per-block BLAS
#   products, leaf tightening and the exact values of their pairs) run in
#   joblib threads, each with single-threaded BLAS; chunks write disjoint
#   leaf entries and their pairs are concatenated in chunk order.
# - A smaller block size does not pay once the chunks are threaded: query
#   0.85 s at block_size=128, 0.82-0.90 s at 64, 1.0 s at 32, 1.2 s at 16
#   (the candidate pairs stay ~n k, the per-block calls multiply and the
#   descent deepens), so block_size stays 128 (memory 8 n m / 128 = 64 MiB).
# - Update with the exact bound, 35k changed neurons over nearly all blocks:
#   0.49 -> 0.28 s, by taking block maxima before clipping and adding the
#   rounding terms (see the exact branch of ``update``).
# - Whole fits, benchmarks/bench_width_scaling.py at m=2**20 (medians over
#   iterations 2..6, previous code then this one, back to back): tree
#   2.68 -> 1.80 s per iteration (query 1.72 -> 1.05 s, update 0.53 ->
#   0.28 s); dense 2.50 / 2.56 s. Results in benchmarks/results/
#   bench_width_scaling_m20_{before_,}index_speedups.json.
REBUILD_CHANGED_FRACTION = 0.25
REBUILD_LOOSE_FRACTION = 0.3
AUTO_EXACT_RATIO = 0.2


def _query_chunk(bl, sa, tree, X, W, bs, leaf0, coef, x_norms, block_w, b):
    """Exact products of the candidate pairs ``(bl, sa)``, sorted by block.

    Tightens their leaves in place and returns the ``(sample, neuron)`` pairs
    whose float64 BLAS product is above ``b`` minus its rounding margin, with
    their exact pre-activations.
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


def _run_max(values, starts):
    """Row-wise max of the runs of rows ``values[starts[j]:starts[j + 1]]``.

    Same result as ``np.maximum.reduceat(values, starts, axis=0)``, run by
    run position instead of run by run: with a few rows per run (changed
    neurons per block) this was 1.7x faster (32 -> 19 ms for 4194 x 1000).
    """
    lens = np.diff(np.append(starts, values.shape[0]))
    out = values[starts]
    for j in range(1, int(lens.max(initial=1))):
        sel = np.flatnonzero(lens > j)
        out[sel] = np.maximum(out[sel], values[starts[sel] + j])
    return out


class TreeIndex(BaseIndex):
    """Per-sample max-trees of upper bounds over blocks of neurons.

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
    update_bound : {"auto", "norm", "exact"}, default="auto"
        How :meth:`update` loosens the leaves of changed blocks: by
        ``||Δw_r|| ||x_i||`` (Cauchy-Schwarz, ``O(n)`` per block) or by the
        exact ``max(<Δw_r, x_i>, 0)`` (``O(n d)`` per changed neuron).
        ``"auto"`` counts the leaves the norm bound would lift above the
        threshold and takes the exact bound when the query work they cause
        exceeds ``AUTO_EXACT_RATIO`` times the exact bound's cost.
    n_jobs : int, default=None
        The number of jobs to run in parallel for builds and rebuilds (joblib
        threads over blocks of samples). ``None`` means 1 unless in a
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

    Notes
    -----
    Leaf ``(j, i)`` holds a float32 upper bound of ``max_{r in block j}
    <w_r, x_i>`` and internal nodes hold the max of their children (layout
    and costs in ``_max_tree.py``). A query descends, level by level and for
    all samples at once, into nodes above ``b``; candidate blocks get their
    products in float64, which tightens the leaf to the block max (lazy
    tightening), and the surviving pairs are decided by the shared exact
    routine, so the answer equals :class:`DenseIndex`'s bit for bit.

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

    def __init__(
        self, X, threshold, *, block_size=128, update_bound="auto", n_jobs=None
    ):
        super().__init__(X, threshold, n_jobs=n_jobs)
        self.block_size = block_size
        self.update_bound = update_bound

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
            The tree array and norms held, plus the largest transient buffers
            (per-job rebuild products and float32 weight chunks, per-job
            query step and exact-value buffers, or the update step buffers,
            whichever is larger) and the exact routine's buffers.
        """
        n_leaves, bs = tree_shape(n_neurons, block_size)
        held = 4 * (2 * n_leaves - 1) * n_samples + 8 * n_samples + 8 * n_neurons
        held += 8 * n_leaves
        jobs = effective_n_jobs(n_jobs)
        per_job = 2 * REBUILD_CHUNK_BYTES + 4 * REBUILD_ROW_CHUNK * n_features
        per_job += 4 * (REBUILD_CHUNK_BYTES // (4 * REBUILD_ROW_CHUNK)) * n_features
        # query chunks run in up to `jobs` threads, each with its own buffers
        query = jobs * (6 * 8 * QUERY_CHUNK_ELEMENTS + 3 * 8 * EXACT_CHUNK_ELEMENTS)
        update = 3 * 8 * UPDATE_CHUNK_ELEMENTS
        transient = transient_nbytes(n_samples, n_neurons, threshold)
        return int(held + max(jobs * per_job, query, update) + transient)

    # -- building ----------------------------------------------------------

    def build(self, W):
        """Index weights ``W`` and build every sample's tree; return self.

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
        if self.update_bound not in ("auto", "norm", "exact"):
            raise ValueError(
                "update_bound must be 'auto', 'norm' or 'exact', got "
                f"{self.update_bound!r}."
            )
        if not isinstance(self.block_size, (int, np.integer)) or self.block_size < 1:
            raise ValueError(
                f"block_size must be a positive integer, got {self.block_size!r}."
            )
        n = self.X.shape[0]
        m = W.shape[0]
        self.n_leaves_, self.block_size_ = tree_shape(m, int(self.block_size))
        self.W_ = W
        self._x_norms = row_norms(self.X)
        self._w_norms = row_norms(W)
        self._tree = np.empty((2 * self.n_leaves_ - 1, n), dtype=np.float32)
        self.rebuild()
        return self

    def rebuild(self, rows=None):
        """Recompute the trees of the samples ``rows`` from scratch.

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
            rows,
            self.n_jobs,
        )
        return self

    def _block_w_norms(self):
        n_blocks = -(-self.W_.shape[0] // self.block_size_)
        starts = np.arange(n_blocks) * self.block_size_
        return np.maximum.reduceat(self._w_norms, starts)

    # -- querying ----------------------------------------------------------

    def query(self):
        """Firing neurons of every training sample.

        Candidate leaves are tightened to their exact block max as a side
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
        n_jobs = min(effective_n_jobs(self.n_jobs), len(chunks))
        shared = (tree, X, W, bs, leaf0, coef, self._x_norms, block_w, b)
        with _blas_controller().limit(limits=1, user_api="blas"):
            if n_jobs > 1:
                parts = Parallel(n_jobs=n_jobs, require="sharedmem")(
                    delayed(_query_chunk)(blocks[c0:c1], samples[c0:c1], *shared)
                    for c0, c1 in chunks
                )
            else:
                parts = [
                    _query_chunk(blocks[c0:c1], samples[c0:c1], *shared)
                    for c0, c1 in chunks
                ]
        if blocks.size:
            refresh_pairs(tree, leaf0 + blocks, samples)
        if parts:
            rows, cols, values = (np.concatenate(a) for a in zip(*parts))
        else:
            rows = cols = np.zeros(0, np.intp)
            values = np.zeros(0)
        return active_csr(rows, cols, values, b, (n, m))

    # -- updating ----------------------------------------------------------

    def update(self, W, changed, coef=None):
        """Move the index to new weights where only the ``changed`` rows moved.

        Parameters
        ----------
        W : ndarray of shape (n_neurons, n_features), dtype float64
            The new weights. Rows not in ``changed`` equal the previous ones.
            Without ``coef``, ``W`` must be a new array: the previous weights
            (still referenced by the index) give ``Δw``.
        changed : ndarray of int
            Sorted unique indices of the changed neurons.
        coef : sparse matrix of shape (len(changed), n_samples), default=None
            Implicit weights, ``W[changed] - W_old[changed] == coef @ X``; then
            ``W`` may be the previous array modified in place.

        Returns
        -------
        action : {"none", "update", "rebuild"}
            ``"rebuild"`` when the exact bound would be used for more than
            ``REBUILD_CHANGED_FRACTION`` of the neurons, or when the loosened
            bounds lifted more than ``REBUILD_LOOSE_FRACTION`` of the leaves
            above the threshold (policy and measurements at the top of this
            module).
        """
        changed = self._check_update(W, changed)
        X = self.X
        n, d = X.shape
        m = self.W_.shape[0]
        if coef is None and W is self.W_ and changed.size:
            raise ValueError(
                "update got the indexed weight array itself and no coef: pass a "
                "new array for W, or the implicit weights coef."
            )
        if coef is not None:
            if not (sp.issparse(coef) or isinstance(coef, np.ndarray)):
                raise TypeError("coef must be a scipy sparse matrix or an ndarray.")
            if coef.shape != (changed.size, n):
                raise ValueError(
                    f"coef must have shape ({changed.size}, {n}), got {coef.shape}."
                )
        if changed.size == 0:
            self.W_ = W
            return "none"

        W_new = W[changed]
        w_new = row_norms(W_new)
        if coef is None:
            dW = W_new - self.W_[changed]
            # the subtraction is exact up to one rounding: covered by the 1e-12
            # widening of row_norms
            d_err = np.zeros(changed.size)
        else:
            dW = np.asarray(coef @ X)
            # The caller stored W_new = fl(W_old + coef @ X) (or reverted a
            # step, W_new = W_old - fl(coef @ X) exactly): bound the rounding of
            # the product and of the stored sum, u |W_new| or u |W_old|.
            abs_prod = np.asarray(abs(coef) @ np.abs(X))
            k = int(np.max(np.diff(sp.csr_array(coef).indptr), initial=0)) + 1
            d_err = _gamma(k, _U64) * row_norms(abs_prod)
            d_err += 2 * _U64 * (w_new + self._w_norms[changed])
        # The leaves bound the float64 routine's value, which is within
        # gamma_d ||w|| ||x|| of the real product, for old and new weights.
        g = 1.01 * _gamma(d, _U64)
        rounding = d_err + g * (self._w_norms[changed] + w_new)
        per_x = row_norms(dW) + rounding

        bs = self.block_size_
        blk = changed // bs
        tb, first = np.unique(blk, return_index=True)
        leaf0 = self.n_leaves_ - 1
        self._ensure_writeable()
        tree = self._tree
        above_before = np.count_nonzero(tree[leaf0:] > self.threshold_)
        inc_block = np.maximum.reduceat(per_x, first)
        step = max(1, UPDATE_CHUNK_ELEMENTS // n)
        bound = self.update_bound
        if bound == "auto":
            # Leaves the norm bound would newly lift above b each cost the next
            # query block_size products; the exact bound costs |U| n products.
            # Estimated on about 256 evenly spaced samples, with the largest
            # sample norm: it only steers the choice of bound.
            b = self.threshold_
            floor = b - inc_block * self._x_norms.max(initial=0.0)
            stride = max(1, n // 256)
            crossing = 0
            for t0 in range(0, tb.size, step):
                old = tree[leaf0 + tb[t0 : t0 + step], ::stride]
                above = np.count_nonzero(old > floor[t0 : t0 + step, None])
                crossing += (above - np.count_nonzero(old > b)) * stride
            exact_cost = changed.size * n
            lifted = crossing * bs
            bound = "exact" if AUTO_EXACT_RATIO * exact_cost < lifted else "norm"
        if bound == "exact" and changed.size > REBUILD_CHANGED_FRACTION * m:
            return self._rebuild_all(W)
        if bound == "norm":
            for t0 in range(0, tb.size, step):
                nodes = leaf0 + tb[t0 : t0 + step]
                inc = inc_block[t0 : t0 + step, None] * self._x_norms
                tree[nodes] = round_up_float32(tree[nodes] + inc)
        else:
            step = max(bs, (UPDATE_CHUNK_ELEMENTS // n) // bs * bs)
            # process whole groups of changed neurons that end at block borders
            bounds = np.append(first, changed.size)
            g0 = 0
            while g0 < tb.size:
                g1 = int(np.searchsorted(bounds, bounds[g0] + step, side="right"))
                g1 = max(g1 - 1, g0 + 1)
                r0, r1 = bounds[g0], bounds[g1]
                delta = dW[r0:r1] @ X.T
                # max_r (max(δ_ri, 0) + e_r ||x_i||) <= max(max_r δ_ri, 0) +
                # (max_r e_r) ||x_i||: the clipping and the error terms apply
                # to the (blocks, samples) maxima, not to every (neuron,
                # sample) product (with _run_max, 60 -> 34 ms per
                # (4194, 1000) chunk, ~4 changed neurons per block).
                cuts = first[g0:g1] - r0
                inc = _run_max(delta, cuts)
                del delta
                np.maximum(inc, 0.0, out=inc)
                err = g * row_norms(dW[r0:r1]) + rounding[r0:r1]
                inc += np.maximum.reduceat(err, cuts)[:, None] * self._x_norms
                nodes = leaf0 + tb[g0:g1]
                tree[nodes] = round_up_float32(tree[nodes] + inc)
                g0 = g1
        refresh_rows(tree, leaf0 + tb)

        self.W_ = W
        self._w_norms[changed] = w_new
        leaves = tree[leaf0:]
        lifted = np.count_nonzero(leaves > self.threshold_) - above_before
        if lifted > REBUILD_LOOSE_FRACTION * leaves.size:
            return self._rebuild_all(W)
        return "update"

    def _rebuild_all(self, W):
        self.W_ = W
        self._w_norms = row_norms(W)
        self.rebuild()
        return "rebuild"

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
            Weight norms, rounded up.
        """
        self._check_built()
        return self._tree, self._x_norms, self._w_norms

    @property
    def nbytes(self):
        """Bytes held by the trees and norms (not X or W)."""
        if not hasattr(self, "_tree"):
            return 0
        return int(self._tree.nbytes + self._x_norms.nbytes + self._w_norms.nbytes)

    def _ensure_writeable(self):
        # An index unpickled from a joblib memmap (max_nbytes) holds read-only
        # arrays; take private copies before the first write.
        for name in ("_tree", "_x_norms", "_w_norms"):
            array = getattr(self, name)
            if not array.flags.writeable:
                setattr(self, name, np.array(array))
