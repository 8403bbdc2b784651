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
from scipy.linalg import eigh_tridiagonal

# Dampings tried, relative to the trace of B: 8 per decade over a range that
# holds every choice of the real-table suite and diabetes
# (benchmarks/bench_real_tables.py, history_["alpha"]) with margin on both
# sides; 1e2 is nearly no step.
GCV_RELATIVE_DAMPINGS = np.logspace(-7.0, 2.0, 73)
# After earlier steps (constant curvature), a step is taken only if its GCV
# score is below no step's by this share: the smaller gains came from steps
# at dampings near the top of the grid, which moved nothing but cost an
# iteration each (benchmarks/bench_real_tables.py, keys "rows" /
# "ours_score", "ours_fit_time", table Males).
LATER_MIN_GAIN = 1e-3


def earlier_shrink(nodes, earlier):
    """``prod_j lam_j / (e + lam_j)`` at every node ``e``: what the earlier
    steps of dampings ``earlier`` left of each direction (1 without any)."""
    shrink = np.ones_like(nodes)
    for lam in earlier:
        shrink = shrink * (lam / (nodes + lam))
    return shrink


def gcv_scores(eigenvalues, projected, dampings, total_weight, earlier=()):
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
    earlier : sequence of float, default=()
        Dampings of the earlier steps of the fit (constant curvature): the
        step refits what they left (:func:`earlier_shrink`), and their
        degrees of freedom count with its own.

    Returns
    -------
    scores : ndarray of shape (n_dampings,)
        ``GCV(lam)``; ``inf`` where ``trace(H) >= N``.
    """
    energy = np.sum(projected**2, axis=1)
    shrink = _shrink(dampings, eigenvalues)
    dof = earlier_dof(eigenvalues, earlier) + np.sum(
        added_dof(shrink, eigenvalues, earlier), axis=1
    )
    return _gcv(shrink**2 @ energy, dof, total_weight)


def _shrink(dampings, nodes):
    """``lam / (e + lam)`` per damping ``lam`` (rows) and node ``e``."""
    return dampings[:, None] / (nodes[None, :] + dampings[:, None])


def added_dof(shrink, nodes, earlier):
    """``(1 - lam / (e + lam)) prod_j lam_j / (e + lam_j)`` per damping and
    node ``e``: the degrees of freedom a step adds in each direction after
    the earlier steps of dampings ``earlier`` (``shrink``: ``lam / (e +
    lam)``, shape (n_dampings, n_nodes))."""
    if not earlier:
        return 1.0 - shrink
    return (1.0 - shrink) * earlier_shrink(nodes, earlier)[None, :]


def earlier_dof(nodes, earlier, weights=None):
    """The earlier steps' degrees of freedom ``trace(I - prod_j S_j)`` over
    the eigenvalues ``nodes`` (or a quadrature's nodes with ``weights``);
    0 without earlier steps."""
    if not earlier:
        return 0.0
    left = 1.0 - earlier_shrink(nodes, earlier)
    return float(np.sum(left) if weights is None else left @ weights)


def _no_step(rhs, dof, total_weight):
    """GCV of no step, ``||z||^2 / (1 - dof / N)^2``, with ``dof`` the earlier
    steps' degrees of freedom (0 without any: the training error)."""
    return float(_gcv(np.array([np.sum(rhs**2)]), np.array([dof]), total_weight)[0])


def _improves(score, no_step, earlier):
    """Whether a step of GCV ``score`` is expected to lower the held-out
    error of no step's ``no_step``: after earlier steps, by at least
    ``LATER_MIN_GAIN``."""
    gain = LATER_MIN_GAIN if earlier else 0.0
    return score < no_step * (1.0 - gain)


def _gcv(residual, dof, total_weight, allowed=True):
    """``residual / (1 - dof / N)^2`` per damping, ``inf`` where ``dof >= N``
    or not ``allowed``."""
    denominator = 1.0 - dof / total_weight
    scores = np.full(residual.shape, np.inf)
    ok = (denominator > 0) & allowed
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
    earlier : sequence of float, default=()
        Dampings of the earlier steps, as for :func:`gcv_scores`; their
        degrees of freedom count in the scores of every step and of no step.

    Attributes
    ----------
    damping : float
        The damping of lowest GCV.
    relative : float
        ``damping / trace``.
    score : float
        Its GCV score.
    no_step : float
        The score of no step, ``||z||^2 / (1 - dof / N)^2`` with ``dof``
        the earlier steps' (``||z||^2``, the training error, without any).
    """

    def __init__(self, system, rhs, trace, total_weight, earlier=()):
        eigenvalues, vectors = system.spectrum()
        dampings = GCV_RELATIVE_DAMPINGS * trace
        scores = gcv_scores(
            eigenvalues, vectors.T @ rhs, dampings, total_weight, earlier
        )
        best = int(np.argmin(scores))
        self.damping = float(dampings[best])
        self.relative = float(GCV_RELATIVE_DAMPINGS[best])
        self.score = float(scores[best])
        self.no_step = _no_step(rhs, earlier_dof(eigenvalues, earlier), total_weight)
        self._earlier = tuple(earlier)
        # never kept (GaussNewton's KEEP_LOWEST_CHOICE): the exact selection
        # costs one eigendecomposition, and its range reaches far below the
        # dampings that keep a step linear
        self.lowest = False
        # nor a bound of the next choice (KrylovChoice.next_at_least)
        self.next_at_least = None

    @property
    def improves(self):
        """Whether the chosen step is expected to lower the held-out error."""
        return _improves(self.score, self.no_step, self._earlier)

    def wrap(self, system):
        """The system of the steps: ``system`` itself (its spectrum solves)."""
        return system


# Lanczos steps of the matrix-free GCV (KrylovChoice), and the Rademacher
# probes of its trace estimate (benchmarks/bench_real_tables.py, keys
# "rows" / "ours_score", "ours_fit_time").
KRYLOV_STEPS = 64
TRACE_PROBES = 1
KRYLOV_BLOCK = 8
# After earlier steps, the Lanczos runs go on until the earlier steps'
# degrees of freedom (from the probes' quadratures) move by at most this
# share over a block: runs that stopped once the choice settled (a large
# damping, after 16 steps) overstated them by half, and with them the score
# of no step (same benchmark and keys, table Males).
EARLIER_DOF_RTOL = 0.01
# GCV from the exact spectrum (one eigh, about ten Cholesky factorizations)
# up to this many weighted rows of a Cholesky system, from the Lanczos
# quadratures beyond (same benchmark and keys).
EIGH_MAX_SAMPLES = 1000
# No selection beyond this many weighted rows, where the floor of alpha=1e-3
# stays: the variance GCV trades against shrinks with the rows, and on the
# suite's 13,000-row folds the selection lowered every score at 2-6 times the
# fit time (same benchmark and keys); the Lanczos bases (KRYLOV_STEPS vectors
# per output and probe) stay bounded too.
KRYLOV_MAX_SAMPLES = 5000
# A later Lanczos choice of a fit is at least the previous one divided by
# this: on the suite the choices rose from one iteration to the next, or fell
# by a grid step or two to the floor, and with a linear term (whose
# eigenvalues spread the spectrum) resolving the small dampings took four
# times the Lanczos steps of the large ones (benchmarks/bench_real_tables.py,
# keys "rows" / "ours_score", "ours_fit_time").
KRYLOV_DESCENT = 10.0


def selection_method(n_weighted, has_spectrum):
    """How ``alpha="auto"`` chooses the damping over ``n_weighted`` rows:
    ``"eigh"`` (:class:`DampingChoice`), ``"krylov"`` (:class:`KrylovChoice`)
    or None (the floor)."""
    if has_spectrum and n_weighted <= EIGH_MAX_SAMPLES:
        return "eigh"
    return "krylov" if n_weighted <= KRYLOV_MAX_SAMPLES else None


class Lanczos:
    """Independent Lanczos runs from every column of ``Z``, one block product
    per step, each column fully reorthogonalized against its own basis;
    extended on demand (:meth:`extend`).

    Parameters
    ----------
    matvec : callable
        ``V -> B V`` for a symmetric positive semi-definite ``B``, on blocks of
        shape (n, c).
    Z : ndarray of shape (n, c)
        Starting vectors (nonzero columns).
    max_steps : int
        Most steps ``k`` (at most ``n``).

    Attributes
    ----------
    steps : int
        Steps taken.
    diagonal : ndarray of shape (max_steps, c)
        Diagonals of the tridiagonal matrices ``T``.
    offdiagonal : ndarray of shape (max_steps, c)
        Their off-diagonals; entry ``steps - 1`` is ``beta_k`` (the size of
        the next residual).
    basis : ndarray of shape (max_steps, n, c)
        The orthonormal bases ``Q`` (a view of storage by column, so that
        each column's basis is one contiguous matrix: :meth:`column_basis`).
    """

    def __init__(self, matvec, Z, max_steps):
        n, c = Z.shape
        self.matvec = matvec
        # column by column: the reorthogonalization's products are a batch
        # of matrix-vector products (BLAS), not strided sums
        self._bases = np.zeros((c, max_steps, n))
        self.diagonal = np.zeros((max_steps, c))
        self.offdiagonal = np.zeros((max_steps, c))
        self._bases[:, 0] = (Z / np.linalg.norm(Z, axis=0)).T
        self.steps = 0
        self._scale = None

    @property
    def basis(self):
        return self._bases.transpose(1, 2, 0)

    def column_basis(self, c):
        """The orthonormal basis of column ``c``'s run so far, shape
        (steps, n): stored column by column, one contiguous matrix."""
        return self._bases[c, : self.steps]

    def extend(self, steps):
        """Run up to ``steps`` steps in all (at most ``max_steps``)."""
        Q = self._bases
        for j in range(self.steps, min(steps, Q.shape[1])):
            w = self.matvec(Q[:, j].T).T.copy()
            self.diagonal[j] = np.einsum("cn,cn->c", Q[:, j], w)
            if self._scale is None:
                self._scale = np.maximum(np.abs(self.diagonal[0]), 1e-300)
            # full reorthogonalization, twice ("twice is enough")
            for _ in range(2):
                coef = np.matmul(Q[:, : j + 1], w[:, :, None])
                w -= np.matmul(Q[:, : j + 1].transpose(0, 2, 1), coef)[:, :, 0]
            beta = np.linalg.norm(w, axis=1)
            # an invariant subspace ends a column's run: later steps stay
            # zero, and decoupled blocks of T carry no quadrature weight
            beta[beta <= 1e-12 * self._scale] = 0.0
            self.offdiagonal[j] = beta
            if j + 1 < Q.shape[1]:
                Q[:, j + 1] = np.divide(
                    w, beta[:, None], out=np.zeros_like(w), where=beta[:, None] > 0
                )
            self.steps = j + 1

    def quadrature(self, c):
        """Nodes (Ritz values, clipped at 0) and eigenvectors of column
        ``c``'s tridiagonal matrix after the steps taken."""
        k = self.steps
        theta, S = eigh_tridiagonal(
            self.diagonal[:k, c], self.offdiagonal[: k - 1, c], check_finite=False
        )
        return np.maximum(theta, 0.0), S


class KrylovChoice:
    """The damping of lowest GCV without a spectrum: Lanczos quadrature.

    Lanczos runs from the right-hand side ``-z`` (one per output) and from
    ``TRACE_PROBES`` Rademacher vectors ``v`` give Gauss quadratures of the
    spectral sums of GCV (Golub and Meurant, 1997; Bai, Fahey and Golub,
    1996): ``||(I - H) z||^2 = z^T lam^2 (B + lam I)^-2 z`` from the runs of
    ``z``, and ``trace(H)`` as the mean of ``v^T B (B + lam I)^-1 v``
    (Hutchinson) from those of the probes. The runs of ``z`` also hold the
    step for every damping (shifted systems share one Krylov space):
    ``C = Q (T + lam I)^-1 e_1 ||z||``, used by :meth:`wrap`'s solves where
    its residual is at most ``rtol``.

    Parameters
    ----------
    system : object
        A system offering ``bmatvec(V) = B V``.
    rhs : ndarray of shape (n_weighted, n_outputs)
        The right-hand side of the step, as for :class:`DampingChoice`.
    trace, total_weight : float
        As for :class:`DampingChoice`.
    random_state : int or None
        Seed of the probes.
    rtol : float
        Relative residual up to which the Krylov step is used.
    minimum : float, default=0.0
        Lowest relative damping tried: the floor.
    at_least : float or None, default=None
        Lowest relative damping tried if above ``minimum``: the previous
        iteration's choice (:attr:`next_at_least`).
    earlier : sequence of float, default=()
        As for :class:`DampingChoice`; their degrees of freedom
        (:attr:`earlier_dof`) from the quadratures of the probes' runs.

    Attributes
    ----------
    damping, relative, score, no_step : float
        As for :class:`DampingChoice`.
    lowest : bool
        Whether the choice is the floor ``minimum``.
    next_at_least : float
        The lowest relative damping of the next iteration's choice: this one.
    earlier_dof : float
        The earlier steps' degrees of freedom (0.0 without any).
    """

    def __init__(
        self,
        system,
        rhs,
        trace,
        total_weight,
        random_state,
        rtol,
        minimum=0.0,
        at_least=None,
        earlier=(),
    ):
        n, q = rhs.shape
        probes = np.random.RandomState(random_state).choice(
            [-1.0, 1.0], size=(n, TRACE_PROBES)
        )
        norms = np.linalg.norm(rhs, axis=0)
        start = np.hstack([np.where(norms > 0, rhs, 1.0), probes])
        self.rhs, self.rtol, self._norms = rhs, rtol, norms
        self._earlier = tuple(earlier)
        self._runs = Lanczos(system.bmatvec, start, min(KRYLOV_STEPS, n))
        dampings = GCV_RELATIVE_DAMPINGS * trace
        # Dampings below the floor leave the linear regime (rejected steps).
        # Far below the previous iteration's choice, GCV would refit what
        # that step left as noise; it is also where the quadratures need the
        # most steps, on spectra spread by a linear term (KRYLOV_DESCENT).
        floor = GCV_RELATIVE_DAMPINGS >= minimum
        allowed = floor
        if at_least is not None:
            allowed = floor & (GCV_RELATIVE_DAMPINGS >= at_least / KRYLOV_DESCENT)
        last = None
        self.earlier_dof = 0.0
        # Steps in blocks until the choice (and whether to step) is the same
        # as a block before, the step of the chosen damping has converged,
        # and so has the earlier steps' degrees of freedom.
        for steps in range(KRYLOV_BLOCK, KRYLOV_STEPS + KRYLOV_BLOCK, KRYLOV_BLOCK):
            self._runs.extend(steps)
            self._quadratures = [
                self._runs.quadrature(c) for c in range(start.shape[1])
            ]
            settled = self._update_earlier_dof(n, q)
            scores = self._scores(dampings, n, q, total_weight, allowed)
            self.no_step = _no_step(rhs, self.earlier_dof, total_weight)
            best = int(np.argmin(scores))
            choice = (best, bool(scores[best] < self.no_step))
            if self._runs.steps >= min(KRYLOV_STEPS, n) or (
                choice == last
                and settled
                and self._converged(dampings[best : best + 1])[0]
            ):
                break
            last = choice
        self.damping = float(dampings[best])
        self.relative = float(GCV_RELATIVE_DAMPINGS[best])
        self.score = float(scores[best])
        self.lowest = best == int(np.argmax(floor))
        self.next_at_least = self.relative

    def _probe_sum(self, n, q, per_probe):
        """``n / TRACE_PROBES`` times the sum of ``per_probe(theta, w)`` over
        the probes' quadratures (nodes ``theta``, weights ``w``): the
        Hutchinson estimate of a trace."""
        return (n / TRACE_PROBES) * sum(
            per_probe(theta, S[0] ** 2) for theta, S in self._quadratures[q:]
        )

    def _update_earlier_dof(self, n, q):
        """Estimate the earlier steps' degrees of freedom from the probes'
        quadratures after a block of steps; whether it moved by at most
        ``EARLIER_DOF_RTOL`` since the last block (True without earlier
        steps)."""
        before = self.earlier_dof
        self.earlier_dof = self._probe_sum(
            n, q, lambda theta, w: earlier_dof(theta, self._earlier, w)
        )
        return abs(self.earlier_dof - before) <= EARLIER_DOF_RTOL * self.earlier_dof

    def _scores(self, dampings, n, q, total_weight, allowed):
        """GCV of every damping from the quadratures (``inf`` if not allowed)."""
        residual = sum(
            self._norms[c] ** 2 * (_shrink(dampings, theta) ** 2 @ (S[0] ** 2))
            for c, (theta, S) in enumerate(self._quadratures[:q])
        )
        dof = self.earlier_dof + self._probe_sum(
            n,
            q,
            lambda theta, w: (
                added_dof(_shrink(dampings, theta), theta, self._earlier) @ w
            ),
        )
        return _gcv(residual, dof, total_weight, allowed)

    @property
    def improves(self):
        """Whether the chosen step is expected to lower the held-out error."""
        return _improves(self.score, self.no_step, self._earlier)

    def _converged(self, dampings):
        """Whether the Krylov step of every output has a relative residual of
        at most ``rtol``, per damping (``beta_k |e_k^T (T + lam I)^-1 e_1|``)."""
        ok = np.ones(dampings.shape, bool)
        beta = self._runs.offdiagonal[self._runs.steps - 1]
        for c, norm in enumerate(self._norms):
            if norm > 0:
                theta, S = self._quadratures[c]
                last = (1.0 / (theta[None, :] + dampings[:, None])) @ (S[-1] * S[0])
                ok &= beta[c] * np.abs(last) <= self.rtol
        return ok

    def path_solve(self, lam):
        """``(B + lam I)^-1 rhs`` from the Krylov spaces, or None where some
        column's relative residual exceeds ``rtol``."""
        if not self._converged(np.array([lam]))[0]:
            return None
        columns = []
        for c, norm in enumerate(self._norms):
            if norm == 0:
                columns.append(np.zeros(self.rhs.shape[0]))
                continue
            theta, S = self._quadratures[c]
            y = norm * (S @ (S[0] / (theta + lam)))
            columns.append(y @ self._runs.column_basis(c))
        return np.column_stack(columns)

    def wrap(self, system):
        """``system`` with solves of ``rhs`` from the Krylov path where it
        converged (:class:`_PathSystem`)."""
        return _PathSystem(system, self)


class _PathSystem:
    """A system whose solves of the choice's right-hand side come from the
    choice's Krylov path where it converged; everything else is the
    system's own."""

    def __init__(self, system, choice):
        self._system, self._choice = system, choice
        self.last_info = {}

    def __getattr__(self, name):
        return getattr(self._system, name)

    def solve(self, lam, R):
        if R.shape == self._choice.rhs.shape and np.array_equal(R, self._choice.rhs):
            C = self._choice.path_solve(lam)
            if C is not None:
                self.last_info = {"krylov_steps": self._choice._runs.steps}
                return C
        C = self._system.solve(lam, R)
        self.last_info = self._system.last_info
        return C
