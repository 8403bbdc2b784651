"""Levenberg-Marquardt damped Gauss-Newton over an active-set index.

One outer iteration:

1. From the active sets of the current weights (the index's last query) and the
   loss derivatives ``g`` (gradient) and ``h`` (curvature) with respect to the
   network output, solve the damped system in sample space (``_systems.py``) for
   ``q``; the step is ``delta = -J^T q``, i.e. ``Delta w_r = -coef_r @ X`` with a
   sparse ``coef`` over the neurons ``U`` that fire on some weighted row, and
   ``Delta theta = -E^T q`` for the affine output part (intercept and linear
   term, Jacobian rows ``E = network.affine_rows(X)``). The
   systems see the Jacobian rows (``network.jacobian_rows(X)``); ``coef``
   multiplies the index rows ``X``, so that the index can check its updates.
2. Apply it: ``W[U] += coef @ X``, ``index.update(W, U, coef)``, query, evaluate.
3. Accept if the training loss decreased (the query is reused by the next
   iteration), else restore ``W[U]``, revert the index with ``-coef``, raise the
   damping and retry. The damping falls after good steps, never below
   ``alpha * trace(D^(1/2) G D^(1/2)) * min(1, sqrt(DAMPING_REFERENCE_WEIGHT /
   sum(w)))``: relative to the Gram's trace, a weighted mean, and, like a ridge
   penalty that should weaken as data accumulate, shrinking as the square root
   of the total sample weight beyond a reference (integer weights count as
   repeated rows).
4. Stop by :class:`StoppingRule` on the training loss, or on the validation
   error ``1 - score`` when rows are held out.

All sums are weighted means (weights normalized to sum 1), so integer weights
are equivalent to repeated rows, and rows of weight zero never enter a system.
"""

import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ._base import BaseSolver
from ._systems import SYSTEMS

# Damping trials per outer iteration before declaring that no step decreases.
MAX_DAMPING_TRIES = 30
# Lower bound on the relative damping, so that the system stays positive definite.
MIN_RELATIVE_DAMPING = 1e-10
# Nielsen's damping update: factors after a rejected step grow by this much.
DAMPING_GROWTH = 2.0
# Total sample weight above which the damping floor shrinks as 1/sqrt(weight).
# Measured on the benchmark suite (benchmarks/bench_real_data.py --all and the
# 20,000-row diamonds fit of bench_scale.py): against no shrinking, 300 raised
# the test score on the five sets with more than 300 training rows by
# -0.0007 .. +0.0068 (diamonds R2 0.9814 -> 0.9858); 1000 by half as much.
DAMPING_REFERENCE_WEIGHT = 300.0


class StoppingRule:
    """Patience test on the training loss or the validation error.

    Fed the quantity to minimize after every iteration, starting from its value
    before the first one. An iteration *improves* when it lowers the best value
    so far by ``gain > 0`` with ``gain >= tol * (reference - value)``, where
    ``reference`` is the best value right after the largest gain so far (the
    iteration of that gain improves by definition). The fit stops after
    ``n_iter_no_change`` consecutive iterations that do not improve.

    From a random start one Gauss-Newton step (usually the first, which fits
    the linearized network) makes a decrease far larger than all later ones.
    Measured from the start, every later gain looks negligible and such fits
    stopped right after that step; measured from the largest gain, the
    refinement that follows is judged on its own scale. The test is
    scale-free (the same for every loss and target scale), stops fits whose
    loss falls geometrically once each step gains little compared with the
    refinement achieved so far, and depends on the sample weights only through
    weighted means, so integer weights stop exactly as repeated rows.

    Parameters
    ----------
    tol : float
        Minimum gain relative to the decrease since the largest gain.
    n_iter_no_change : int
        Consecutive iterations without improvement that stop the fit.
    start : float
        Value before the first iteration.
    """

    def __init__(self, tol, n_iter_no_change, start):
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.best = self.reference = start
        self.largest_gain = 0.0
        self.no_improvement = 0

    def update(self, value):
        """Record one iteration's value; return True when the fit should stop."""
        gain = self.best - value
        if gain > self.largest_gain:
            self.largest_gain, self.reference = gain, value
        if gain > 0 and gain >= self.tol * (self.reference - value):
            self.no_improvement = 0
        else:
            self.no_improvement += 1
        self.best = min(self.best, value)
        return self.no_improvement >= self.n_iter_no_change


def damped_step(network, system, s, g, h, damping, columns, n_columns, row_scale=None):
    """One damped Gauss-Newton step in implicit form.

    Parameters
    ----------
    network : TwoLayerNetwork
        Current network.
    system : CholeskySystem or CGSystem
        Sample-space system of the weighted rows' active sets, built with
        ``dsqrt = sqrt(s * h)``.
    s : ndarray of shape (n_weighted,)
        Normalized sample weights (sum 1).
    g : ndarray of shape (n_weighted, n_outputs)
        Loss gradient with respect to the outputs.
    h : ndarray of shape (n_weighted,)
        Positive per-sample curvature.
    damping : float
        Damping ``lam``.
    columns : ndarray of shape (n_weighted,)
        Index row of every weighted row.
    n_columns : int
        Number of index rows.
    row_scale : ndarray of shape (n_weighted,), default=None
        Row scales of the weighted rows (homogeneous network only).

    Returns
    -------
    coef : csr_array of shape (n_changed, n_columns)
        ``W[changed] += coef @ X`` applies the step.
    changed : ndarray of int
        Neurons moved by the step.
    dtheta : ndarray of shape (q, n_outputs)
        Change of the affine output part ``network.affine_coef``
        (``-E^T q`` with ``E = system.affine_rows``).
    predicted : float
        Decrease of the loss predicted by the Gauss-Newton model.
    """
    d = s * h
    dsqrt = np.sqrt(d)
    # delta = -J^T q with q = D^(1/2) (D^(1/2) G D^(1/2) + lam I)^-1 D^(-1/2) S g
    rhs = np.sqrt(s / h)[:, None] * g
    q = dsqrt[:, None] * system.solve(damping, rhs)
    # Linearized output change J delta = -G q (one Gram for all outputs).
    Jdelta = -system.gram_matvec(q)
    predicted = -float(
        s @ np.sum(g * Jdelta, axis=1) + 0.5 * (d @ np.sum(Jdelta**2, axis=1))
    )
    # J^T q sums q_i times the Jacobian rows; with the row scales folded into
    # the multipliers, coef applies to the index rows.
    U = q if row_scale is None else q * row_scale[:, None]
    coef, changed = network.neuron_coef(
        system.by_neuron, U, columns=columns, n_columns=n_columns
    )
    return -coef, changed, -(system.affine_rows.T @ q), predicted


class GaussNewton(BaseSolver):
    """Levenberg-Marquardt Gauss-Newton solver.

    Parameters
    ----------
    alpha : float
        Damping floor relative to the trace of the sample-space Gram, for a
        total sample weight up to ``DAMPING_REFERENCE_WEIGHT`` (shrinking as
        its inverse square root beyond).
    max_iter : int
        Maximum number of outer iterations.
    tol : float
        Tolerance of :class:`StoppingRule`, applied to the training loss (with
        validation, to the validation error ``1 - score``).
    n_iter_no_change : int
        Stop after this many consecutive iterations without improvement.
    linear_solver : {"cholesky", "cg"}
        How each damped system is solved.
    verbose : int
        0 silent, 1 one line per iteration, 2 also every damping trial.
    random_state : int or None
        Seed of the sketch in the CG preconditioner.
    """

    _network_methods = (
        "forward_active",
        "neuron_coef",
        "gram",
        "gram_operator",
        "row_scale",
        "jacobian_rows",
        "move_neurons",
        "affine_rows",
    )
    _loss_methods = ("value", "raw_grad", "raw_hessian")
    _index_methods = ("build", "query", "update")

    def __init__(
        self,
        *,
        alpha,
        max_iter,
        tol,
        n_iter_no_change,
        linear_solver="cholesky",
        verbose=0,
        random_state=None,
    ):
        self.alpha = alpha
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.linear_solver = linear_solver
        self.verbose = verbose
        self.random_state = random_state

    def _solve(
        self,
        network,
        loss,
        index,
        X,
        Y,
        sample_weight,
        *,
        validation=None,
        data_gram=None,
        damping=None,
    ):
        """Train ``network`` in place.

        ``validation`` is None or ``(rows, scorer)``: index rows (of weight zero)
        held out for early stopping and a callable mapping their raw outputs to
        a score (higher is better). ``data_gram`` may pass ``Xj[w] @ Xj[w].T``
        for the Jacobian rows ``Xj = network.jacobian_rows(X)`` of the
        weighted rows ``w``. ``damping`` may pass the damping a previous run
        ended with, so that a warm start continues it (never below the floor).
        """
        if self.linear_solver not in SYSTEMS:
            raise ValueError(
                f"linear_solver must be one of {sorted(SYSTEMS)}, "
                f"got {self.linear_solver!r}."
            )
        system_cls = SYSTEMS[self.linear_solver]
        n = X.shape[0]
        weighted = np.flatnonzero(sample_weight > 0)
        if weighted.size == 0:
            raise ValueError("At least one sample must have a positive weight.")
        total_weight = float(np.sum(sample_weight[weighted]))
        s = sample_weight[weighted] / total_weight
        relative_floor = self.alpha * min(
            1.0, np.sqrt(DAMPING_REFERENCE_WEIGHT / total_weight)
        )
        row_scale = network.row_scale(X)
        row_scale_w = None if row_scale is None else row_scale[weighted]
        Xw, Yw = network.jacobian_rows(X[weighted]), Y[weighted]
        # The affine part's Jacobian rows and coefficients (intercept and
        # linear term); theta is written back to the network after every
        # accepted step.
        E = network.affine_rows(X)
        Ew = E[weighted]
        theta = network.affine_coef
        # The Cholesky system's products of rows that stay fixed over the fit.
        affine_gram = None
        if system_cls is SYSTEMS["cholesky"]:
            if data_gram is None:
                data_gram = Xw @ Xw.T
            affine_gram = Ew @ Ew.T
        W = network.W

        t0 = time.perf_counter()
        index.build(W)
        active = index.query()
        raw = network.forward_active(active, offset=E @ theta, row_scale=row_scale)
        value = loss.value(Yw, raw[weighted], s)
        self._check_finite(0, value, W)
        if self.verbose:
            print(
                f"Iteration 0: loss={value:.6g}, "
                f"index build {time.perf_counter() - t0:.3f} s"
            )

        history = {
            key: []
            for key in (
                "loss",
                "seconds",
                "active_per_sample",
                "changed_neurons",
                "index_action",
                "damping",
                "damping_tries",
                "inner_iterations",
            )
        }
        if validation is not None:
            val_rows, scorer = validation
            history["validation_score"] = []
            best_score = -np.inf
            best_params = (W.copy(), theta.copy())
        # The stopping rule starts from the values before the first iteration;
        # it is created after that iteration, since a fit may end before it
        # (e.g. an exact fit, where a validation part of zero weight could not
        # even be scored).
        stopping = None
        start_loss, start_raw = value, raw
        nu = DAMPING_GROWTH
        stop_reason = "max_iter"

        for iteration in range(1, self.max_iter + 1):
            t_start = time.perf_counter()
            # Without zero weights, skip copying the active sets.
            active_w = active if weighted.size == n else active[weighted]
            raw_w = raw[weighted]
            g = loss.raw_grad(Yw, raw_w)
            if not np.any(g):
                # Exact fit (e.g. constant targets): every step would be zero.
                stop_reason = "tol"
                break
            h = loss.raw_hessian(Yw, raw_w)
            d = s * h
            dsqrt = np.sqrt(d)
            gdiag = network.gram_diagonal(active_w, Xw)
            trace = float(d @ gdiag)
            floor = max(relative_floor, MIN_RELATIVE_DAMPING) * max(trace, 1e-300)
            damping = floor if damping is None else max(damping, floor)
            system = system_cls(
                network,
                active_w,
                Xw,
                dsqrt,
                data_gram=data_gram,
                random_state=self.random_state,
                affine_rows=Ew,
                affine_gram=affine_gram,
            )
            accepted = False
            inner = 0
            for trial in range(1, MAX_DAMPING_TRIES + 1):
                coef, changed, dtheta, predicted = damped_step(
                    network,
                    system,
                    s,
                    g,
                    h,
                    damping,
                    weighted,
                    n,
                    row_scale_w,
                )
                inner += system.last_info.get("cg_iterations", 0)
                # before touching W: a failed fit keeps its last finite weights
                self._check_finite(iteration, coef.data, dtheta)
                # the rows kept for a rejected step
                old_rows = network.move_neurons(changed, coef, X)
                new_theta = theta + dtheta
                action = index.update(W, changed, coef)
                new_active = index.query()
                new_raw = network.forward_active(
                    new_active, offset=E @ new_theta, row_scale=row_scale
                )
                new_value = loss.value(Yw, new_raw[weighted], s)
                decrease = value - new_value
                if self.verbose >= 2:
                    print(
                        f"  trial {trial}: damping={damping:.3g} "
                        f"predicted={predicted:.3g} actual={decrease:.3g}"
                        + "".join(f" {k}={v}" for k, v in system.last_info.items())
                    )
                # a non-finite new loss fails this test too: more damping
                if decrease > 0:
                    accepted = True
                    rho = decrease / predicted if predicted > 0 else 0.0
                    damping = max(
                        floor, damping * max(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3)
                    )
                    nu = DAMPING_GROWTH
                    break
                W[changed] = old_rows
                index.update(W, changed, -coef)
                damping *= nu
                nu *= 2.0
            if not accepted:
                stop_reason = "no_decrease"
                if self.verbose:
                    print(
                        f"Iteration {iteration}: no damping in {MAX_DAMPING_TRIES} "
                        "trials decreases the loss; stopping."
                    )
                break

            theta = new_theta
            network.affine_coef = theta
            active, raw, value = new_active, new_raw, new_value
            seconds = time.perf_counter() - t_start
            per_sample = active.nnz / max(active.shape[0], 1)
            history["loss"].append(value)
            history["seconds"].append(seconds)
            history["active_per_sample"].append(per_sample)
            history["changed_neurons"].append(int(changed.size))
            history["index_action"].append(str(action))
            history["damping"].append(damping)
            history["damping_tries"].append(trial)
            history["inner_iterations"].append(inner)
            if self.verbose:
                print(
                    f"Iteration {iteration}: loss={value:.6g}, "
                    f"active/sample={per_sample:.1f}, index={action}, "
                    f"changed={changed.size}, {seconds:.3f} s"
                )

            if stopping is None:
                # Accuracy and R^2 are at most 1: 1 - score is an error.
                start = (
                    start_loss
                    if validation is None
                    else 1.0 - float(scorer(start_raw[val_rows]))
                )
                stopping = StoppingRule(self.tol, self.n_iter_no_change, start)
            if validation is None:
                stop = stopping.update(value)
            else:
                score = float(scorer(raw[val_rows]))
                history["validation_score"].append(score)
                stop = stopping.update(1.0 - score)
                if score > best_score:
                    best_score = score
                    best_params = (W.copy(), theta.copy())
            if stop:
                stop_reason = "tol"
                break

        if self.verbose:
            print(f"Stopped ({stop_reason}) after {len(history['loss'])} iterations.")
        if validation is not None:
            network.W[...] = best_params[0]
            network.affine_coef = best_params[1]
        if stop_reason == "max_iter":
            warnings.warn(
                f"Gauss-Newton stopped after max_iter={self.max_iter} iterations "
                f"without meeting tol={self.tol}: one of the last "
                f"{self.n_iter_no_change} iteration(s) still improved the fit by "
                "more than tol. Increase max_iter or tol.",
                ConvergenceWarning,
            )
        return network, history, stop_reason

    @staticmethod
    def _check_finite(iteration, *values):
        if not all(np.all(np.isfinite(v)) for v in values):
            raise ValueError(
                f"Non-finite training loss or step at iteration {iteration}: the "
                "inputs or targets are too large, or alpha is too small. Scale the "
                "data or increase alpha."
            )
