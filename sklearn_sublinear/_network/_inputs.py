"""Preprocessing of the inputs: weighted standardization and unit-length rows."""

import numpy as np
import scipy.sparse as sp
from sklearn.utils.sparsefuncs import min_max_axis

from .._tree_index._sparse_rows import SparseRows, is_sparse_rows

# Mean norm of the linear term's Jacobian rows on uncentered features
# (InputTransform.affine_scale): against 1, the same test accuracy on the
# text corpora and fewer CG iterations per step on wide rows
# (benchmarks/bench_sparse.py, keys "text" / "means" and "memory" /
# "cg_iterations_per_step").
LINEAR_ROW_NORM = 0.5

# Boundary point masses of dense columns (``boundary_gaps``): an end value of a
# column holding at least ATOM_SHARE of the weight, whose nearest other value
# lies closer than ATOM_GAP times the other values' mean distance from it (a
# mass at the edge of a continuous spread: zero hours worked, zero earnings).
# Both were set on the real-table suite (benchmarks/bench_real_tables.py): the
# only such column there (PSID's hours, ratio 0.004) is 25x below ATOM_GAP,
# the nearest other end value (counts and years) 2x above it.
ATOM_SHARE = 0.05
ATOM_GAP = 0.05


def canonical_csr(X, dtype=None):
    """``X`` as a csr array with sorted indices and no duplicates; ``X`` itself
    is never changed.

    ``sum_duplicates`` works in place, and a csr array made from ``X`` shares
    its index arrays: on a copy of the data with ``X``'s indices, it would
    leave ``X`` with sorted indices and its data in the old order (other
    values in other columns). A canonical ``X`` (the usual case) is not copied.
    """
    X = sp.csr_array(X, dtype=dtype)
    if not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()
    return X


def weighted_mean_scale(X, sample_weight, name="X"):
    """Weighted mean and standard deviation of the columns of ``X``.

    Deviations are divided by their largest magnitude before squaring, so that
    columns of any scale (1e-200 or 1e200) neither underflow nor overflow. A
    column whose weighted values are equal, or spread by a few units in the
    last place of their largest magnitude, is constant: its scale is set to 1.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_columns)
        Values.
    sample_weight : ndarray of shape (n_samples,)
        Non-negative weights with a positive sum.
    name : str, default="X"
        Name of ``X`` in the error message.

    Returns
    -------
    mean, scale : ndarray of shape (n_columns,)
        Weighted mean and standard deviation (1 for constant columns).
    constant : ndarray of bool of shape (n_columns,)
        The constant columns.
    """
    if sp.issparse(X):
        return _sparse_mean_scale(sp.csr_array(X), sample_weight, name)
    sw = sample_weight / np.sum(sample_weight)
    mean = sw @ X
    # Rows of weight zero take no part, however large they are.
    weighted = sw > 0
    with np.errstate(over="ignore", invalid="ignore"):
        sw, Xw = sw[weighted], X[weighted]
        dev = Xw - mean
        peak = np.max(np.abs(dev), axis=0)
        unit = np.where(peak > 0, peak, 1.0)
        scale = peak * np.sqrt(sw @ (dev / unit) ** 2)
        # The spread around the mean corrected by a second pass, so that the
        # first mean's rounding error (up to n eps |mean|) is not taken for
        # spread.
        centered = dev / unit
        centered -= sw @ centered
        spread = peak * np.sqrt(sw @ centered**2)
    if not np.all(np.isfinite(scale)):
        raise ValueError(
            f"The spread of some columns of {name} around their mean exceeds the "
            f"float64 range; rescale {name} (e.g. divide it by its largest value)."
        )
    # A column is constant if its weighted values are equal, or spread by a
    # few units in the last place of its largest value (rounding), whatever
    # the number of rows: a target of 1e13 plus a signal of unit spread is
    # not constant.
    eps = np.finfo(X.dtype if X.dtype.kind == "f" else np.float64).eps
    tiny = 4 * eps * np.max(np.abs(Xw), axis=0, initial=0.0)
    constant = (np.ptp(Xw, axis=0) == 0) | (spread <= tiny)
    scale[constant] = 1.0
    return mean, scale, constant


def _sparse_mean_scale(X, sample_weight, name):
    """:func:`weighted_mean_scale` of a csr array, from its stored entries.

    The spread is summed as ``sum_stored w (x - mu)^2 + mu^2 sum_unstored w``
    per column: no difference of large sums, and the unstored entries cost
    one product per column.
    """
    sw = sample_weight / np.sum(sample_weight)
    X = X[sw > 0] if np.any(sw == 0) else X
    sw = sw[sw > 0]
    X = canonical_csr(X, dtype=np.float64)
    d = X.shape[1]
    mean = X.T @ sw
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    cols = X.indices
    with np.errstate(over="ignore", invalid="ignore"):
        stored_sq = np.bincount(
            cols, weights=sw[rows] * (X.data - mean[cols]) ** 2, minlength=d
        )
        stored_w = np.bincount(cols, weights=sw[rows], minlength=d)
        spread = np.sqrt(stored_sq + mean**2 * np.maximum(1.0 - stored_w, 0.0))
    if not np.all(np.isfinite(spread)):
        raise ValueError(
            f"The spread of some columns of {name} around their mean exceeds the "
            f"float64 range; rescale {name} (e.g. divide it by its largest value)."
        )
    low, high = min_max_axis(X, axis=0)
    eps = np.finfo(np.float64).eps
    tiny = 4 * eps * np.maximum(np.abs(low), np.abs(high))
    constant = (high == low) | (spread <= tiny)
    scale = np.where(constant, 1.0, spread)
    return mean, scale, constant


def boundary_sums(X, sample_weight, ends):
    """Weighted sums about each column's end values, over rows of positive
    weight; they add up over blocks of rows.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_columns)
        Dense values.
    sample_weight : ndarray of shape (n_samples,)
        Non-negative weights.
    ends : ndarray of shape (2, n_columns)
        The smallest and largest value of each column (over all rows of
        positive weight).

    Returns
    -------
    sums : ndarray of shape (2, 3, n_columns)
        For the smallest (``[0]``) and largest (``[1]``) value: the weight at
        it, the weight of the other values and their weighted distance from
        it.
    nearest : ndarray of shape (2, n_columns)
        The distance from each end value to the nearest other value (``inf``
        if none).
    """
    weighted = sample_weight > 0
    X, sw = X[weighted], sample_weight[weighted]
    sums = np.empty((2, 3, X.shape[1]))
    nearest = np.empty((2, X.shape[1]))
    for side in range(2):
        # distances beyond the float64 range are inf: no gap (boundary_gaps)
        with np.errstate(over="ignore", invalid="ignore"):
            distance = np.abs(X - ends[side])
            at = distance == 0
            sums[side, 0] = sw @ at
            sums[side, 1] = sw @ ~at
            sums[side, 2] = sw @ distance
        nearest[side] = np.min(np.where(at, np.inf, distance), axis=0, initial=np.inf)
    return sums, nearest


def boundary_gaps(sums, nearest, total_weight):
    """The shifts that move a column's values away from an end point mass.

    An end value of a column holding at least ``ATOM_SHARE`` of the weight,
    with the nearest other value closer than ``ATOM_GAP`` times the other
    values' mean distance from it, is a point mass at the edge of a continuous
    spread. Such a column often jumps there (no hours worked, no earnings),
    which standardized inputs show as a step over a tiny distance; the gap
    between the point mass and the other values is widened by their mean
    distance from it (:func:`widen_gaps`). Columns whose distances exceed the
    float64 range get no gap.

    Parameters
    ----------
    sums, nearest : ndarray
        The results of :func:`boundary_sums`, summed and minimized over blocks
        of rows.
    total_weight : float
        Total weight of the rows.

    Returns
    -------
    gaps : ndarray of shape (2, n_columns)
        The widening of the gap after the smallest (``[0]``) and before the
        largest (``[1]``) value; 0 where the end is not such a point mass.
    """
    at, rest, distance = sums[:, 0], sums[:, 1], sums[:, 2]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        mean_distance = np.where(rest > 0, distance / rest, 0.0)
    mass = (at >= ATOM_SHARE * total_weight) & (rest > 0)
    mass &= np.isfinite(mean_distance)
    mass &= nearest < ATOM_GAP * mean_distance
    return np.where(mass, mean_distance, 0.0)


def widen_gaps(X, ends, gaps):
    """``X`` with the gaps at the end point masses widened.

    The values above a column's smallest value ``lo`` rise by ``gaps[0]``,
    and those at or above its largest value ``hi`` by ``gaps[1]``:
    ``x + gaps[0] [x > lo] + gaps[1] [x >= hi]``, an increasing map, so the
    order of the values holds with point masses at both ends, and new values
    beyond ``hi`` keep their distance to it. A copy; ``X`` itself if ``gaps``
    is None or no column has a gap.
    """
    if gaps is None:
        return X
    columns = np.flatnonzero(np.any(gaps > 0, axis=0))
    if columns.size == 0:
        return X
    X = np.array(X, dtype=np.float64)
    for j in columns:
        x = X[:, j]
        x += gaps[0, j] * (x > ends[0, j]) + gaps[1, j] * (x >= ends[1, j])
    return X


def weighted_max_abs(X, sample_weight):
    """Largest magnitude of each column of ``X`` over the rows of positive weight.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_columns)
        Values.
    sample_weight : ndarray of shape (n_samples,)
        Non-negative weights with a positive sum.

    Returns
    -------
    scale : ndarray of shape (n_columns,)
        The largest magnitudes, 1 for columns that are zero on those rows.
    """
    weighted = sample_weight > 0
    if sp.issparse(X):
        X = sp.csr_array(X)
        X = X if np.all(weighted) else X[weighted]
        low, high = min_max_axis(X, axis=0)
        peak = np.maximum(np.abs(low), np.abs(high))
    else:
        peak = np.max(np.abs(X[weighted]), axis=0, initial=0.0)
    peak = np.asarray(peak, dtype=np.float64)
    return np.where(peak > 0, peak, 1.0)


def column_ends(X, sample_weight):
    """Smallest and largest value of each column of ``X`` over the rows of
    positive weight, shape (2, n_columns); over blocks of rows, their minimum
    and maximum."""
    rows = X[sample_weight > 0]
    return np.stack(
        [np.min(rows, axis=0, initial=np.inf), np.max(rows, axis=0, initial=-np.inf)]
    )


def point_masses(ends, sums, nearest, total_weight):
    """``(ends, gaps)`` of :func:`boundary_gaps`, or ``(None, None)`` if no
    column has an end point mass."""
    gaps = boundary_gaps(sums, nearest, total_weight)
    if not np.any(gaps > 0):
        return None, None
    return ends, gaps


def _point_masses(X, sample_weight):
    """The end values of the columns of ``X`` and the gaps of
    :func:`boundary_gaps` (None, None if no column has one)."""
    ends = column_ends(X, sample_weight)
    return point_masses(
        ends, *boundary_sums(X, sample_weight, ends), np.sum(sample_weight)
    )


class InputTransform:
    """Weighted input scaling, a constant bias coordinate, unit-length rows.

    ``x' = [(x - mu) / sigma, 1] / ||[(x - mu) / sigma, 1]||``. With
    ``scaling="standard"``, ``mu`` and ``sigma`` are the weighted mean and
    standard deviation of the training rows (a zero ``sigma`` is replaced by
    1), and on dense rows the gap between a column's end point mass and its
    other values is first widened (:func:`boundary_gaps`); with ``"maxabs"``,
    ``mu = 0`` and ``sigma`` is the largest magnitude of the column on the
    training rows of positive weight (scikit-learn's ``MaxAbsScaler``: zeros
    stay zero and no rare column is magnified beyond 1); with ``"none"``,
    ``mu = 0`` and ``sigma = 1``. Sparse inputs stay sparse: their rows are
    :class:`SparseRows`, the same rows with the centering folded into the
    products. Rows of ``x'`` have unit norm, as the
    method's analysis assumes, and the bias coordinate lets a neuron's hyperplane
    leave the origin. Weights only enter through weighted means, so integer
    weights are equivalent to repeated rows and zero weights have no effect.

    Parameters
    ----------
    scaling : {"standard", "maxabs", "none"}, default="standard"
        How the columns are scaled.
    """

    def __init__(self, scaling="standard"):
        self.scaling = scaling

    def fit(self, X, sample_weight):
        """Learn ``mu``, ``sigma`` and the weighted mean norm of the rows.

        ``ends_`` and ``gaps_`` hold the columns' end values and the shifts of
        :func:`boundary_gaps` (both None if no column has an end point mass).
        ``norm_mean_`` is the weighted mean of ``||[(x - mu) / sigma, 1]||``
        over the rows of ``X``, the ``norm_scale`` of a homogeneous network.
        """
        self.ends_ = self.gaps_ = None
        if self.scaling == "standard" and not sp.issparse(X):
            self.ends_, self.gaps_ = _point_masses(X, sample_weight)
            X = widen_gaps(X, self.ends_, self.gaps_)
        if self.scaling == "standard":
            self.mean_, self.scale_, _ = weighted_mean_scale(X, sample_weight)
        elif self.scaling == "maxabs":
            self.mean_ = np.zeros(X.shape[1])
            self.scale_ = weighted_max_abs(X, sample_weight)
        elif self.scaling == "none":
            self.mean_, self.scale_ = np.zeros(X.shape[1]), np.ones(X.shape[1])
        else:
            raise ValueError(
                f"scaling must be 'standard', 'maxabs' or 'none', got {self.scaling!r}."
            )
        # The transform's bias coordinate x'[-1] is 1 / ||u||.
        rows = self._transform_widened(X)
        norms = 1.0 / (rows.bias if is_sparse_rows(rows) else rows[:, -1])
        self.norm_mean_ = float(sample_weight @ norms / np.sum(sample_weight))
        return self

    def affine_scale(self):
        """Scale of the linear term's Jacobian rows in the solver (the
        ``affine_scale`` of :class:`TwoLayerNetwork`).

        ``LINEAR_ROW_NORM / norm_mean_`` for uncentered scalings
        (``"maxabs"``, ``"none"``), so that the affine rows ``[1, u_i]`` get
        a mean norm of ``LINEAR_ROW_NORM``, about that of the network's unit
        rows: on wide rows (text) ``||u_i||`` is large, and the linear term's
        Gram, with its spread spectrum, would otherwise outweigh the
        network's and slow the conjugate gradients. 1 for ``"standard"``,
        with which those fits were tuned (``benchmarks/bench_real_tables.py``).
        """
        if self.scaling == "standard":
            return 1.0
        return LINEAR_ROW_NORM / self.norm_mean_

    def transform(self, X):
        """Return the preprocessed rows, float64 of shape (n, n_features + 1).

        :class:`SparseRows` for a sparse ``X``.
        """
        if sp.issparse(X):
            return self._transform_sparse(X)
        X = widen_gaps(X, getattr(self, "ends_", None), getattr(self, "gaps_", None))
        return self._transform_widened(X)

    def _transform_widened(self, X):
        if sp.issparse(X):
            return self._transform_sparse(X)
        n = X.shape[0]
        out = np.empty((n, X.shape[1] + 1), dtype=np.float64)
        np.subtract(X, self.mean_, out=out[:, :-1])
        out[:, :-1] /= self.scale_
        out[:, -1] = 1.0
        with np.errstate(over="ignore"):
            norms = np.linalg.norm(out, axis=1, keepdims=True)
        far = ~np.isfinite(norms[:, 0])
        if np.any(far):
            # Rows beyond about 1e154 standard deviations: their sum of
            # squares overflows, so they are scaled by their largest entry
            # before their norm is taken.
            rows = out[far]
            if not np.all(np.isfinite(rows)):
                raise ValueError(
                    "X has values too far from the training data: standardized, "
                    "they exceed the float64 range."
                )
            rows /= np.max(np.abs(rows), axis=1, keepdims=True)
            out[far] = rows
            norms[far] = np.linalg.norm(rows, axis=1, keepdims=True)
        out /= norms
        return out

    def _transform_sparse(self, X):
        X = canonical_csr(X)
        Z = sp.csr_array(
            (X.data / self.scale_[X.indices], X.indices, X.indptr), shape=X.shape
        )
        rows = SparseRows(Z, self.mean_ / self.scale_, np.ones(X.shape[0]))
        with np.errstate(over="ignore", invalid="ignore"):
            norms = np.sqrt(rows.centered_squared_norms())
        if not np.all(np.isfinite(norms)) or not np.all(np.isfinite(Z.data)):
            raise ValueError(
                "X has values too far from the training data: standardized, "
                "they exceed the float64 range."
            )
        rows.scale = 1.0 / norms
        return rows
