"""Damped Gauss-Newton systems in sample space.

With normalized sample weights ``s`` (summing to 1), per-sample curvatures ``h``
and ``D = diag(s * h)``, the damped Gauss-Newton step on the parameters,
``(J^T D J + lam I) delta = -J^T diag(s) g``, is obtained in sample space
(Woodbury / push-through identity) as ``delta = -J^T q`` with

    q = D^(1/2) (D^(1/2) G D^(1/2) + lam I)^-1 D^(-1/2) diag(s) g,

where ``G = J J^T`` is the ``n x n`` Gram of the weighted rows (one Gram shared
by all outputs). Each system below solves
``(D^(1/2) G D^(1/2) + lam I) C = R`` for a block ``R`` of right-hand sides,
and offers ``G @ Q`` for the predicted decrease. ``G`` includes the affine
output part (the intercept, and the linear term if any): its Jacobian columns
are the ``affine_rows`` ``E`` (all ones for the intercept), adding ``E E^T``.
"""

import numpy as np
import scipy.sparse as sp
from scipy.linalg import cho_solve

from .._network._pair_sums import PairSums
from .._network._sparse import pattern
from .._threads import one_blas_thread, own_blas_threads
from ._preconditioners import SketchPreconditioner

# Conjugate gradient: relative residual target and iteration cap. An inexact
# Gauss-Newton step is enough, since the step is accepted on the actual
# decrease: 1e-2 took a fifth to a third fewer CG iterations than 1e-3 at the
# same test scores (benchmarks/bench_scale.py, keys "runs" /
# "inner_iterations", "test_r2"; benchmarks/bench_real_tables.py).
CG_RTOL = 1e-2
# With ``cg_stop="decrease"``, CG also stops once an iteration lowers the
# quadratic model of every column by at most this fraction of its decrease so
# far: on a linear term over wide uncentered rows the residual test waits
# while the model has nearly stopped moving (benchmarks/bench_sparse.py, key
# "memory" / "cg_iterations_per_step").
CG_DECREASE_RTOL = 5e-3
CG_MAX_ITER = 500
# A CG system keeps the preconditioner of the previous Gauss-Newton iteration
# (built for the active sets and weights of then, still symmetric positive
# definite) for at most this many times the CG iterations of the first solve
# with it; a solve that needs more goes on from where it stands with a new one
# (the curvature of the Poisson and log losses moves between iterations, and a
# stale preconditioner can take many times the iterations of a new one:
# benchmarks/bench_scale.py, key "runs" / "inner_iterations";
# benchmarks/bench_poisson.py, key "fit_time").
PRECONDITIONER_REUSE_GROWTH = 1.5
# Up to this many samples, a Cholesky system runs its BLAS calls on one thread
# (CholeskySystem._blas_threads): small factorizations gain less from BLAS
# threads than idle BLAS workers cost the fit's own threads and other
# processes (benchmarks/bench_width_scaling.py, key "runs" / "median_phases",
# with n_jobs=2; benchmarks/bench_busy_cpu.py, key "rows").
ONE_BLAS_THREAD_MAX_SAMPLES = 2048
# A Cholesky system updates the previous system's G, instead of forming a
# new one, when at most this share of the rows changed their active sets
# (the steps of heavy damping of alpha="auto"; benchmarks/
# bench_real_tables.py, key "rows" / "ours_fit_time", table Car).
GRAM_UPDATE_MAX_ROWS = 0.25


def _cholesky(A):
    """Lower Cholesky factor of the SPD ``A``, as ``(L, True)`` for ``cho_solve``.

    numpy's LAPACK, not scipy's: the Gram's products run on numpy's BLAS
    threads, which keep spinning for a while afterwards, and scipy's own BLAS
    threads would fight them for the cores (erratic factorization times).
    """
    return np.linalg.cholesky(A), True


class _System:
    """What both systems hold: the network, active sets, rows and weights.

    Parameters as for :class:`CGSystem`.
    """

    def __init__(
        self,
        network,
        active,
        X,
        dsqrt,
        data_gram=None,
        random_state=None,
        affine_rows=None,
        affine_gram=None,
        previous=None,
    ):
        # previous: what the last system handed over (:meth:`handover`);
        # nothing to reuse here.
        self.network = network
        self.active = sp.csr_array(active)
        # the firing pairs' sums, for the steps (and the CG system's Gram);
        # they own the csc form, so that nothing refers back to the system
        # (a cycle would keep its pairs and preconditioner alive until the
        # garbage collector runs, beside the next iteration's)
        self.pairs = PairSums(self.active, network.n_jobs)
        self.X = X
        self.dsqrt = dsqrt
        self.n_samples = X.shape[0]
        # the affine part's Jacobian rows: all ones (the intercept) if None
        self.affine_rows = (
            np.ones((X.shape[0], 1)) if affine_rows is None else affine_rows
        )
        self.data_gram = data_gram
        self.affine_gram = affine_gram
        self.random_state = random_state
        self.last_info = {}

    def handover(self):
        """What the next system over the same rows may keep: nothing."""
        return None

    def bmatvec(self, V):
        """``B V = D^(1/2) G D^(1/2) V`` (the Lanczos runs of ``alpha="auto"``
        and the conjugate gradient)."""
        d = self.dsqrt[:, None]
        return d * self.gram_matvec(d * V)

    @property
    def by_neuron(self):
        """The pairs grouped by neuron (csc), made on first use
        (:attr:`PairSums.by_neuron`)."""
        return self.pairs.by_neuron


class CholeskySystem(_System):
    """Forms ``G`` once and factors ``D^(1/2) G D^(1/2) + lam I`` per damping.

    Parameters as for :class:`CGSystem`.
    """

    name = "cholesky"

    def __init__(self, network, active, X, dsqrt, previous=None, **params):
        super().__init__(network, active, X, dsqrt, **params)
        G = None if previous is None else previous.take(self)
        if G is None:
            G = network.gram(self.by_neuron, X, data_gram=self.data_gram)
            if self.affine_gram is None:
                with self._blas_threads():
                    G += self.affine_rows @ self.affine_rows.T
            else:
                G += self.affine_gram
        self.G = G
        self._spectrum = None

    def handover(self):
        """What the next system over the same rows may keep: ``G`` with the
        active sets it was made of (:class:`_GramHandover`), when the
        fixed products it was made with are given."""
        if self.data_gram is None or self.affine_gram is None:
            return None
        return _GramHandover(self.active, self.G)

    def _blas_threads(self):
        # Idle BLAS workers keep spinning after a call, against the fit's own
        # threads and any other busy process: small factorizations run on
        # one BLAS thread, larger ones get BLAS's threads back from the fit's
        # limit when no other fit runs (ONE_BLAS_THREAD_MAX_SAMPLES). The
        # choice depends on the size only, never on n_jobs, so that n_jobs
        # does not change the rounding.
        if self.n_samples > ONE_BLAS_THREAD_MAX_SAMPLES:
            return own_blas_threads()
        return one_blas_thread()

    def _scaled_gram(self):
        B = np.multiply(self.G, self.dsqrt[:, None])
        B *= self.dsqrt[None, :]
        return B

    def spectrum(self):
        """Eigenvalues (clipped at 0) and eigenvectors of ``B = D^(1/2) G
        D^(1/2)``, computed once; later solves use them instead of a Cholesky
        factorization (the damping search of ``alpha="auto"``)."""
        if self._spectrum is None:
            with self._blas_threads():
                eigenvalues, vectors = np.linalg.eigh(self._scaled_gram())
            self._spectrum = np.maximum(eigenvalues, 0.0), vectors
        return self._spectrum

    def solve(self, lam, R):
        self.last_info = {}
        if self._spectrum is not None:
            eigenvalues, V = self._spectrum
            with self._blas_threads():
                return V @ ((V.T @ R) / (eigenvalues + lam)[:, None])
        B = self._scaled_gram()
        B.flat[:: B.shape[0] + 1] += lam
        with self._blas_threads():
            return cho_solve(_cholesky(B), R, check_finite=False)

    def gram_matvec(self, Q):
        with self._blas_threads():
            return self.G @ Q


class _GramHandover:
    """A Cholesky system's ``G`` and active sets, for the next system.

    ``G_ij`` depends on the active sets of rows ``i`` and ``j`` only (and on
    the fixed data and affine Grams), so the next system recomputes the rows
    and columns of the rows whose active sets changed, entry by entry as
    :meth:`TwoLayerNetwork.gram` computes them: the same bits as a new
    ``G``. A step of heavy damping changes few active sets
    (``GRAM_UPDATE_MAX_ROWS``).
    """

    def __init__(self, active, G):
        self._active, self._G = active, G

    def take(self, system):
        """``G`` of ``system``, made from this one, or None when too many
        rows changed; either way this handover lets go of its ``G``."""
        G, old = self._G, self._active
        self._G = self._active = None
        new = system.active
        if G is None or old.shape != new.shape:
            return None
        changed = np.flatnonzero(abs(pattern(new) - pattern(old)).sum(axis=1) > 0)
        if changed.size > GRAM_UPDATE_MAX_ROWS * new.shape[0]:
            return None
        if changed.size:
            rows = system.network.gram_rows(new, changed, system.data_gram)
            rows += system.affine_gram[changed]
            # the data and affine Grams are products X X^T (exactly
            # symmetric), and so are the overlap counts
            G[changed, :] = rows
            G[:, changed] = rows.T
        return G


class CGSystem(_System):
    """Matrix-free preconditioned conjugate gradient.

    ``G u`` is computed as ``J (J^T u)`` over the active sets in O(nnz * d); no
    ``n x n`` matrix is formed. The preconditioner of ``B + lam I``, ``B =
    D^(1/2) G D^(1/2)``, is built once per system: by default the top of a
    CountSketch of ``J^T D^(1/2)`` (:class:`SketchPreconditioner`).

    Parameters
    ----------
    network : TwoLayerNetwork
        Current network.
    active : sparse array of shape (n_samples, n_neurons)
        Active sets of the rows.
    X : ndarray of shape (n_samples, n_inputs)
        Preprocessed rows.
    dsqrt : ndarray of shape (n_samples,)
        ``D^(1/2)``.
    data_gram : None
        Unused (the Cholesky system's ``X X^T``).
    random_state : int or None
        Seed of the preconditioner's sketch.
    affine_rows : ndarray of shape (n_samples, q), default=None
        Jacobian rows of the affine output part (``network.affine_rows``);
        a column of ones (the intercept) if None.
    affine_gram : None
        Unused (the Cholesky system's ``E E^T`` of the affine rows, the same
        at every iteration of a fit).
    preconditioner : class, default=None
        Called as ``preconditioner(system, rng)``, returns an object whose
        ``apply(R, lam)`` gives ``P^-1 R`` (see ``_preconditioners.py``);
        :class:`SketchPreconditioner` if None.
    previous : tuple, default=None
        What the system of the previous iteration over the same rows handed
        over (:meth:`handover`): its preconditioner, kept if a ``preconditioner``
        (class), with the CG iterations of its first solve.
    cg_stop : {"residual", "decrease"}, default="residual"
        When CG stops: when the relative residual of every column is at most
        ``CG_RTOL``, or with ``"decrease"`` also when the last iteration
        lowered the quadratic model ``c^T A c / 2 - r^T c`` of every column
        by at most ``CG_DECREASE_RTOL`` times its decrease so far (CG lowers
        it at every iteration).
    **params : dict
        ``data_gram``, ``random_state``, ``affine_rows`` and ``affine_gram``
        above, by keyword.
    """

    name = "cg"

    def __init__(
        self,
        network,
        active,
        X,
        dsqrt,
        preconditioner=None,
        previous=None,
        cg_stop="residual",
        **params,
    ):
        super().__init__(network, active, X, dsqrt, **params)
        if cg_stop not in ("residual", "decrease"):
            raise ValueError(
                f"cg_stop must be 'residual' or 'decrease', got {cg_stop!r}."
            )
        self.cg_stop = cg_stop
        self._gram = network.gram_operator(self.active, X, pairs=self.pairs)
        self._preconditioner_cls = (
            SketchPreconditioner if preconditioner is None else preconditioner
        )
        self._preconditioner = self._first_iterations = None
        self._handed_over = (
            previous is not None and type(previous[0]) is self._preconditioner_cls
        )
        if self._handed_over:
            self._preconditioner, self._first_iterations = previous
        self._iterations = None

    @property
    def preconditioner(self):
        """The preconditioner, built on the first solve that needs it (a step
        taken from the Krylov path of ``alpha="auto"`` needs none)."""
        if self._preconditioner is None:
            self._preconditioner = self._preconditioner_cls(
                self, np.random.RandomState(self.random_state)
            )
        return self._preconditioner

    def handover(self):
        """What the next system may keep: ``(preconditioner, iterations of its
        first solve)`` while the last solve took at most
        ``PRECONDITIONER_REUSE_GROWTH`` times those iterations (or, without a
        solve, the preconditioner it was handed), else None."""
        if self._preconditioner is None:
            return None
        if self._iterations is None:
            if self._first_iterations is None:
                return None
            return self._preconditioner, self._first_iterations
        if self._iterations > (
            PRECONDITIONER_REUSE_GROWTH * max(self._first_iterations, 1)
        ):
            return None
        return self._preconditioner, self._first_iterations

    def gram_matvec(self, Q):
        out = self._gram(Q)
        E = self.affine_rows
        out += E @ (E.T @ Q)
        return out

    def solve(self, lam, R):
        """Preconditioned CG on every column of ``R`` at once (shared operator)."""
        X = np.zeros_like(R)
        res = R.copy()
        norms = np.linalg.norm(R, axis=0)
        target = CG_RTOL * np.where(norms > 0, norms, 1.0)
        # the quadratic model's decrease so far, and of the last iteration
        decrease, last = np.zeros(R.shape[1]), np.full(R.shape[1], np.inf)
        by_decrease = self.cg_stop == "decrease"

        def converged():
            if np.all(np.linalg.norm(res, axis=0) <= target):
                return True
            return by_decrease and bool(np.all(last <= CG_DECREASE_RTOL * decrease))

        def run(max_iter):
            nonlocal X, res
            precondition = self.preconditioner.apply
            Z = precondition(res, lam)
            P = Z.copy()
            rz = np.sum(res * Z, axis=0)
            for it in range(max_iter):
                if converged():
                    return it, True
                AP = self.bmatvec(P) + lam * P
                pAp = np.sum(P * AP, axis=0)
                step = np.divide(rz, pAp, out=np.zeros_like(rz), where=pAp > 0)
                # an iteration lowers the model by step * rz / 2
                last[:] = 0.5 * step * rz
                decrease[:] += last
                X += step * P
                res -= step * AP
                Z = precondition(res, lam)
                rz_new = np.sum(res * Z, axis=0)
                beta = np.divide(rz_new, rz, out=np.zeros_like(rz), where=rz > 0)
                P = Z + beta * P
                rz = rz_new
            return max_iter, converged()

        self._solve_with_reuse(run)
        self._record_residual(np.linalg.norm(res, axis=0), norms)
        return X

    def _solve_with_reuse(self, run):
        """Run the CG recursion ``run(max_iter) -> (iterations, converged)``,
        which goes on from the current iterate with the current preconditioner.

        A preconditioner handed over by the previous system gets
        ``PRECONDITIONER_REUSE_GROWTH`` times the iterations of its first solve;
        if the solve has not converged by then, a new preconditioner is built
        for this system and the recursion restarts from the iterate reached,
        with the iterations left.
        """
        kept = self._handed_over
        budget = CG_MAX_ITER
        if kept:
            budget = int(PRECONDITIONER_REUSE_GROWTH * max(self._first_iterations, 1))
        it, converged = run(budget)
        total = it
        if kept and not converged:
            self._new_preconditioner()
            it, converged = run(CG_MAX_ITER - total)
            total += it
        self._iterations = it
        if self._first_iterations is None:
            self._first_iterations = it
        self.last_info = {"cg_iterations": total}

    def _new_preconditioner(self):
        """Drop the kept preconditioner; the next use builds a new one."""
        self._preconditioner = self._first_iterations = None
        self._handed_over = False

    def _record_residual(self, residual_norms, norms):
        """Add the relative residual of the last solve to ``last_info``."""
        self.last_info["cg_residual"] = float(
            np.max(residual_norms / np.where(norms > 0, norms, 1.0))
        )


SYSTEMS = {"cholesky": CholeskySystem, "cg": CGSystem}
