"""Validation of the arrays given to an index (training rows, weights, changes)."""

import numpy as np

from ._sparse_rows import is_sparse_rows


def check_data(X, threshold):
    """Validate the training rows and threshold given to an index."""
    if is_sparse_rows(X):
        X.check()
        return _check_threshold(threshold)
    if not isinstance(X, np.ndarray) or X.ndim != 2:
        raise ValueError(
            "X must be a 2-D numpy array of shape (n_samples, n_features), got "
            f"{type(X).__name__} with shape {getattr(X, 'shape', None)}."
        )
    if X.dtype != np.float64:
        raise TypeError(f"X must have dtype float64, got {X.dtype}.")
    threshold = _check_threshold(threshold)
    if X.size and not np.abs(X).max() < 2.0**100:
        raise ValueError("X must be finite with entries below 2**100 in magnitude.")
    return threshold


def _check_threshold(threshold):
    threshold = float(threshold)
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold}.")
    return threshold


# Bytes of the rows of W checked at a time when only some rows are: bounded
# gathers, whatever the width.
CHECK_CHUNK_BYTES = 2**22


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
        chunk = max(1, CHECK_CHUNK_BYTES // (8 * n_features))
        ok = all(_bounded(W[rows[s : s + chunk]]) for s in range(0, rows.size, chunk))
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
