"""Layer 1: active-set indexes, which neurons fire for every training sample.

Imports numpy, scipy, joblib (with scikit-learn's ``Parallel``) and the
shared ``_threads`` only. Modules:
``_index`` (:class:`TreeIndex`), ``_dense`` (:class:`DenseIndex`), ``_base``
(their shared interface), ``_max_tree`` and ``_parallel`` (the packed trees
and their rebuilds), ``_exact`` (the routine that decides firing),
``_margins`` (rounding margins of the filters), ``_csr`` (assembly of the
answer) and ``_validation`` (argument checks).

API: ``index = make_index(kind, X, threshold, n_neurons, n_jobs=n_jobs)``, then
``index.build(W)``, ``active = index.query()`` (csr_array of exact float64
pre-activations ``> threshold``), ``index.update(W_new, changed)`` after a
step and ``index.rebuild(rows)``; ``estimate_index_nbytes`` sizes it beforehand.
"""

import math

from ._base import BaseIndex
from ._dense import DenseIndex
from ._exact import exact_preactivations
from ._index import TreeIndex
from ._sparse_rows import is_sparse_rows

__all__ = [
    "BaseIndex",
    "DenseIndex",
    "TreeIndex",
    "estimate_index_nbytes",
    "exact_preactivations",
    "expected_hot_fraction",
    "make_index",
]

_KINDS = {"tree": TreeIndex, "dense": DenseIndex}

# "auto" rule, from benchmarks/bench_index.py and bench_width_scaling.py
# (n=1000, d=64, alpha=0.7, block_size=128, m = 2**14 .. 2**20). The first
# tree query computes about block_size products for each of the
# k = m P(N(0,1) > b) firing neurons of a unit-norm sample (one candidate leaf
# each), a dense query m of them. Later queries recompute the hot neurons,
# which stay within the |U_0| = m (1 - (1 - k/m)^n) neurons firing on some
# training row at initialization (see _index.py). So "auto" takes the tree
# when k * block_size <= AUTO_MAX_WORK * m, |U_0| <= AUTO_MAX_HOT * m, the
# layer is at least AUTO_MIN_NEURONS wide (the smallest width measured) and
# the trees fit in AUTO_MAX_NBYTES.
AUTO_MAX_WORK = 0.25
AUTO_MAX_HOT = 0.5
AUTO_MIN_NEURONS = 2**14
AUTO_MAX_NBYTES = 2 * 2**30


def expected_active(n_neurons, threshold):
    """Expected firing neurons per unit-norm sample when ``w ~ N(0, I)``.

    Parameters
    ----------
    n_neurons : int
        Number of neurons ``m``.
    threshold : float
        Shift ``b``.

    Returns
    -------
    k : float
        ``m P(N(0, 1) > b)``.
    """
    return n_neurons * 0.5 * math.erfc(threshold / math.sqrt(2.0))


def expected_hot_fraction(n_samples, threshold):
    """Expected fraction of neurons firing on at least one of ``n_samples``.

    Parameters
    ----------
    n_samples : int
        Number of unit-norm samples ``n`` (independent directions assumed).
    threshold : float
        Shift ``b``.

    Returns
    -------
    fraction : float
        ``1 - (1 - p)^n`` with ``p = P(N(0, 1) > b)``: the share of neurons a
        Gauss-Newton fit can move, hence the tree index's hot set.
    """
    p = expected_active(1, threshold)
    return -math.expm1(n_samples * math.log1p(-min(p, 1.0 - 1e-16)))


def estimate_index_nbytes(
    kind, n_samples, n_features, n_neurons, *, n_jobs=None, **params
):
    """Peak bytes an index of ``kind`` needs, before allocating anything.

    Parameters
    ----------
    kind : {"tree", "dense"}
        Index type (resolve ``"auto"`` with :func:`make_index` first).
    n_samples, n_features, n_neurons : int
        Problem sizes.
    n_jobs : int, default=None
        Rebuild jobs of a tree index (each holds transient buffers).
    **params : dict
        Index parameters, e.g. ``block_size`` of :class:`TreeIndex`.

    Returns
    -------
    nbytes : int
        Held structures plus transient chunk buffers, excluding X, W and the
        returned activation matrix.
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be 'tree' or 'dense', got {kind!r}.")
    return _KINDS[kind].estimate_nbytes(
        n_samples, n_features, n_neurons, n_jobs=n_jobs, **params
    )


def make_index(kind, X, threshold, n_neurons, *, n_jobs=None):
    """An unbuilt active-set index over the rows of ``X``.

    Parameters
    ----------
    kind : {"auto", "tree", "dense"}
        ``"auto"`` picks ``"tree"`` when the first tree query is expected to
        compute few of the dense products, ``k * block_size <= AUTO_MAX_WORK
        * m`` with ``k = m P(N(0, 1) > threshold)`` firing neurons per
        unit-norm sample, when at most a share ``AUTO_MAX_HOT`` of the neurons
        is expected to fire on some sample (:func:`expected_hot_fraction`),
        when ``n_neurons >= AUTO_MIN_NEURONS`` and when the trees need at most
        ``AUTO_MAX_NBYTES`` (``estimate_index_nbytes``); otherwise
        ``"dense"``.
    X : ndarray of shape (n_samples, n_features), dtype float64, or SparseRows
        Training rows (ideally unit-norm, as the rule assumes).
    threshold : float
        Shift ``b``.
    n_neurons : int
        Number of neurons ``m``.
    n_jobs : int, default=None
        The number of jobs to run in parallel for builds and rebuilds. ``None``
        means 1 unless in a :obj:`joblib.parallel_backend` context. ``-1`` means
        using all processors.

    Returns
    -------
    index : TreeIndex or DenseIndex
        Call ``build(W)`` before querying.
    """
    if kind not in ("auto", "tree", "dense"):
        raise ValueError(f"kind must be 'auto', 'tree' or 'dense', got {kind!r}.")
    if kind == "auto":
        n_samples, n_features = X.shape
        block_size = 128  # TreeIndex's default
        tree_ok = (
            n_neurons >= AUTO_MIN_NEURONS
            and expected_active(n_neurons, threshold) * block_size
            <= AUTO_MAX_WORK * n_neurons
            and expected_hot_fraction(n_samples, threshold) <= AUTO_MAX_HOT
            and estimate_index_nbytes(
                "tree",
                n_samples,
                n_features,
                n_neurons,
                n_jobs=n_jobs,
                sparse=is_sparse_rows(X),
            )
            <= AUTO_MAX_NBYTES
        )
        kind = "tree" if tree_ok else "dense"
    return _KINDS[kind](X, threshold, n_jobs=n_jobs)
