"""Active-set indexes: which neurons fire for every training sample.

API: ``index = make_index(kind, X, threshold, n_neurons, n_jobs=n_jobs)``, then
``index.build(W)``, ``active = index.query()`` (csr_array of exact float64
pre-activations ``> threshold``), ``index.update(W_new, changed, coef)`` after a
step and ``index.rebuild(rows)``; ``estimate_index_nbytes`` sizes it beforehand.
"""

import math

from ._base import BaseIndex
from ._dense import DenseIndex
from ._exact import exact_preactivations
from ._index import TreeIndex

__all__ = [
    "BaseIndex",
    "DenseIndex",
    "TreeIndex",
    "estimate_index_nbytes",
    "exact_preactivations",
    "make_index",
]

_KINDS = {"tree": TreeIndex, "dense": DenseIndex}

# "auto" rule, from benchmarks/bench_index.py (n=1000, d=64): the tree pays
# off when a Gauss-Newton step leaves most neurons unchanged, i.e. the expected
# changed fraction 1 - exp(-n k / m) (k = m P(N(0,1) > b) firing neurons per
# unit-norm sample) is at most AUTO_MAX_CHANGED, the layer is wide enough
# (m >= AUTO_MIN_NEURONS) and the trees fit in AUTO_MAX_NBYTES.
AUTO_MAX_CHANGED = 0.5
AUTO_MIN_NEURONS = 2**14
AUTO_MAX_NBYTES = 2 * 2**30


def expected_changed_fraction(n_samples, n_neurons, threshold):
    """Expected fraction of neurons firing for at least one unit-norm sample.

    Parameters
    ----------
    n_samples, n_neurons : int
        Problem sizes.
    threshold : float
        Shift ``b``; with ``w ~ N(0, I)`` and ``||x|| = 1`` a neuron fires with
        probability ``P(N(0, 1) > b)``.

    Returns
    -------
    fraction : float
        ``1 - (1 - p)**n_samples``.
    """
    p = 0.5 * math.erfc(threshold / math.sqrt(2.0))
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
        ``"auto"`` picks ``"tree"`` when the expected fraction of neurons
        changed per step, ``1 - (1 - P(N(0,1) > threshold))**n_samples``, is at
        most ``AUTO_MAX_CHANGED`` (0.5), ``n_neurons >= AUTO_MIN_NEURONS``
        (2**14) and the tree needs at most ``AUTO_MAX_NBYTES`` (2 GiB);
        otherwise ``"dense"``.
    X : ndarray of shape (n_samples, n_features), dtype float64
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
        tree_ok = (
            n_neurons >= AUTO_MIN_NEURONS
            and expected_changed_fraction(n_samples, n_neurons, threshold)
            <= AUTO_MAX_CHANGED
            and estimate_index_nbytes(
                "tree", n_samples, n_features, n_neurons, n_jobs=n_jobs
            )
            <= AUTO_MAX_NBYTES
        )
        kind = "tree" if tree_ok else "dense"
    return _KINDS[kind](X, threshold, n_jobs=n_jobs)
