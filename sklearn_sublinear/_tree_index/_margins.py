"""Rounding margins of the float32 filters.

A filter (float32 or float64 BLAS products, or tree upper bounds) proposes
candidate pairs that the exact routine of ``_exact.py`` then decides; the
margins below make the filter keep every firing pair.

Let ``u = 2**-24`` (float32 unit roundoff), ``v = 2**-53`` (float64) and
``gamma_d(u) = d u / (1 - d u)``. With ``X32 = fl32(X)`` and ``W32 = fl32(W)``
(each entry off by a relative ``u`` at most), any float32 dot product of ``d``
terms (any summation order, with or without FMA) satisfies

    |fl32(<w32, x32>) - <w, x>| <= (gamma_d(u) (1 + u)^2 + 2u + u^2) ||w|| ||x||

and the float64 routine is within ``gamma_d(v) ||w|| ||x||`` of ``<w, x>``.
:func:`rounding_coefficient` returns the sum of both coefficients, widened by
1%, so ``|z32 - exact| <= c ||w|| ||x||`` for every pair; a filter keeps the
pairs with ``z32 > b - c ||w|| ||x||`` and cannot lose a firing pair.
"""

import numpy as np

from ._sparse_rows import is_sparse_rows

_U32 = 2.0**-24
_U64 = 2.0**-53
# Absolute slack for gradual underflow: each of the d products may lose up to
# the smallest float32 subnormal spacing.
_TINY32 = 2.0**-149


def _gamma(d, u):
    du = d * u
    if du >= 0.5:
        raise ValueError(
            f"n_features={d} is too large for a float32 rounding bound; "
            "reduce the number of features."
        )
    return du / (1.0 - du)


def rounding_coefficient(n_features, precision="float32"):
    """Coefficient ``c`` with ``|filter value - exact value| <= c ||w|| ||x||``.

    Parameters
    ----------
    n_features : int
        Length ``d`` of the dot products.
    precision : {"float32", "float64"}, default="float32"
        Precision of the filter: ``"float32"`` for products of float32 copies of
        X and W (storage rounding included), ``"float64"`` for float64 BLAS
        products of the original arrays.

    Returns
    -------
    c : float
        The coefficient, including the error of the exact float64 routine and a
        1% safety widening.
    """
    d = max(int(n_features), 1)
    exact64 = _gamma(d, _U64)
    if precision == "float32":
        u = _U32
        filt = _gamma(d, u) * (1.0 + u) ** 2 + 2.0 * u + u * u
    elif precision == "float64":
        filt = _gamma(d, _U64)
    else:
        raise ValueError(
            f"precision must be 'float32' or 'float64', got {precision!r}."
        )
    return 1.01 * (filt + exact64)


def absolute_slack(n_features):
    """Absolute margin covering float32 underflow of the ``d`` products."""
    return 2.0 * max(int(n_features), 1) * _TINY32


def round_up_float32(values):
    """Float32 array that is ``>=`` the float64 ``values`` entry by entry.

    Round-to-nearest moves a value by at most ``2**-24`` relatively (plus
    ``2**-150`` absolutely in the subnormal range); widening first by ``2**-22``
    relatively and ``2**-140`` absolutely makes the conversion an upward
    rounding. ``-inf`` stays ``-inf``; overflow gives ``+inf``, still a bound.
    """
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        widened = values + np.abs(values) * 2.0**-22 + 2.0**-140
        widened = np.where(np.isneginf(values), -np.inf, widened)
        return widened.astype(np.float32)


def filter_precision(X):
    """Precision of the filter products over the rows ``X``: ``"float64"`` for
    :class:`SparseRows` (products of the stored entries, whose bounds hold
    the centering's rounding too), else ``"float32"``."""
    return "float64" if is_sparse_rows(X) else "float32"


def filter_weights(W, X):
    """The weights as the filter over ``X`` reads them (float32 or float64)."""
    return W if is_sparse_rows(X) else W.astype(np.float32)


def filter_rows(X):
    """The rows as the filter reads them: a float32 copy, or sparse rows as they are."""
    return X if is_sparse_rows(X) else X.astype(np.float32)


def row_norms(A):
    """Euclidean norms of the rows of ``A`` in float64, rounded up slightly.

    For :class:`SparseRows`, the bounds of their values' rounding
    (:meth:`SparseRows.norm_bounds`), which exceed the norms.
    """
    if is_sparse_rows(A):
        return A.norm_bounds()
    A = np.asarray(A)
    norms = np.sqrt(np.einsum("ij,ij->i", A, A, dtype=np.float64))
    # sqrt and the sum of squares are accurate to a few ulps; 1e-12 covers them.
    return norms * (1.0 + 1e-12)
