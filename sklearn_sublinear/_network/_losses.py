"""Losses of the network output, differentiated with respect to that output.

Every loss works on the *raw* output ``raw`` of shape ``(n_samples, n_outputs)``
(before any link function) and provides:

- ``value(y, raw, sample_weight)``: the weighted mean loss
  ``sum_i s_i l(y_i, raw_i) / sum_i s_i``;
- ``raw_grad(y, raw)``: ``d l(y_i, raw_i) / d raw_io``, of shape
  ``(n_samples, n_outputs)``;
- ``raw_hessian(y, raw, secant=False)``: a per-sample curvature ``h_i > 0``,
  shape ``(n_samples,)``, the weight of the row in the Gauss-Newton model, such
  that ``h_i I`` bounds the Hessian of ``l(y_i, .)`` from above. With
  ``secant=True`` a loss may instead return a curvature for longer steps, where
  nothing relies on the local quadratic model (the Poisson loss's secant
  curvature, see :meth:`PoissonLoss.raw_hessian`; the other losses ignore it).
  The Gauss-Newton solver uses one ``n x n`` system shared by all outputs, so the
  curvature has to be one scalar per sample.

A loss may also set ``stopping_share`` (default None): the stopping rule then
also counts an iteration as an improvement when it lowers the loss by at least
``tol * stopping_share`` of its value (``_solvers._stopping.StoppingRule``),
while the loss is at least ``stopping_share_above`` times its value before
the first iteration (None: always); ``kept_stopping_share`` (default None),
the share from the iteration on where ``alpha="auto"`` keeps the lowest
damping it may choose (``_solvers._gauss_newton``); and
``constant_curvature`` (default False), True when the curvature
``raw_hessian`` is the same at every output, so that successive steps
refit one working response and ``alpha="auto"`` counts the earlier steps'
degrees of freedom in its GCV (``_solvers._selection``).

Targets ``y`` have shape ``(n_samples, n_outputs)``: real values for the squared
loss, 0/1 for the binary logistic loss (one column per independent label), one-hot
rows for the multinomial loss, non-negative values (counts) for the Poisson loss.
"""

import numpy as np
from scipy.special import expit, log_expit, logsumexp, softmax, xlogy

# Smallest curvature of the Poisson loss: the Gauss-Newton system divides the
# gradient by the square root of the curvature, which must stay positive when a
# predicted mean underflows.
POISSON_MIN_CURVATURE = 1e-12
# The secant curvature of a row whose target lies below this fraction of its
# predicted mean (a zero count, whose log-mean has no finite optimum) is taken
# towards that fraction instead: one step lowers its log-mean by at most
# 2 / (1 - e^-2) ~ 2.3 (benchmarks/bench_poisson.py, key "tables" / "mean").
POISSON_SECANT_FLOOR = np.exp(-2.0)
# Poisson fits also improve while an iteration lowers the deviance by
# tol * POISSON_STOPPING_SHARE of itself (1% at the default tol): their
# Gauss-Newton steps gain a slowly shrinking fraction, not a geometric one
# (benchmarks/bench_poisson.py, DoctorContacts).
POISSON_STOPPING_SHARE = 0.04
# Squared-error fits whose damping alpha="auto" keeps at its lowest also go on
# while an iteration lowers the loss by tol * SQUARED_KEPT_STOPPING_SHARE of
# itself: there GCV no longer stops them, and their steps at that damping gain
# a slowly shrinking fraction (benchmarks/bench_real_tables.py, table PSID).
SQUARED_KEPT_STOPPING_SHARE = 0.04
# The log losses also improve while an iteration lowers the loss by
# tol * LOG_STOPPING_SHARE of itself, but only while the loss is at least
# LOG_SHARE_ABOVE times the starting one. On overlapping classes (brand
# choices) their steps gain a slowly shrinking fraction of the loss, which the
# comparison with the first, largest gain stopped early
# (benchmarks/bench_real_tables.py --tables Catsup,Cracker, key "rows" /
# "ours_score"). Below half the start the classes are largely separated: the
# loss falls geometrically towards zero and the share would never stop the fit
# (make_moons, Treatment, the text corpora of benchmarks/bench_sparse.py).
LOG_STOPPING_SHARE = 0.04
LOG_SHARE_ABOVE = 0.5


def _weighted_mean(values, sample_weight):
    if sample_weight is None:
        return float(np.mean(values))
    return float(np.dot(sample_weight, values) / np.sum(sample_weight))


class SquaredLoss:
    """Half squared error ``l(y, f) = 1/2 * sum_o (f_o - y_o)^2``."""

    name = "squared_error"
    stopping_share = None
    stopping_share_above = None
    kept_stopping_share = SQUARED_KEPT_STOPPING_SHARE
    constant_curvature = True

    def value(self, y, raw, sample_weight=None):
        """Weighted mean of the per-sample loss."""
        return _weighted_mean(0.5 * np.sum((raw - y) ** 2, axis=1), sample_weight)

    def raw_grad(self, y, raw):
        """Gradient ``f - y`` of the per-sample loss."""
        return raw - y

    def raw_hessian(self, y, raw, secant=False):
        """The Hessian is exactly the identity."""
        return np.ones(raw.shape[0])


class BinaryLogisticLoss:
    """Binary cross-entropy of independent logits.

    ``l(y, f) = sum_o log(1 + e^(f_o)) - y_o f_o``: one logit for a binary
    problem, one per label for multilabel targets.
    """

    name = "binary_log_loss"
    stopping_share = LOG_STOPPING_SHARE
    stopping_share_above = LOG_SHARE_ABOVE
    kept_stopping_share = None
    constant_curvature = False

    def value(self, y, raw, sample_weight=None):
        """Weighted mean of the per-sample loss (computed without overflow)."""
        # log(1 + e^f) - y f = -y log sigma(f) - (1 - y) log sigma(-f)
        per_sample = -(y * log_expit(raw) + (1 - y) * log_expit(-raw))
        return _weighted_mean(np.sum(per_sample, axis=1), sample_weight)

    def raw_grad(self, y, raw):
        """Gradient ``sigma(f) - y``."""
        return expit(raw) - y

    def raw_hessian(self, y, raw, secant=False):
        """Constant bound 1/4 on the curvature ``p (1 - p)``.

        The quadratic model with ``h = 1/4`` majorizes the loss along the
        linearized network (Bohning, 1992), so steps are conservative and
        rarely rejected; the exact ``p (1 - p)`` was measured to give more
        rejected steps and no better fits.
        """
        return np.full(raw.shape[0], 0.25)


class MultinomialLoss:
    """Softmax cross-entropy: ``l(y, f) = logsumexp(f) - <y, f>``."""

    name = "log_loss"
    stopping_share = LOG_STOPPING_SHARE
    stopping_share_above = LOG_SHARE_ABOVE
    kept_stopping_share = None
    constant_curvature = False

    def value(self, y, raw, sample_weight=None):
        """Weighted mean of the per-sample loss (computed without overflow)."""
        per_sample = logsumexp(raw, axis=1) - np.sum(y * raw, axis=1)
        return _weighted_mean(per_sample, sample_weight)

    def raw_grad(self, y, raw):
        """Gradient ``softmax(f) - y``."""
        return softmax(raw, axis=1) - y

    def raw_hessian(self, y, raw, secant=False):
        """Constant bound 1/2 on the softmax Hessian ``diag(p) - p p^T``.

        ``diag(p) - p p^T <= I / 2`` for every ``p`` (Bohning, 1992): one scalar
        per sample, as the shared ``n x n`` Gauss-Newton system requires, and a
        quadratic model that majorizes the loss along the linearized network.
        The tighter per-sample Gershgorin bound ``2 max_k p_k (1 - p_k)`` was
        measured to overshoot from the uniform start (more rejected steps, worse
        first iterations on digits).
        """
        return np.full(raw.shape[0], 0.5)


class PoissonLoss:
    """Half Poisson deviance with a log link.

    ``l(y, f) = sum_o e^(f_o) - y_o f_o + y_o log(y_o) - y_o``: the mean is
    ``e^f``, and the loss is zero where ``e^f = y``.
    """

    name = "poisson"
    stopping_share = POISSON_STOPPING_SHARE
    stopping_share_above = None
    kept_stopping_share = None
    constant_curvature = False

    def value(self, y, raw, sample_weight=None):
        """Weighted mean of the per-sample loss (inf where ``e^f`` overflows)."""
        with np.errstate(over="ignore"):
            per_sample = np.exp(raw) - y * raw + xlogy(y, y) - y
        return _weighted_mean(np.sum(per_sample, axis=1), sample_weight)

    def raw_grad(self, y, raw):
        """Gradient ``e^f - y``."""
        return np.exp(raw) - y

    def raw_hessian(self, y, raw, secant=False):
        """The curvature ``e^f``, or with ``secant`` the secant curvature
        (the largest value over the outputs).

        ``e^f`` is the exact Hessian for one output; for several, the largest
        mean bounds the diagonal Hessian ``diag(e^f)`` from above, as the
        shared ``n x n`` system requires. Its steps move one row's log-mean by
        ``y / mu - 1`` (``mu = e^f``): far too long upwards, at most 1
        downwards, so that fits crawl.

        The secant curvature is the logarithmic mean ``(y' - mu) / log(y' /
        mu)`` of the mean and the target ``y' = max(y, POISSON_SECANT_FLOOR *
        mu)``: the slope of the gradient ``e^f - y`` between ``f`` and the
        row's own optimum ``log y'``, so that one row's step ``-g / h`` is
        ``log(y' / mu)``, the whole way to its target. The step vanishes where
        the gradient does (the fitted optimum is the same), and like ``e^f``
        it scales with the targets (``y -> c y``, ``f -> f + log c``).
        """
        if not secant:
            return np.maximum(np.max(np.exp(raw), axis=1), POISSON_MIN_CURVATURE)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            # log(y' / mu), computed without forming mu (it may underflow)
            t = np.maximum(np.log(y) - raw, np.log(POISSON_SECANT_FLOOR))
            mu = np.exp(raw)
            far = np.abs(t) > 1e-6
            h = np.where(
                far,
                (np.exp(raw + t) - mu) / np.where(far, t, 1.0),
                mu * (1.0 + 0.5 * t),
            )
        return np.maximum(np.max(h, axis=1), POISSON_MIN_CURVATURE)


LOSSES = {
    "squared_error": SquaredLoss,
    "binary_log_loss": BinaryLogisticLoss,
    "log_loss": MultinomialLoss,
    "poisson": PoissonLoss,
}
