"""The interface shared by the tree index and its dense brute-force twin.

An *active-set index* answers one question for every training sample ``x_i``:
which neurons ``r`` fire, i.e. have a pre-activation ``<w_r, x_i>`` strictly
greater than the threshold ``b``. The Gauss-Newton solver only talks to this
interface, so it cannot tell a :class:`TreeIndex` from a :class:`DenseIndex`.

Exactness contract
------------------
Both implementations return *identical* answers for identical weights: the
firing decision and the returned pre-activation values come from one shared
float64 routine applied pair by pair (see ``_exact.py``); the float32 structures
an index keeps are only filters, widened by a rigorous rounding margin
(``_margins.py``) so that they never drop a firing pair.
"""

from abc import ABC, abstractmethod

from ._csr import PART_PAIR_BYTES, RESULT_PAIR_BYTES
from ._validation import check_changed, check_data, check_weights


class BaseIndex(ABC):
    """Active sets of a two-layer shifted-ReLU network over fixed training rows.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), dtype float64
        Training rows. Kept by reference and never modified.
    threshold : float
        Shift ``b``: neuron ``r`` fires for sample ``i`` iff ``<w_r, x_i> > b``.
    n_jobs : int, default=None
        Number of jobs for builds and rebuilds (joblib threads).
    """

    def __init__(self, X, threshold, *, n_jobs=None):
        self.X = X
        self.threshold = threshold
        self.n_jobs = n_jobs

    @classmethod
    @abstractmethod
    def estimate_nbytes(cls, n_samples, n_features, n_neurons, **params):
        """Bytes the index would hold for these sizes, computed before allocating."""

    @classmethod
    def query_pair_nbytes(cls, n_samples, n_neurons, *, n_jobs=None):
        """Bytes per firing pair at the peak of a query, beside the buffers of
        :meth:`estimate_nbytes`: the returned matrix and the parts it is
        assembled from (:func:`active_csr`)."""
        return RESULT_PAIR_BYTES + PART_PAIR_BYTES

    @abstractmethod
    def build(self, W):
        """Index weights ``W`` (ndarray (n_neurons, n_features), float64); return self.

        The index keeps a reference to ``W``; callers pass a new array (or the same
        array after :meth:`update`) and never modify it behind the index's back.
        """

    @abstractmethod
    def query(self):
        """Firing neurons of every training sample.

        Returns
        -------
        active : scipy.sparse.csr_array of shape (n_samples, n_neurons)
            Row ``i`` holds the neurons firing for sample ``i`` (sorted column
            indices) with their exact float64 pre-activations ``<w_r, x_i>`` as
            data; every stored value is ``> threshold``.
        """

    @abstractmethod
    def update(self, W, changed):
        """Move the index to new weights where only some neurons changed.

        Parameters
        ----------
        W : ndarray of shape (n_neurons, n_features), float64
            The new weights (all of them), a new array or the previous one
            updated in place. Rows not in ``changed`` equal the previous
            weights exactly.
        changed : ndarray of int
            Sorted, unique indices of the neurons whose rows changed.

        Returns
        -------
        action : str
            What was done, e.g. ``"update"``, ``"none"`` or ``"dense"``, for
            progress logs.
        """

    @abstractmethod
    def rebuild(self, rows=None):
        """Recompute the structures of the samples in ``rows`` (all if None)."""

    @property
    @abstractmethod
    def nbytes(self):
        """Bytes currently held by the index structures (not X or W)."""

    # -- validation shared by the implementations ------------------------------

    def _check_build(self, W):
        """Validate ``X``, the threshold and ``W`` before a build."""
        self.threshold_ = check_data(self.X, self.threshold)
        check_weights(W, self.X.shape[1])

    def _check_built(self):
        if not hasattr(self, "W_"):
            raise ValueError("The index is not built yet; call build(W) first.")

    def _check_update(self, W, changed):
        """Validate the arguments of :meth:`update`; return ``changed`` as intp."""
        self._check_built()
        n_features = self.X.shape[1]
        check_weights(W, n_features, rows=[])
        m = self.W_.shape[0]
        if W.shape[0] != m:
            raise ValueError(
                f"W has {W.shape[0]} neurons, the index was built with {m}."
            )
        changed = check_changed(changed, m)
        check_weights(W, n_features, rows=changed)
        return changed
