"""Rows held in shards (e.g. on the workers of a cluster), and the same loop.

The Gauss-Newton loop (:meth:`GaussNewton.run`) reaches the rows through a
problem. :class:`ShardedProblem` is the problem of rows split into shards,
each a :class:`RowShard` that holds its rows, its copy of the weights ``W``, its
active-set index and the in-process problem of its rows; the driver holds the
network and calls the shards through a :class:`Shards` handle, which runs one
method on every shard and returns their answers (in process:
:class:`LocalShards`; on dask: ``sklearn_sublinear.dask``). Every quantity the
loop needs is a sum over rows, so each shard returns its partial sum:

- the loss, the trace of the damping floor and the sketch Gram ``Y^T Y`` of the
  preconditioner are scalars or small matrices;
- the step ``Delta W[U] = -sum_i coef_i x_i`` is a sum of ``|U_s| x d`` blocks
  over the neurons ``U_s`` that fire on a shard's rows; the driver adds them
  and sends back the moved rows ``W[U]``, which every shard copies into its
  ``W`` before updating its index;
- in the conjugate gradient (``linear_solver="cg"``), the sample-space vectors
  stay on the shards: ``G v = J (J^T v)`` sends the partial ``J^T v`` (again
  ``|U_s| x d`` blocks per output, plus the affine part) to the driver and the
  sum back; the preconditioner's ``U^T r`` and the inner products are
  reductions. The preconditioner is the package's CountSketch one
  (:class:`SketchPreconditioner`): the same ``Phi`` on every shard, the Gram
  of the sketch summed over shards, and each shard's rows of ``U``;
- ``alpha="auto"`` chooses the damping as the local fit does: the Lanczos
  runs of :class:`KrylovChoice` keep their small basis (at most
  ``KRYLOV_MAX_SAMPLES`` weighted rows) on the driver, in the order of the
  rows in the whole data (:class:`RowOrder`, so that the random trace probes
  fall on the same rows), and each block product ``B V`` sends the shards
  their rows of ``V`` and sums ``J^T`` as ``G v`` does.

Per iteration the traffic grows with the moved neurons ``|U|``, not with the
rows (the Lanczos runs add blocks of rows, of at most ``KRYLOV_MAX_SAMPLES``).
``linear_solver="cholesky"`` instead gathers the active sets of all weighted
rows to the driver (the ``n x n`` Gram needs every pair), for problems small
enough for one machine. Integer weights stay equivalent to repeated rows:
the weights are normalized by their total over all shards.
"""

import numpy as np
import scipy.sparse as sp

from ._gauss_newton import (
    _Move,
    _Problem,
    predicted_decrease,
    relative_floor,
    sample_space_step,
    step_rhs,
)
from ._preconditioners import SketchPreconditioner
from ._selection import DampingChoice, KrylovChoice, selection_method
from ._systems import (
    CG_RTOL,
    SYSTEMS,
    CGSystem,
    _System,
)


class Shards:
    """Runs a method on every shard (the interface the driver uses).

    Subclasses implement :meth:`map`; the answers come back in shard order.
    """

    def subset(self, keep):
        """A handle on the shards where ``keep`` (one bool per shard) is True."""
        raise NotImplementedError

    def map(self, method, *args, per_shard=None):
        """Call ``shard.method(*args, *per_shard[k])`` on every shard ``k``.

        Parameters
        ----------
        method : str
            Name of a :class:`RowShard` method.
        *args : tuple
            Arguments sent to every shard.
        per_shard : list of tuple, default=None
            Extra arguments, one tuple per shard.

        Returns
        -------
        answers : list
            One answer per shard.
        """
        raise NotImplementedError


class LocalShards(Shards):
    """Shards in this process (tests and reference runs).

    Parameters
    ----------
    shards : list of RowShard
    """

    def __init__(self, shards):
        self.shards = list(shards)

    def subset(self, keep):
        return LocalShards([s for s, k in zip(self.shards, keep) if k])

    def map(self, method, *args, per_shard=None):
        extra = per_shard or [()] * len(self.shards)
        return [
            getattr(shard, method)(*args, *more)
            for shard, more in zip(self.shards, extra)
        ]


def sum_rows(changed_blocks, n_inputs):
    """Sum ``(neurons, rows)`` blocks into ``(U, rows of U)``, ``U`` their union.

    Parameters
    ----------
    changed_blocks : list of (ndarray of int, ndarray)
        Sorted neurons and their rows ``(len(neurons), ...)`` of every shard.
    n_inputs : tuple
        Shape of one row.

    Returns
    -------
    U : ndarray of int
        Sorted union of the neurons.
    total : ndarray of shape (len(U), ...)
    """
    U = np.unique(np.concatenate([c for c, _ in changed_blocks]))
    total = np.zeros((U.size, *n_inputs))
    for changed, rows in changed_blocks:
        total[np.searchsorted(U, changed)] += rows
    return U, total


class RowShard:
    """The rows of one shard, and what the loop needs of them.

    Created with the raw rows; the estimator layer validates, scales and
    encodes them through :meth:`call` (setting ``X`` to the preprocessed rows
    and ``Y`` to the encoded targets), then :meth:`setup` makes the
    in-process problem of its rows with the network's copy and the index.
    Methods return partial sums over the shard's rows (see the module
    docstring).

    Parameters
    ----------
    X : array-like of shape (n_rows, n_features)
        Rows of the shard.
    y : array-like of shape (n_rows,) or (n_rows, n_outputs)
        Targets.
    sample_weight : array-like of shape (n_rows,), default=None
        Weights, not normalized.
    rows : ndarray of int of shape (n_rows,), default=None
        The rows' numbers in the whole data (the order of the local fit);
        None if the shards' rows follow one another in shard order.
    """

    def __init__(self, X, y, sample_weight=None, rows=None):
        self.X, self.y, self.sample_weight = X, y, sample_weight
        self.rows = rows

    def call(self, function, *args):
        """Return ``function(self, *args)`` (the estimator layer's passes)."""
        return function(self, *args)

    def setup(self, solver, network, loss, index, total_weight):
        """Make the problem of the shard's rows; return its number of rows.

        ``index`` is an unbuilt index over ``X`` (or a callable ``X -> index``)
        and ``total_weight`` the sum of the weights over every shard, which
        normalizes this shard's weights.
        """
        if callable(index):
            index = index(self.X)
        self.problem = _Problem(
            solver, network, loss, index, self.X, self.Y, self.sample_weight
        )
        self.problem.s = self.sample_weight[self.problem.weighted] / total_weight
        self.s_sum = float(np.sum(self.problem.s))
        self.point = self.previous = None
        return self.X.shape[0]

    # -- points ---------------------------------------------------------------
    def _summary(self, point):
        """Partial loss sum and firing pairs of a point."""
        return point.value * self.s_sum, point.active.nnz

    def start(self):
        """Build the index; return the partial loss and firing pairs."""
        self.point = self.problem.start()
        return self._summary(self.point)

    def apply(self, changed, rows, theta):
        """Copy the moved rows into ``W``, update the index, query and evaluate."""
        problem = self.problem
        problem.network.W[changed] = rows
        action = problem.index.update(problem.network.W, changed)
        self.previous = self.point
        self.point = problem.evaluate(problem.query(), theta)
        return (*self._summary(self.point), action)

    def undo(self, changed, rows):
        """Put back the rows of a rejected step and its point."""
        self.problem.network.W[changed] = rows
        self.problem.index.update(self.problem.network.W, changed)
        self.point = self.previous

    def linearize(self):
        """Keep the derivatives at the current point; return whether the
        gradient is non-zero and the partial trace of the damping floor."""
        self.lin = lin = self.problem.derivatives(self.point)
        return bool(np.any(lin.g)), self.problem.gram_trace(lin)

    def weighted_rows(self):
        """The number of weighted rows, and their numbers in the whole data
        (None if ``rows`` is None)."""
        weighted = self.problem.weighted
        return weighted.size, None if self.rows is None else self.rows[weighted]

    # -- the step ---------------------------------------------------------------
    def gather(self, fixed):
        """What the driver's Cholesky system needs of these rows: the active
        sets and derivatives, and with ``fixed`` the rows fixed over the fit."""
        p, lin = self.problem, self.lin
        out = {"active": sp.csr_array(lin.active_w), "g": lin.g, "h": lin.h}
        if fixed:
            out.update(s=p.s, Xw=p.Xw, Ew=p.Ew, row_scale_w=p.row_scale_w)
        return out

    def partial_step(self, q=None):
        """The shard's part of ``Delta W[U]`` (``(neurons, rows)``) and of
        ``Delta theta`` from its multipliers ``q`` (this shard's rows of the
        driver's ``q``, or the conjugate gradient's, kept here, if None)."""
        p = self.problem
        if q is None:
            q = self.q
        U = q if p.row_scale_w is None else q * p.row_scale_w[:, None]
        changed, rows = p.network.neuron_step(self._system().pairs, p.X_w, U)
        rows *= -1.0
        return changed, rows, p.Ew.T @ q

    def _system(self):
        """This shard's system at the current derivatives (its firing pairs,
        rows, ``D^(1/2)`` and affine rows), made once per linearization."""
        if getattr(self, "system", None) is None or self.system_lin is not self.lin:
            p, lin = self.problem, self.lin
            self.system = _System(
                p.network, lin.active_w, p.Xw, np.sqrt(lin.d), affine_rows=p.Ew
            )
            self.system_lin = lin
        return self.system

    # -- Lanczos runs of alpha="auto": the driver holds the (small) basis ------
    def krylov_rhs(self):
        """This shard's rows of the step's right-hand side ``D^(-1/2) S g``."""
        p, lin = self.problem, self.lin
        return step_rhs(p.s, lin.h, lin.g)

    def krylov_left(self, V):
        """Partial ``J^T D^(1/2) V`` of this shard's rows ``V`` of a block."""
        return self.gram_left(self._system().dsqrt[:, None] * V)

    def krylov_right(self, U, V, EtQ):
        """This shard's rows of ``B V`` from the summed ``J^T D^(1/2) V``."""
        return self._system().dsqrt[:, None] * self.gram_right(U, V, EtQ)

    def krylov_finish(self, C):
        """``q = D^(1/2) C`` of a step from the Krylov path (this shard's rows
        ``C``); return the partial ``J^T q`` for ``G q``."""
        self.q = self._system().dsqrt[:, None] * C
        return self.gram_left(self.q)

    # -- conjugate gradient: the vectors live here ----------------------------
    def cg_setup(self):
        """Build this shard's system at the current derivatives."""
        self._system()

    def cg_sketch(self, rng_state, n_weighted):
        """Draw the sketch of a new preconditioner; return its partial Gram."""
        p = self.problem
        rng = np.random.RandomState()
        rng.set_state(rng_state)
        n, m, d = n_weighted, p.network.n_neurons, p.Xw.shape[1]
        self.sketch = SketchPreconditioner.__new__(SketchPreconditioner).draw(
            rng, n, m, d
        )
        return self.sketch.sketch_gram(self.system)

    def cg_project(self, W):
        """Form this shard's rows of the preconditioner's ``U``."""
        self.U = self.sketch.project(self.system, W)

    def gram_left(self, Q):
        """Partial ``J^T Q``: ``(neurons, V, E^T Q)``, ``V`` of shape
        ``(len(neurons), n_outputs, d)`` over the neurons firing here."""
        system = self.system
        V = system.pairs.neuron_sums(system.X, Q)
        return system.pairs.neurons, V, system.affine_rows.T @ Q

    def gram_right(self, U, V, EtQ):
        """``G Q`` of the shard's rows from the summed ``J^T Q``."""
        system = self.system
        mine = V[np.searchsorted(U, system.pairs.neurons)]
        out = system.pairs.row_dots(system.X, mine)
        out /= self.problem.network.n_neurons
        out += system.affine_rows @ EtQ
        return out

    def cg_start(self):
        """Right-hand side ``R``; return ``U^T R`` and ``||R||^2`` (partial)."""
        p, lin = self.problem, self.lin
        R = step_rhs(p.s, lin.h, lin.g)
        self.X_cg = np.zeros_like(R)
        self.res = R.copy()
        return self.U.T @ self.res, np.sum(R * R, axis=0)

    def cg_project_residual(self):
        """``U^T res`` (partial) of a new preconditioner's ``U``."""
        return self.U.T @ self.res

    def cg_precondition(self, UtR, scale, first):
        """``Z = P^-1 res``; return ``res^T Z`` and ``||res||^2`` (partial)."""
        self.Z = self.res + self.U @ ((scale[:, None] - 1.0) * UtR)
        if first:
            self.P = self.Z.copy()
        return np.sum(self.res * self.Z, axis=0), np.sum(self.res**2, axis=0)

    def cg_left(self, beta):
        """``P = Z + beta P`` (``beta`` None: keep ``P``); partial ``J^T D^(1/2) P``."""
        if beta is not None:
            self.P = self.Z + beta * self.P
        return self.gram_left(self.system.dsqrt[:, None] * self.P)

    def cg_right(self, U, V, EtQ, lam):
        """``AP = B P + lam P``; return ``P^T AP`` (partial)."""
        d = self.system.dsqrt[:, None]
        self.AP = d * self.gram_right(U, V, EtQ) + lam * self.P
        return np.sum(self.P * self.AP, axis=0)

    def cg_update(self, step):
        """Move the iterate and the residual; return ``U^T res`` (partial)."""
        self.X_cg += step * self.P
        self.res -= step * self.AP
        return self.U.T @ self.res

    def cg_finish(self):
        """``q = D^(1/2) C``; return the partial ``J^T q`` for ``G q``."""
        self.q = self.system.dsqrt[:, None] * self.X_cg
        return self.gram_left(self.q)

    def cg_predicted(self, U, V, EtQ):
        """Partial predicted decrease from the summed ``J^T q``."""
        p, lin = self.problem, self.lin
        return predicted_decrease(self.gram_right(U, V, EtQ), p.s, lin.g, lin.d)


class _Point:
    """A point summarized over the shards: loss and firing pairs per row."""

    def __init__(self, answers, n_rows):
        self.value = float(sum(a[0] for a in answers))
        self.active_per_sample = sum(a[1] for a in answers) / max(n_rows, 1)
        self.raw = None


class _Linearization:
    """The shards keep the derivatives; the driver the floor's trace."""

    def __init__(self, trace):
        self.trace = trace


class ShardedProblem:
    """The problem of rows held in shards (the driver's side).

    Parameters
    ----------
    solver : GaussNewton
        Its ``alpha``, ``linear_solver`` and ``random_state`` are used.
    network : TwoLayerNetwork
        The driver's network; the shards hold copies.
    shards : Shards
        Handle on shards already set up (:meth:`RowShard.setup`).
    n_rows : int
        Rows over all shards.
    n_weighted : int
        Rows of positive weight over all shards.
    total_weight : float
        Sum of the weights over all shards.
    """

    def __init__(self, solver, network, shards, n_rows, n_weighted, total_weight):
        if solver.linear_solver not in SYSTEMS:
            raise ValueError(
                f"linear_solver must be one of {sorted(SYSTEMS)}, "
                f"got {solver.linear_solver!r}."
            )
        self.solver, self.network, self.shards = solver, network, shards
        self.n_rows, self.n_weighted = n_rows, n_weighted
        self.theta = network.affine_coef
        self.relative_floor = relative_floor(solver.alpha, total_weight)
        self.total_weight = total_weight
        self.fixed = self.last_system = self._row_order = None

    def start(self):
        return _Point(self.shards.map("start"), self.n_rows)

    def linearize(self, point):
        answers = self.shards.map("linearize")
        if not any(nonzero for nonzero, _ in answers):
            return None
        return _Linearization(float(sum(trace for _, trace in answers)))

    def gram_trace(self, linearization):
        return linearization.trace

    def row_order(self):
        """The :class:`RowOrder` of the weighted rows (made once)."""
        if self._row_order is None:
            self._row_order = RowOrder(self.shards.map("weighted_rows"))
        return self._row_order

    def choose_damping(self, system, linearization, trace, at_least=None, earlier=()):
        """The GCV choice of ``alpha="auto"``, as :meth:`_Problem.choose_damping`
        makes it over the same rows in the order of the local fit: from the
        spectrum of the gathered Cholesky system (:class:`DampingChoice`),
        from Lanczos runs of its ``bmatvec`` or of the shards' (the basis on
        the driver, each block product a reduction over shards:
        :class:`KrylovChoice`), or None (the floor), by
        :func:`selection_method`."""
        method = selection_method(self.n_weighted, hasattr(system, "spectrum"))
        if method is None:
            return None
        if method == "eigh":
            return DampingChoice(
                system.system, system.rhs(), trace, self.total_weight, earlier
            )
        choice = KrylovChoice(
            system.krylov_operator(),
            system.rhs(),
            trace,
            self.total_weight,
            self.solver.random_state,
            CG_RTOL,
            minimum=self.relative_floor,
            at_least=at_least,
            earlier=earlier,
        )
        return _ShardedChoice(choice, system)

    def system(self, linearization):
        if self.solver.linear_solver == "cg":
            last, self.last_system = self.last_system, None
            previous = None if last is None else last.handover()
            self.last_system = _ShardedCG(self, previous)
            return self.last_system
        return _GatheredCholesky(self)

    def step(self, system, linearization, damping):
        predicted = system.solve(damping)
        parts = self.shards.map("partial_step", per_shard=system.q_parts())
        U, dW = sum_rows(
            [(c, rows) for c, rows, _ in parts], (self.network.W.shape[1],)
        )
        dtheta = -sum(part[2] for part in parts)
        return _Move(U, dW, dW, dtheta, predicted)

    def apply(self, move, theta):
        W = self.network.W
        old_rows = W[move.changed]
        # new = old + Delta W, as TwoLayerNetwork.move_neurons adds them
        W[move.changed] = move.update + old_rows
        answers = self.shards.map("apply", move.changed, W[move.changed], theta)
        actions = sorted({a[2] for a in answers})
        return old_rows, "/".join(actions), _Point(answers, self.n_rows)

    def undo(self, step):
        self.network.W[step.changed] = step.old_rows
        self.shards.map("undo", step.changed, step.old_rows)


class RowOrder:
    """The weighted rows of all shards in the order of the local fit.

    The driver's sample-space vectors (the gathered Cholesky system, the
    Lanczos bases of ``alpha="auto"``) hold the weighted rows in the order of
    the whole data, as the local fit does, so that its random probes fall on
    the same rows; the shards' blocks come and go in shard order.

    Parameters
    ----------
    answers : list of (int, ndarray or None)
        :meth:`RowShard.weighted_rows` of every shard.
    """

    def __init__(self, answers):
        self.sizes = np.cumsum([size for size, _ in answers])[:-1]
        rows = [r for _, r in answers]
        self.order = None
        if all(r is not None for r in rows):
            order = np.argsort(np.concatenate(rows), kind="stable")
            if np.any(order != np.arange(order.size)):
                self.order = order

    def gather(self, blocks):
        """The shards' blocks (in shard order) as one array in data order."""
        out = np.concatenate(blocks) if isinstance(blocks, list) else blocks
        return out if self.order is None else out[self.order]

    def split(self, V):
        """``V`` (in data order) as the shards' blocks."""
        if self.order is not None:
            out = np.empty_like(V)
            out[self.order] = V
            V = out
        return np.split(V, self.sizes)


class _ShardedChoice:
    """A damping choice whose :meth:`wrap` gives the sharded system's own
    (the step of the chosen damping taken from the Krylov path)."""

    def __init__(self, choice, system):
        self._choice, self._system = choice, system

    def __getattr__(self, name):
        return getattr(self._choice, name)

    def wrap(self, system):
        return system.with_path(self._choice)


class _GatheredCholesky:
    """The Cholesky system on the driver over the gathered weighted rows."""

    def __init__(self, problem):
        first = problem.fixed is None
        parts = problem.shards.map("gather", first)
        self.order = order = problem.row_order()
        if first:
            fixed = {k: order.gather([p[k] for p in parts]) for k in ("s", "Xw", "Ew")}
            scales = [p["row_scale_w"] for p in parts]
            fixed["row_scale_w"] = None if scales[0] is None else order.gather(scales)
            fixed["data_gram"] = fixed["Xw"] @ fixed["Xw"].T
            fixed["affine_gram"] = fixed["Ew"] @ fixed["Ew"].T
            problem.fixed = fixed
        f = problem.fixed
        self.f = f
        self.g = order.gather([p["g"] for p in parts])
        self.h = order.gather([p["h"] for p in parts])
        active = order.gather(sp.vstack([p["active"] for p in parts], format="csr"))
        self.system = SYSTEMS["cholesky"](
            problem.network,
            active,
            f["Xw"],
            np.sqrt(f["s"] * self.h),
            data_gram=f["data_gram"],
            affine_rows=f["Ew"],
            affine_gram=f["affine_gram"],
        )
        self.last_info = {}

    def spectrum(self):
        """The spectrum of the driver's system (``alpha="auto"``)."""
        return self.system.spectrum()

    def rhs(self):
        """The step's right-hand side ``D^(-1/2) S g`` (``alpha="auto"``)."""
        return step_rhs(self.f["s"], self.h, self.g)

    def krylov_operator(self):
        """What the Lanczos runs multiply by: the driver's system."""
        return self.system

    def with_path(self, choice):
        """This system, solving the step from ``choice``'s Krylov path."""
        self.system = choice.wrap(self.system)
        return self

    def solve(self, damping):
        self.q, predicted = sample_space_step(
            self.system, self.f["s"], self.g, self.h, damping
        )
        self.last_info = getattr(self.system, "last_info", {})
        return predicted

    def q_parts(self):
        return [(q,) for q in self.order.split(self.q)]


class _ShardedCG:
    """Preconditioned conjugate gradient over vectors held by the shards.

    The recursion of :meth:`CGSystem.solve`, with every inner product and
    ``J^T`` product summed over shards, and its rule for keeping the previous
    iteration's preconditioner (``previous``, from :meth:`handover`; the
    shards keep their rows of its ``U``).
    """

    def __init__(self, problem, previous=None):
        self.problem, self.shards = problem, problem.shards
        self.shards.map("cg_setup")
        self._handed_over = previous is not None
        if previous is not None:
            self.preconditioner, self._first_iterations = previous
            # the name CGSystem.handover reads (built at once here, not lazily)
            self._preconditioner = self.preconditioner
        else:
            self._new_preconditioner()
        self._iterations = None
        self.last_info = {}

    def _new_preconditioner(self):
        """Draw a sketch for every shard, as CGSystem draws it, and let the
        shards form their rows of the new ``U``."""
        problem = self.problem
        rng = np.random.RandomState(problem.solver.random_state)
        grams = self.shards.map("cg_sketch", rng.get_state(), problem.n_weighted)
        self.preconditioner = SketchPreconditioner.__new__(SketchPreconditioner)
        W = self.preconditioner.top(sum(grams), problem.n_weighted)
        self.shards.map("cg_project", W)
        self._preconditioner = self.preconditioner
        self._first_iterations = None
        self._handed_over = False

    # the rules of the local system, over its attributes of the same names
    handover = CGSystem.handover
    _solve_with_reuse = CGSystem._solve_with_reuse
    _record_residual = CGSystem._record_residual

    def _sum_left(self, answers):
        U, V = sum_rows([(n, V) for n, V, _ in answers], answers[0][1].shape[1:])
        return U, V, sum(a[2] for a in answers)

    def _precondition(self, UtR, lam, first=False):
        L = self.preconditioner.eigenvalues
        scale = (L[-1] + lam) / (L + lam)
        answers = self.shards.map("cg_precondition", sum(UtR), scale, first)
        return sum(a[0] for a in answers), np.sqrt(sum(a[1] for a in answers))

    def solve(self, lam):
        shards = self.shards
        starts = shards.map("cg_start")
        norms = np.sqrt(sum(a[1] for a in starts))
        target = CG_RTOL * np.where(norms > 0, norms, 1.0)
        UtR = [a[0] for a in starts]
        res_norm = None

        def run(max_iter):
            nonlocal UtR, res_norm
            if UtR is None:  # a new preconditioner: project the residual on it
                UtR = shards.map("cg_project_residual")
            rz, res_norm = self._precondition(UtR, lam, first=True)
            UtR = None
            beta = None
            for it in range(max_iter):
                if np.all(res_norm <= target):
                    return it, True
                U, V, EtQ = self._sum_left(shards.map("cg_left", beta))
                pAp = sum(shards.map("cg_right", U, V, EtQ, lam))
                step = np.divide(rz, pAp, out=np.zeros_like(rz), where=pAp > 0)
                rz_new, res_norm = self._precondition(
                    shards.map("cg_update", step), lam
                )
                beta = np.divide(rz_new, rz, out=np.zeros_like(rz), where=rz > 0)
                rz = rz_new
            return max_iter, bool(np.all(res_norm <= target))

        self._solve_with_reuse(run)
        self._record_residual(res_norm, norms)
        U, V, EtQ = self._sum_left(shards.map("cg_finish"))
        return float(sum(shards.map("cg_predicted", U, V, EtQ)))

    def q_parts(self):
        return None

    # -- alpha="auto": Lanczos runs over the shards ---------------------------
    def rhs(self):
        """The step's right-hand side ``D^(-1/2) S g``, gathered in data order."""
        return self.problem.row_order().gather(self.shards.map("krylov_rhs"))

    def krylov_operator(self):
        """What the Lanczos runs multiply by: this system (:meth:`bmatvec`)."""
        return self

    def bmatvec(self, V):
        """``B V = D^(1/2) G D^(1/2) V`` of a block ``V`` in data order: the
        shards' rows sent out, ``J^T`` summed on the driver, ``B V`` gathered."""
        order = self.problem.row_order()
        blocks = [(block,) for block in order.split(V)]
        U, VJ, EtQ = self._sum_left(self.shards.map("krylov_left", per_shard=blocks))
        return order.gather(self.shards.map("krylov_right", U, VJ, EtQ))

    def with_path(self, choice):
        """This system, solving the step from ``choice``'s Krylov path where
        it converged (:class:`_ShardedPath`)."""
        return _ShardedPath(self, choice)


class _ShardedPath:
    """The conjugate gradient over shards whose step comes from a
    :class:`KrylovChoice`'s path where it converged (as the local
    ``_PathSystem``): its ``C`` sent to the shards in their blocks."""

    def __init__(self, system, choice):
        self._system, self._choice = system, choice
        self.last_info = {}

    def __getattr__(self, name):
        return getattr(self._system, name)

    def solve(self, lam):
        C = self._choice.path_solve(lam)
        system = self._system
        if C is None:
            predicted = system.solve(lam)
            self.last_info = system.last_info
            return predicted
        blocks = [(block,) for block in system.problem.row_order().split(C)]
        answers = system.shards.map("krylov_finish", per_shard=blocks)
        U, V, EtQ = system._sum_left(answers)
        self.last_info = {"krylov_steps": self._choice._runs.steps}
        return float(sum(system.shards.map("cg_predicted", U, V, EtQ)))
