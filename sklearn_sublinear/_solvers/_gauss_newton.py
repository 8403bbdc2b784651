"""Levenberg-Marquardt damped Gauss-Newton over an active-set index.

One outer iteration (:meth:`GaussNewton._iterate`):

1. From the active sets of the current weights (the index's last query) and the
   loss derivatives ``g`` (gradient) and ``h`` (curvature) with respect to the
   network output, solve the damped system in sample space (``_systems.py``)
   for ``q``; the step is ``delta = -J^T q``, i.e. ``Delta w_r = -sum_i c_ir
   x_i`` over the weighted rows ``i`` on which ``r`` fires, for the neurons
   ``U`` that fire on some weighted row (dense rows summed pair by pair,
   ``network.neuron_step``), and ``Delta theta = -E^T q`` for the affine
   output part (intercept and linear term, Jacobian rows ``E =
   network.affine_rows(X)``). The systems see the Jacobian rows
   (``network.jacobian_rows(X)``); the step's sums run over the index rows
   ``X`` (row scales folded into ``c``).
2. Apply it (:meth:`GaussNewton._trial`): ``W[U] += Delta W[U]``,
   ``index.update(W, U)``, query, evaluate.
3. Accept if the training loss decreased (the query is reused by the next
   iteration), else restore ``W[U]``, tell the index, raise the damping and
   retry. The damping falls after good steps, never below the floor of
   :meth:`GaussNewton._damping_floor`: ``alpha`` times the trace of
   ``D^(1/2) G D^(1/2)`` (a weighted mean), times
   ``min(1, sqrt(DAMPING_REFERENCE_WEIGHT / sum(w)))``, so that, like a ridge
   penalty, it weakens as data accumulate (integer weights count as repeated
   rows); beyond ``DAMPING_SLOWER_WEIGHT`` it shrinks as ``sum(w)^(-1/4)``
   (:func:`relative_floor`).
   With ``alpha="auto"``, the floor of every iteration is instead the
   damping of lowest generalized cross-validation score of the step
   (``_selection.py``: from the spectrum of a small Cholesky system, else
   from Lanczos quadratures, not below the floor of
   ``AUTO_ALPHA_WITHOUT_GRAM``), and the fit stops when no damping is
   expected to lower the held-out error (stop reason ``"gcv"``). Once a
   Lanczos choice is the lowest damping it may try, later iterations keep
   it without selecting again (no ``"gcv"`` stop then: the stopping rule,
   with the loss's ``kept_stopping_share``, ends the fit). Beyond
   ``KRYLOV_MAX_SAMPLES`` weighted rows (and on the sharded conjugate
   gradient) ``alpha="auto"`` is the fixed floor ``AUTO_ALPHA_WITHOUT_GRAM``
   with the stopping rule.
4. Record the iteration, then stop by :class:`StoppingRule` on the training
   loss, or on the validation error ``1 - score`` when rows are held out
   (:class:`_Monitor`, which also keeps the best weights).

All sums are weighted means (weights normalized to sum 1), so integer weights
are equivalent to repeated rows, and rows of weight zero never enter a system.
The collaborators follow the protocols of ``sklearn_sublinear._contracts``.
"""

import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .._contracts import SampleSpaceSystem, check_contract
from .._network import squared_row_norms
from .._network._sparse import pattern_view
from ._base import BaseSolver, MemoryLimitReached
from ._selection import DampingChoice, KrylovChoice, selection_method
from ._stopping import StoppingRule
from ._systems import CG_RTOL, SYSTEMS

# Damping trials per outer iteration before declaring that no step decreases.
MAX_DAMPING_TRIES = 30
# Lower bound on the relative damping, so that the system stays positive definite.
MIN_RELATIVE_DAMPING = 1e-10
# Nielsen's damping update: factors after a rejected step grow by this much.
DAMPING_GROWTH = 2.0
# Total sample weight above which the damping floor shrinks as 1/sqrt(weight),
# so that the damping acts like a ridge penalty that weakens as data accumulate
# (benchmarks/bench_real_data.py --all, key "rows" / "score", and the diamonds
# fit of bench_scale.py, key "runs" / "test_r2").
DAMPING_REFERENCE_WEIGHT = 300.0
# Total sample weight beyond which the floor shrinks more slowly, as
# 1/weight^(1/4): the conjugate gradient's iterations grow as the inverse
# square root of the floor, so that beyond this weight a floor shrinking as
# 1/sqrt(weight) made the time per row grow with the rows, for little gain in
# score (benchmarks/bench_scale.py --rows, keys "runs" / "inner_iterations",
# "fit_seconds", "test_r2"). The real tables are far below it.
DAMPING_SLOWER_WEIGHT = 100_000.0
# alpha="auto" without selection (beyond KRYLOV_MAX_SAMPLES rows), and the
# lowest damping the Lanczos selection tries: the float default before GCV
# (benchmarks/bench_real_tables.py, key "rows" / "ours_score").
AUTO_ALPHA_WITHOUT_GRAM = 1e-3
# alpha="auto": once GCV chooses the lowest damping it may try, later
# iterations keep it without selecting again, stopped by the stopping rule
# (benchmarks/bench_real_tables.py, keys "rows" / "ours_score", "ours_fit_time").
KEEP_LOWEST_CHOICE = True
# Bytes of the weight rows moved at once by a step (its temporaries).
APPLY_BLOCK_BYTES = 2**22
# Keys of the history every accepted iteration appends to.
HISTORY_KEYS = (
    "loss",
    "seconds",
    "active_per_sample",
    "changed_neurons",
    "index_action",
    "damping",
    "damping_tries",
    "inner_iterations",
    "alpha",
)


def step_rhs(s, h, g):
    """The step's right-hand side ``D^(-1/2) S g`` in the scaled sample space
    (``D = S H``): one row per weighted sample, one column per output."""
    return np.sqrt(s / h)[:, None] * g


def sample_space_step(system, s, g, h, damping):
    """The multipliers ``q`` of the damped step ``delta = -J^T q``.

    Parameters as for :func:`damped_step`.

    Returns
    -------
    q : ndarray of shape (n_weighted, n_outputs)
        ``D^(1/2) (D^(1/2) G D^(1/2) + lam I)^-1 D^(-1/2) S g``.
    predicted : float
        Decrease of the loss predicted by the Gauss-Newton model.
    """
    d = s * h
    dsqrt = np.sqrt(d)
    rhs = step_rhs(s, h, g)
    q = dsqrt[:, None] * system.solve(damping, rhs)
    # Linearized output change J delta = -G q (one Gram for all outputs).
    return q, predicted_decrease(system.gram_matvec(q), s, g, d)


def predicted_decrease(Gq, s, g, d):
    """Decrease ``-(s^T (g * J delta) + d^T (J delta)^2 / 2)`` predicted by the
    Gauss-Newton model for ``J delta = -G q`` (summed over outputs); a partial
    sum over some rows when ``s``, ``g`` and ``d`` hold those rows only."""
    Jdelta = -Gq
    return -float(
        s @ np.sum(g * Jdelta, axis=1) + 0.5 * (d @ np.sum(Jdelta**2, axis=1))
    )


def relative_floor(alpha, total_weight):
    """The damping floor relative to the trace of the system: ``alpha`` (for
    ``"auto"``, ``AUTO_ALPHA_WITHOUT_GRAM``, the floor without selection and
    the lowest damping of the Lanczos selection) times
    ``min(1, sqrt(DAMPING_REFERENCE_WEIGHT / total_weight))``, and beyond
    ``DAMPING_SLOWER_WEIGHT`` times ``(DAMPING_SLOWER_WEIGHT /
    total_weight)^(1/4)`` from its value there instead."""
    alpha = AUTO_ALPHA_WITHOUT_GRAM if alpha == "auto" else alpha
    if total_weight > DAMPING_SLOWER_WEIGHT:
        at_slower = np.sqrt(DAMPING_REFERENCE_WEIGHT / DAMPING_SLOWER_WEIGHT)
        return alpha * at_slower * (DAMPING_SLOWER_WEIGHT / total_weight) ** 0.25
    return alpha * min(1.0, np.sqrt(DAMPING_REFERENCE_WEIGHT / total_weight))


def damped_step(network, system, s, g, h, damping, X, row_scale=None):
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
    X : ndarray of shape (n_weighted, n_inputs)
        Index rows of the weighted rows.
    row_scale : ndarray of shape (n_weighted,), default=None
        Row scales of the weighted rows (homogeneous network only).

    Returns
    -------
    rows : ndarray of shape (n_changed, n_inputs)
        ``W[changed] += rows`` applies the step.
    changed : ndarray of int
        Neurons moved by the step.
    dtheta : ndarray of shape (q, n_outputs)
        Change of the affine output part ``network.affine_coef``
        (``-E^T q`` with ``E = system.affine_rows``).
    predicted : float
        Decrease of the loss predicted by the Gauss-Newton model.
    """
    q, predicted = sample_space_step(system, s, g, h, damping)
    # J^T q sums q_i times the Jacobian rows; with the row scales folded into
    # the multipliers, the sums run over the index rows.
    U = q if row_scale is None else q * row_scale[:, None]
    changed, rows = network.neuron_step(system.pairs, X, U)
    rows *= -1.0
    return rows, changed, -(system.affine_rows.T @ q), predicted


class GaussNewton(BaseSolver):
    """Levenberg-Marquardt Gauss-Newton solver.

    Parameters
    ----------
    alpha : float or "auto"
        Damping floor relative to the trace of the sample-space Gram, for a
        total sample weight up to ``DAMPING_REFERENCE_WEIGHT`` (shrinking as
        its inverse square root beyond, and as its inverse fourth root beyond
        ``DAMPING_SLOWER_WEIGHT``: :func:`relative_floor`). ``"auto"``:
        chosen at every iteration by generalized cross-validation
        (``_selection.selection_method``), ``AUTO_ALPHA_WITHOUT_GRAM`` where
        there is none.
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
    cg_stop : {"residual", "decrease"}, default="residual"
        When the CG solves stop (:class:`CGSystem`).
    """

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
        cg_stop="residual",
    ):
        self.alpha = alpha
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.linear_solver = linear_solver
        self.verbose = verbose
        self.random_state = random_state
        self.cg_stop = cg_stop

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
        check_pairs=None,
        hooks=None,
    ):
        """Train ``network`` in place.

        ``validation`` is None or ``(rows, scorer)``: index rows (of weight zero)
        held out for early stopping and a callable mapping their raw outputs to
        a score (higher is better). ``data_gram`` may pass ``Xj[w] @ Xj[w].T``
        for the Jacobian rows ``Xj = network.jacobian_rows(X)`` of the
        weighted rows ``w``. ``damping`` may pass the damping a previous run
        ended with, so that a warm start continues it (never below the floor).
        ``check_pairs`` may pass a callable, called with the number of firing
        pairs after every index query, before anything is built from them
        (the memory guard, which raises :class:`MemoryLimitReached` when they
        outgrow its limit). Raised at the starting point or before any step
        was accepted, the refusal propagates; at a later trial step, the fit
        stops there (``stop_reason`` ``"memory_limit"``, with a
        ConvergenceWarning) and keeps the weights of its last accepted step.
        ``hooks`` (see :class:`~sklearn_sublinear._contracts.IterationHooks`)
        hears the begin and end of every iteration and may stop the fit.
        """
        problem = _Problem(self, network, loss, index, X, Y, sample_weight)
        problem.check_pairs = check_pairs
        problem.fixed_products(data_gram)
        return self.run(
            problem,
            validation=validation,
            damping=damping,
            hooks=hooks,
            loss=loss,
        )

    def run(self, problem, *, validation=None, damping=None, hooks=None, loss=None):
        """Run the iterations over ``problem``, where the rows live.

        ``problem`` is the in-process :class:`_Problem` or any object with its
        interface (``start``, ``linearize``, ``gram_trace``, ``system``,
        ``step``, ``apply``, ``undo``, and the attributes ``network``,
        ``theta`` and ``relative_floor``), e.g. rows spread over the workers
        of a cluster (``_sharded.py``). ``loss`` (None: none) gives the
        stopping rule its shares (``stopping_share``, and
        ``kept_stopping_share`` once the damping is kept; see
        :class:`StoppingRule`); other arguments and return value as for
        :meth:`_solve`.
        """
        network = problem.network
        point = self._start(problem)
        history = {key: [] for key in HISTORY_KEYS}
        share = None if loss is None else loss.stopping_share
        share_above = None if loss is None else loss.stopping_share_above
        kept_share = None if loss is None else loss.kept_stopping_share
        monitor = _Monitor(
            self,
            validation,
            point,
            network.W,
            problem.theta,
            share=share,
            share_above=share_above,
        )
        if validation is not None:
            history["validation_score"] = monitor.scores
        hooks = _NO_HOOKS if hooks is None else hooks
        stop_reason = "max_iter"
        kept = at_least = None
        # the accepted steps' dampings, which GCV counts when the curvature
        # is constant (successive steps refit one working response), each at
        # the damping it was taken with: relative to the trace instead (which
        # grows as neurons start firing), they counted the later steps as
        # adding more degrees of freedom, and the fits took fewer of them
        # (benchmarks/bench_real_tables.py, keys "rows" / "ours_score",
        # "ours_fit_time", table Males)
        earlier = [] if getattr(loss, "constant_curvature", False) else None
        for iteration in range(1, self.max_iter + 1):
            t_start = time.perf_counter()
            hooks.begin(iteration)
            try:
                step = self._iterate(
                    iteration, problem, point, damping, kept, at_least, earlier
                )
            except MemoryLimitReached as refusal:
                if not history["loss"]:
                    raise
                step = "memory_limit"
                warnings.warn(
                    f"{refusal} The fit stopped at iteration {iteration} and keeps "
                    f"the weights of iteration {iteration - 1}.",
                    ConvergenceWarning,
                )
            if isinstance(step, str):
                hooks.end(iteration, None)
                stop_reason = step
                break
            point, damping, kept = step.point, step.damping, step.kept
            at_least = step.at_least
            if earlier is not None and step.used is not None:
                earlier.append(step.used)
            if kept is not None:
                monitor.share_at_least(kept_share)
            problem.theta = network.affine_coef = step.theta
            self._record(history, iteration, step, time.perf_counter() - t_start)
            stop = monitor.update(point, network.W, problem.theta)
            if validation is not None and self.verbose:
                print(f"  validation score={monitor.scores[-1]:.6g}")
            if hooks.end(iteration, network):
                stop_reason = "callback"
                break
            if stop:
                stop_reason = "tol"
                break
        return self._finish(network, history, stop_reason, monitor)

    def _start(self, problem):
        """Build the index and evaluate the starting weights."""
        t0 = time.perf_counter()
        point = problem.start()
        self._check_finite(0, point.value, problem.network.W)
        if point.active_per_sample == 0:
            warnings.warn(
                "No neuron fires on any training row (identical rows, or a high "
                "sparsity with few neurons): the network reduces to its "
                "intercept and linear term. Lower sparsity or raise n_neurons.",
                UserWarning,
            )
        if self.verbose:
            print(
                f"Iteration 0: loss={point.value:.6g}, "
                f"index build {time.perf_counter() - t0:.3f} s"
            )
        return point

    def _damping_floor(
        self, problem, linearization, system, kept=None, at_least=None, earlier=None
    ):
        """Lowest damping of this iteration, its trace and the GCV choice.

        ``alpha`` relative to the trace of ``D^(1/2) G D^(1/2)``, shrunk for
        large total weights (module docstring); with ``alpha="auto"``, the
        damping of lowest GCV score (the problem's ``choose_damping``: a
        :class:`DampingChoice` or :class:`KrylovChoice`, the latter at least
        ``at_least``, the previous Lanczos choice; or None without
        selection), or ``kept`` (relative) once an earlier choice was the
        lowest damping the selection may try. ``earlier`` holds the dampings
        of the accepted steps that GCV counts (None: none).
        """
        trace = max(problem.gram_trace(linearization), 1e-300)
        relative = problem.relative_floor if kept is None else kept
        floor = max(relative, MIN_RELATIVE_DAMPING) * trace
        choice = None
        if self.alpha == "auto" and kept is None:
            choice = problem.choose_damping(
                system,
                linearization,
                trace,
                at_least=at_least,
                earlier=tuple(earlier or ()),
            )
        if choice is not None:
            floor = max(choice.damping, MIN_RELATIVE_DAMPING * trace)
        return floor, trace, choice

    def _iterate(
        self, iteration, problem, point, damping, kept=None, at_least=None, earlier=None
    ):
        """One outer iteration: the system at ``point``, then damping trials.

        Returns the accepted :class:`_Step`, or why the fit stops: ``"tol"``
        when the gradient vanishes (an exact fit: every step would be zero),
        ``"gcv"`` when no damping is expected to lower the held-out error
        (``alpha="auto"``), ``"no_decrease"`` when no damping of
        ``MAX_DAMPING_TRIES`` decreases the loss (weights and index restored).
        """
        linearization = problem.linearize(point)
        if linearization is None:
            return "tol"
        system = problem.system(linearization)
        floor, trace, choice = self._damping_floor(
            problem, linearization, system, kept, at_least, earlier
        )
        if choice is not None:
            at_least = choice.next_at_least
            if self.verbose:
                print(
                    f"Iteration {iteration}: GCV chose alpha={choice.relative:.3g} "
                    f"(score {choice.score:.6g}, no step {choice.no_step:.6g})"
                )
            if not choice.improves:
                return "gcv"
            # At the lowest damping it may try, GCV asks for more fitting than
            # the damping allows: later iterations keep that damping without
            # selecting again (KEEP_LOWEST_CHOICE).
            # Not after earlier steps: GCV, counting them, is what stops the
            # fit then.
            if KEEP_LOWEST_CHOICE and choice.lowest and not earlier:
                kept = choice.relative
            # The trials start from the chosen damping, not the last one.
            damping = None
            system = choice.wrap(system)
        damping = floor if damping is None else max(damping, floor)
        nu = DAMPING_GROWTH
        inner = 0
        for trial in range(1, MAX_DAMPING_TRIES + 1):
            step = self._trial(iteration, problem, system, linearization, damping)
            step.trial = trial
            inner += system.last_info.get("cg_iterations", 0)
            decrease = point.value - step.point.value
            if self.verbose >= 2:
                print(
                    f"  trial {trial}: damping={damping:.3g} "
                    f"predicted={step.predicted:.3g} actual={decrease:.3g}"
                    + "".join(f" {k}={v}" for k, v in system.last_info.items())
                )
            # a non-finite new loss fails this test too: more damping
            if decrease > 0:
                rho = decrease / step.predicted if step.predicted > 0 else 0.0
                step.damping = max(
                    floor, damping * max(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3)
                )
                step.inner = inner
                # what GCV counts of it later (selected steps only)
                step.used = None if choice is None else damping
                step.alpha = floor / trace if choice is None else choice.relative
                step.kept, step.at_least = kept, at_least
                # an accepted step is never undone: its old rows (as large as
                # the moved weights) are not kept through the next iteration
                step.old_rows = None
                return step
            problem.undo(step)
            # the rejected point's active sets and outputs are not held
            # through the next trial's query (the memory guard counts one
            # point's pairs beside a query's)
            del step
            damping *= nu
            nu *= 2.0
        if self.verbose:
            print(
                f"Iteration {iteration}: no damping in {MAX_DAMPING_TRIES} "
                "trials decreases the loss; stopping."
            )
        return "no_decrease"

    def _trial(self, iteration, problem, system, linearization, damping):
        """Apply the step of ``damping`` to the weights and the index, query
        and evaluate; return it as a :class:`_Step` (not yet accepted)."""
        move = problem.step(system, linearization, damping)
        # before touching W: a failed fit keeps its last finite weights
        self._check_finite(iteration, move.values, move.dtheta)
        theta = problem.theta + move.dtheta
        # old_rows: the rows kept for a rejected step
        old_rows, action, point = problem.apply(move, theta)
        return _Step(point, theta, move.changed, old_rows, action, move.predicted)

    def _record(self, history, iteration, step, seconds):
        """Append an accepted iteration to ``history`` (and print it)."""
        per_sample = step.point.active_per_sample
        record = {
            "loss": step.point.value,
            "seconds": seconds,
            "active_per_sample": per_sample,
            "changed_neurons": int(step.changed.size),
            "index_action": str(step.action),
            "damping": step.damping,
            "damping_tries": step.trial,
            "inner_iterations": step.inner,
            "alpha": step.alpha,
        }
        for key in HISTORY_KEYS:
            history[key].append(record[key])
        if self.verbose:
            print(
                f"Iteration {iteration}: loss={step.point.value:.6g}, "
                f"active/sample={per_sample:.1f}, index={step.action}, "
                f"changed={step.changed.size}, {seconds:.3f} s"
            )

    def _finish(self, network, history, stop_reason, monitor):
        """Restore the best weights of early stopping and warn at max_iter."""
        if self.verbose:
            print(f"Stopped ({stop_reason}) after {len(history['loss'])} iterations.")
            if monitor.best_params is not None:
                print(
                    f"Kept the weights of iteration {monitor.best_iteration} "
                    f"(validation score={monitor.best_score:.6g})."
                )
        monitor.restore_best(network)
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


class _Point:
    """The network at some weights: active sets (their pattern), raw outputs
    and training loss."""

    def __init__(self, active, raw, value):
        self.active, self.raw, self.value = active, raw, value

    @property
    def active_per_sample(self):
        """Mean number of firing neurons per index row."""
        return self.active.nnz / max(self.active.shape[0], 1)


class _Linearization:
    """The loss derivatives at a point, over the weighted rows: their active
    sets ``active_w``, gradient ``g``, curvature ``h`` and ``d = s * h``."""

    def __init__(self, active_w, g, h, d):
        self.active_w, self.g, self.h, self.d = active_w, g, h, d


class _Move:
    """A computed step, not yet applied: the neurons it moves, their update
    (rows with ``W[changed] += update`` in process), the finite-checked
    ``values`` of it, the change ``dtheta`` of the affine part and the
    predicted decrease."""

    def __init__(self, changed, update, values, dtheta, predicted):
        self.changed, self.update, self.values = changed, update, values
        self.dtheta, self.predicted = dtheta, predicted


class _Step:
    """A tried step: the point it reaches, its affine coefficients, the moved
    neurons and their old rows, what the index did and the predicted decrease;
    an accepted step also carries its damping, trial and inner iterations."""

    def __init__(self, point, theta, changed, old_rows, action, predicted):
        self.point, self.theta = point, theta
        self.changed, self.old_rows = changed, old_rows
        self.action, self.predicted = action, predicted


class _Problem:
    """Everything fixed over one fit: collaborators, weighted rows and products.

    This is where the rows live for the loop: the index rows ``X``, the
    weighted rows (positive weight) with their normalized weights ``s``,
    Jacobian rows ``Xw``, targets ``Yw`` and affine rows ``Ew``, and the
    affine coefficients ``theta`` of the current weights. The loop
    (:meth:`GaussNewton.run`) reaches the rows only through ``start``,
    ``linearize``, ``gram_trace``, ``system``, ``step``, ``apply`` and
    ``undo``, so that rows held elsewhere (``_sharded.py``) run the same loop.
    """

    def __init__(self, solver, network, loss, index, X, Y, sample_weight):
        if solver.linear_solver not in SYSTEMS:
            raise ValueError(
                f"linear_solver must be one of {sorted(SYSTEMS)}, "
                f"got {solver.linear_solver!r}."
            )
        self.system_cls = SYSTEMS[solver.linear_solver]
        self.system_params = {}
        if self.system_cls is SYSTEMS["cg"]:
            self.system_params["cg_stop"] = solver.cg_stop
        self.random_state = solver.random_state
        self.network, self.loss, self.index, self.X = network, loss, index, X
        self.n = X.shape[0]
        self.weighted = np.flatnonzero(sample_weight > 0)
        if self.weighted.size == 0:
            raise ValueError("At least one sample must have a positive weight.")
        self.total_weight = float(np.sum(sample_weight[self.weighted]))
        self.s = sample_weight[self.weighted] / self.total_weight
        self.relative_floor = relative_floor(solver.alpha, self.total_weight)
        # The loss's secant curvature (longer steps) unless alpha="auto"
        # selects the damping by GCV, whose estimate of the held-out error
        # needs the local quadratic model of the loss (with the secant one
        # it kept the lowest damping while Poisson fits overfit:
        # benchmarks/bench_poisson.py, table DoctorAUS).
        has_spectrum = hasattr(self.system_cls, "spectrum")
        self.secant = not (
            solver.alpha == "auto"
            and selection_method(self.weighted.size, has_spectrum) is not None
        )
        self.row_scale = network.row_scale(X)
        self.row_scale_w = (
            None if self.row_scale is None else self.row_scale[self.weighted]
        )
        # index rows of the weighted rows (no copy without zero weights)
        self.X_w = X if self.weighted.size == self.n else X[self.weighted]
        self.Xw = network.jacobian_rows(self.X_w)
        self.Yw = Y[self.weighted]
        # The affine part's Jacobian rows and coefficients (intercept and
        # linear term); theta follows the accepted steps.
        self.E = network.affine_rows(X)
        self.Ew = self.E if self.weighted.size == self.n else self.E[self.weighted]
        self.theta = network.affine_coef
        self.data_gram = self.affine_gram = None
        self.last_system = None
        # called with the firing pairs of every query (GaussNewton._solve)
        self.check_pairs = None

    def fixed_products(self, data_gram=None):
        """The Cholesky system's products of rows that stay fixed over the fit."""
        if self.system_cls is SYSTEMS["cholesky"]:
            self.data_gram = self.Xw @ self.Xw.T if data_gram is None else data_gram
            self.affine_gram = self.Ew @ self.Ew.T
        else:
            self.data_gram = data_gram

    def start(self):
        """Build the index over the starting weights; return their point."""
        self.index.build(self.network.W)
        return self.evaluate(self.query(), self.theta)

    def query(self):
        """Active sets of the index rows at the current weights."""
        active = self.index.query()
        if self.check_pairs is not None:
            self.check_pairs(active.nnz)
        return active

    def linearize(self, point):
        """The :class:`_Linearization` of the weighted rows at ``point``, or
        None when the gradient vanishes (an exact fit)."""
        linearization = self.derivatives(point)
        return linearization if np.any(linearization.g) else None

    def derivatives(self, point):
        """The :class:`_Linearization` of the weighted rows at ``point``."""
        active_w = self.weighted_active(point.active)
        raw_w = point.raw[self.weighted]
        g = self.loss.raw_grad(self.Yw, raw_w)
        h = self.loss.raw_hessian(self.Yw, raw_w, secant=self.secant)
        return _Linearization(active_w, g, h, self.s * h)

    def gram_trace(self, linearization):
        """Trace of ``D^(1/2) G D^(1/2)`` (network part) at a linearization.

        Where no neuron fires on a weighted row, the affine part's trace: the
        Gram is then ``E E^T`` alone, singular when rows coincide, and the
        damping floor keeps the system positive definite.
        """
        gdiag = self.network.gram_diagonal(linearization.active_w, self.Xw)
        trace = float(linearization.d @ gdiag)
        if not trace > 0:
            trace = float(linearization.d @ squared_row_norms(self.Ew))
        return trace

    def choose_damping(self, system, linearization, trace, at_least=None, earlier=()):
        """The GCV choice of the step at a linearization: from the spectrum
        of ``system`` (:class:`DampingChoice`), from Lanczos runs of its
        ``bmatvec`` (:class:`KrylovChoice`, at least ``at_least``), or None
        (the floor), by :func:`selection_method`; ``earlier``: the dampings
        of the earlier steps it counts."""
        g, h = linearization.g, linearization.h
        rhs = step_rhs(self.s, h, g)
        method = selection_method(self.weighted.size, hasattr(system, "spectrum"))
        if method == "eigh":
            return DampingChoice(system, rhs, trace, self.total_weight, earlier)
        if method is None:
            return None
        return KrylovChoice(
            system,
            rhs,
            trace,
            self.total_weight,
            self.random_state,
            CG_RTOL,
            minimum=self.relative_floor,
            at_least=at_least,
            earlier=earlier,
        )

    def step(self, system, linearization, damping):
        """The :class:`_Move` of the damped step (:func:`damped_step`)."""
        rows, changed, dtheta, predicted = damped_step(
            self.network,
            system,
            self.s,
            linearization.g,
            linearization.h,
            damping,
            self.X_w,
            self.row_scale_w,
        )
        return _Move(changed, rows, rows, dtheta, predicted)

    def apply(self, move, theta):
        """Move the weights and the index by ``move``, query and evaluate at
        the affine coefficients ``theta``; return ``(old_rows, action, point)``."""
        W, changed = self.network.W, move.changed
        # By blocks of rows, W[changed] += update, and the update's buffer,
        # which the move gives up, takes the old rows: on wide inputs it is
        # as large as the weights moved, and no third such buffer is made.
        old_rows = move.update
        move.update = move.values = None
        step = max(1, APPLY_BLOCK_BYTES // (8 * max(W.shape[1], 1)))
        for b0 in range(0, changed.size, step):
            block = changed[b0 : b0 + step]
            old = W[block]
            W[block] = old_rows[b0 : b0 + step] + old
            old_rows[b0 : b0 + step] = old
        action = self.index.update(self.network.W, changed)
        try:
            active = self.query()
        except MemoryLimitReached:
            # refused: the weights and the index stay at the accepted point
            self._put_back(changed, old_rows)
            raise
        return old_rows, action, self.evaluate(active, theta)

    def evaluate(self, active, theta):
        """The :class:`_Point` of the active sets ``active`` and coefficients
        ``theta``: raw outputs of every index row, loss of the weighted ones."""
        raw = self.network.forward_active(
            active, offset=self.E @ theta, row_scale=self.row_scale
        )
        # From here on only the positions of the firing pairs count (systems,
        # steps, trace): the point drops their values, which would otherwise
        # be held beside the next query's.
        return _Point(
            pattern_view(active),
            raw,
            self.loss.value(self.Yw, raw[self.weighted], self.s),
        )

    def weighted_active(self, active):
        """Active sets of the weighted rows (without zero weights, no copy)."""
        return active if self.weighted.size == self.n else active[self.weighted]

    def system(self, linearization):
        """The damped sample-space system of the weighted rows; it may keep
        what the previous one hands over (a CG system its preconditioner),
        and the rest of the previous system is freed before it is built."""
        last, self.last_system = self.last_system, None
        previous = None if last is None else last.handover()
        del last
        system = self.last_system = self.system_cls(
            self.network,
            linearization.active_w,
            self.Xw,
            np.sqrt(linearization.d),
            data_gram=self.data_gram,
            random_state=self.random_state,
            affine_rows=self.Ew,
            affine_gram=self.affine_gram,
            previous=previous,
            **self.system_params,
        )
        check_contract(system, SampleSpaceSystem, "sample-space system")
        return system

    def undo(self, step):
        """Put back the weights a rejected ``step`` moved, and tell the index."""
        self._put_back(step.changed, step.old_rows)

    def _put_back(self, changed, old_rows):
        """``W[changed] = old_rows``, and tell the index."""
        self.network.W[changed] = old_rows
        self.index.update(self.network.W, changed)


class _NoHooks:
    """Iteration hooks that do nothing (no callbacks)."""

    def begin(self, iteration):
        pass

    def end(self, iteration, network):
        return False


_NO_HOOKS = _NoHooks()


class _Monitor:
    """Stopping rule over the iterations, and the best weights of early stopping.

    The rule starts from the values before the first iteration; it is created
    after that iteration, since a fit may end before it (e.g. an exact fit,
    where a validation part of zero weight could not even be scored).
    """

    def __init__(
        self, solver, validation, start, W, theta, share=None, share_above=None
    ):
        self.tol, self.n_iter_no_change = solver.tol, solver.n_iter_no_change
        # the starting point without its active sets, which would otherwise
        # be held beside every later iteration's
        self.validation, self.start = validation, _Point(None, start.raw, start.value)
        self.stopping = None
        # the loss's stopping_share and stopping_share_above (StoppingRule)
        self.share, self.share_above = share, share_above
        self.scores = []
        self.best_score = -np.inf
        self.best_iteration = 0
        self.best_params = None if validation is None else (W.copy(), theta.copy())

    def share_at_least(self, share):
        """From now on, the stopping rule's share (:class:`StoppingRule`) is
        at least ``share``."""
        if share is None:
            return
        self.share = share if self.share is None else max(self.share, share)
        if self.stopping is not None:
            self.stopping.share = self.share

    def _score(self, point):
        val_rows, scorer = self.validation
        return float(scorer(point.raw[val_rows]))

    def update(self, point, W, theta):
        """Record an accepted iteration; return True when the fit should stop."""
        # Accuracy and R^2 are at most 1: 1 - score is an error.
        if self.stopping is None:
            start = self.start.value
            if self.validation is not None:
                start = 1.0 - self._score(self.start)
            self.stopping = StoppingRule(
                self.tol, self.n_iter_no_change, start, self.share, self.share_above
            )
        if self.validation is None:
            return self.stopping.update(point.value)
        score = self._score(point)
        self.scores.append(score)
        stop = self.stopping.update(1.0 - score)
        if score > self.best_score:
            self.best_score, self.best_iteration = score, len(self.scores)
            self.best_params = (W.copy(), theta.copy())
        return stop

    def restore_best(self, network):
        """With validation, set the network to the weights of the best score."""
        if self.best_params is not None:
            network.W[...] = self.best_params[0]
            network.affine_coef = self.best_params[1]
