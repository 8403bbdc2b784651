"""The damping chosen from the data: generalized cross-validation (GCV).

A damped Gauss-Newton step is a ridge regression in sample space: with the
whitened working response ``z = -D^(-1/2) diag(s) g`` (for the squared loss,
the weighted residuals ``sqrt(s) (y - f)``) and ``B = D^(1/2) G D^(1/2)``, the
step changes the whitened outputs by ``H z`` with the hat matrix
``H = B (B + lam I)^-1``, and leaves the residual ``(I - H) z``. Generalized
cross-validation (Craven and Wahba, 1979; Golub, Heath and Wahba, 1979)
estimates the held-out error of that fit without refitting,

    GCV(lam) = ||(I - H) z||^2 / (1 - trace(H) / N)^2,

with ``N`` the total sample weight (the number of rows, without weights, so
that integer weights count as repeated rows). From one eigendecomposition
``B = V diag(e) V^T``, with ``p = V^T z``, the whole path is cheap:
``||(I - H) z||^2 = sum_k (lam / (e_k + lam))^2 |p_k|^2`` and
``trace(H) = sum_k e_k / (e_k + lam)``, as ``RidgeCV`` does for ridge.
No step (``lam -> infinity``) has ``GCV = ||z||^2``, the weighted training
error: when no damping beats it, the step is not expected to generalize and
the fit stops.
"""

import numpy as np

# Dampings tried, relative to the trace of B: 8 per decade over a range that
# holds every choice of the real-table suite and diabetes
# (benchmarks/bench_real_tables.py, history_["alpha"]) with margin on both
# sides; 1e2 is nearly no step.
GCV_RELATIVE_DAMPINGS = np.logspace(-7.0, 2.0, 73)


def gcv_scores(eigenvalues, projected, dampings, total_weight):
    """GCV score of the step of every damping.

    Parameters
    ----------
    eigenvalues : ndarray of shape (n_weighted,)
        Eigenvalues ``e`` of ``B`` (non-negative).
    projected : ndarray of shape (n_weighted, n_outputs)
        ``V^T z``, the whitened working response in the eigenbasis.
    dampings : ndarray of shape (n_dampings,)
        Dampings ``lam > 0``.
    total_weight : float
        ``N``, the total sample weight.

    Returns
    -------
    scores : ndarray of shape (n_dampings,)
        ``GCV(lam)``; ``inf`` where ``trace(H) >= N``.
    """
    energy = np.sum(projected**2, axis=1)
    shrink = dampings[:, None] / (eigenvalues[None, :] + dampings[:, None])
    residual = shrink**2 @ energy
    dof = np.sum(1.0 - shrink, axis=1)
    denominator = 1.0 - dof / total_weight
    scores = np.full(dampings.shape, np.inf)
    ok = denominator > 0
    scores[ok] = residual[ok] / denominator[ok] ** 2
    return scores


class DampingChoice:
    """The damping of lowest GCV, its score and the score of no step.

    Parameters
    ----------
    system : CholeskySystem
        A system offering ``spectrum()``.
    rhs : ndarray of shape (n_weighted, n_outputs)
        ``D^(-1/2) diag(s) g``, the right-hand side of the step (``-z``).
    trace : float
        Trace of ``B``, the scale of the dampings tried.
    total_weight : float
        ``N``, the total sample weight.

    Attributes
    ----------
    damping : float
        The damping of lowest GCV.
    relative : float
        ``damping / trace``.
    score : float
        Its GCV score.
    no_step : float
        ``||z||^2``, the score of no step.
    """

    def __init__(self, system, rhs, trace, total_weight):
        eigenvalues, vectors = system.spectrum()
        dampings = GCV_RELATIVE_DAMPINGS * trace
        scores = gcv_scores(eigenvalues, vectors.T @ rhs, dampings, total_weight)
        best = int(np.argmin(scores))
        self.damping = float(dampings[best])
        self.relative = float(GCV_RELATIVE_DAMPINGS[best])
        self.score = float(scores[best])
        self.no_step = float(np.sum(rhs**2))

    @property
    def improves(self):
        """Whether the chosen step is expected to lower the held-out error."""
        return self.score < self.no_step
