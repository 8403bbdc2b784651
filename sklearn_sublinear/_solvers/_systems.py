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

import contextlib

import numpy as np
import scipy.sparse as sp
from scipy.linalg import cho_solve

from .._threads import one_blas_thread_when_threaded
from ._count_sketch import count_sketch_rows

# Conjugate gradient: relative residual target and iteration cap. An inexact
# Gauss-Newton step is enough (the step is accepted on the actual decrease):
# against 1e-6, 1e-3 took 17 instead of 32 CG iterations per step on diamonds
# (n = 20,000; fit 3.08 -> 2.33 s, same test R2 0.9858) and 30 instead of 57
# at n = 100,000 (fit 66 -> 61 s, same R2).
CG_RTOL = 1e-3
CG_MAX_ITER = 500
# Preconditioner of CGSystem (a key of PRECONDITIONERS). At the damping of fits
# on diamonds (n = 20,000) and make_friedman1 (n = 100,000), to CG_RTOL,
# "sketch" took 0.78 and 0.64 of the setup + solve time of "nystrom" (18 and 29
# CG iterations against 36 and 46) and 0.71 and 0.74 of "none"'s;
# "block_jacobi" took 2.7 and 1.1 times "nystrom"'s
# (benchmarks/bench_preconditioners.py).
PRECONDITIONER = "sketch"
# Rank of the randomized Nystrom preconditioner (capped by n): building it costs
# one Gram product per rank.
NYSTROM_RANK = 20
# Columns of the CountSketch of J^T and rank kept from it (both capped by n).
# The sketch costs O(nnz * d) whatever its columns, plus O(n * columns^2) for
# their Gram. At the solver's damping floor, n = 100,000: 256 / 64 took 82 CG
# iterations, 512 / 128 56 and 1024 / 128 49 (Nystrom 20: 94, none: 115), the
# larger sketch costing more to build than it saved.
SKETCH_COLUMNS = 512
SKETCH_RANK = 128
# Bytes of one chunk of sketched rows (the chunk's rows of Y).
SKETCH_CHUNK_BYTES = 2**23
# Samples per diagonal block of the block-Jacobi preconditioner.
BLOCK_SIZE = 256
# Up to this many samples, a Cholesky system of a fit with threads of its own
# runs its BLAS calls on one thread (CholeskySystem._blas_threads).
ONE_BLAS_THREAD_MAX_SAMPLES = 2048


def _cholesky(A):
    """Lower Cholesky factor of the SPD ``A``, as ``(L, True)`` for ``cho_solve``.

    numpy's LAPACK, not scipy's: the Gram's products run on numpy's BLAS
    threads, which keep spinning for a while afterwards, and scipy's own BLAS
    threads fought them for the 2 cores (n = 1000 in a fit: 8-120 ms, erratic,
    against 12-14 ms; digits, n = 1797: 74 against 73 ms).
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
    ):
        self.network = network
        self.active = sp.csr_array(active)
        # the pairs grouped by neuron, for the Gram and the steps
        self.by_neuron = self.active.tocsc()
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


class CholeskySystem(_System):
    """Forms ``G`` once and factors ``D^(1/2) G D^(1/2) + lam I`` per damping.

    Parameters as for :class:`CGSystem`.
    """

    name = "cholesky"

    def __init__(self, network, active, X, dsqrt, **params):
        super().__init__(network, active, X, dsqrt, **params)
        G = network.gram(self.by_neuron, X, data_gram=self.data_gram)
        if self.affine_gram is None:
            with self._blas_threads():
                G += self.affine_rows @ self.affine_rows.T
        else:
            G += self.affine_gram
        self.G = G

    def _blas_threads(self):
        # Idle BLAS workers spin for 60-100 ms after a call, against the
        # threads of the step and of the next query when the fit has its own
        # (n_jobs > 1). Small factorizations run on one BLAS thread then: at
        # m=2**20, n=1000, 2 jobs, 0.30 -> 0.27 s per tree iteration, the
        # factorization taking 4 ms more; larger ones keep BLAS's threads
        # (n=4000, 10 outputs: 5.8 -> 7.2 s per fit on one thread).
        if self.n_samples > ONE_BLAS_THREAD_MAX_SAMPLES:
            return contextlib.nullcontext()
        return one_blas_thread_when_threaded(self.network.n_jobs)

    def solve(self, lam, R):
        B = np.multiply(self.G, self.dsqrt[:, None])
        B *= self.dsqrt[None, :]
        B.flat[:: B.shape[0] + 1] += lam
        self.last_info = {}
        with self._blas_threads():
            return cho_solve(_cholesky(B), R, check_finite=False)

    def gram_matvec(self, Q):
        with self._blas_threads():
            return self.G @ Q


class IdentityPreconditioner:
    """No preconditioning, ``P = I`` (the reference of the others)."""

    def __init__(self, system, rng):
        pass

    def apply(self, R, lam):
        """Return ``P^-1 R = R`` (a copy)."""
        return R.copy()


class LowRankPreconditioner:
    """Low rank plus identity: exact on ``span(U)``, one scale elsewhere.

    With orthonormal columns ``U`` (``n x k``), eigenvalue estimates ``L`` of
    ``B`` on them (decreasing) and ``mu = L_k + lam``,

        P = (U diag(L + lam) U^T + mu (I - U U^T)) / mu,

    whose inverse (Woodbury) is ``I + U (mu / (L + lam) - 1) U^T``: O(n k) per
    column, no ``n x n`` matrix. Scaling the complement of ``span(U)`` by
    ``mu`` rather than ``lam`` maps the eigenvalues of ``B + lam I`` there,
    between ``lam`` and about ``mu`` when ``U`` holds the top of ``B``, to at
    most about 1 instead of up to ``mu / lam`` (Frangella, Tropp and Udell,
    SIAM J. Matrix Anal. Appl. 2023).

    Attributes
    ----------
    U : ndarray of shape (n_samples, k)
    eigenvalues : ndarray of shape (k,)
    """

    def apply(self, R, lam):
        """Return ``P^-1 R`` for ``R`` of shape (n_samples, n_columns)."""
        L = self.eigenvalues
        scale = (L[-1] + lam) / (L + lam)
        return R + self.U @ ((scale[:, None] - 1.0) * (self.U.T @ R))


class NystromPreconditioner(LowRankPreconditioner):
    """Randomized Nystrom approximation of ``B`` (Frangella, Tropp and Udell).

    ``B Omega`` for a Gaussian ``n x r`` test matrix ``Omega`` (``r =
    NYSTROM_RANK`` Gram products, O(r nnz d)) gives ``B_nys = (B Omega)
    (Omega^T B Omega)^-1 (B Omega)^T = U diag(L) U^T``, computed stably with a
    small shift; see :class:`LowRankPreconditioner` for ``P``.
    """

    def __init__(self, system, rng):
        n = system.n_samples
        omega, _ = np.linalg.qr(rng.standard_normal((n, min(NYSTROM_RANK, n))))
        Y = system.bmatvec(omega)
        shift = np.sqrt(n) * np.finfo(np.float64).eps * np.linalg.norm(Y)
        Y += shift * omega
        small = omega.T @ Y
        small = 0.5 * (small + small.T)
        try:
            chol = np.linalg.cholesky(small)
        except np.linalg.LinAlgError:
            eigval, eigvec = np.linalg.eigh(small)
            chol = eigvec * np.sqrt(np.maximum(eigval, shift))
        U, sigma, _ = np.linalg.svd(np.linalg.solve(chol, Y.T).T, full_matrices=False)
        self.U = U
        self.eigenvalues = np.maximum(sigma**2 - shift, 0.0)


class SketchPreconditioner(LowRankPreconditioner):
    """Top of a CountSketch of ``J^T``, orthogonalized: sketch and QR.

    ``B = A A^T`` with ``A = D^(1/2) [K, E]``, where ``K`` (``n x m d``) is the
    Jacobian of the weights with the output signs dropped (``a_r^2 = 1``, so
    ``K K^T = G - E E^T`` for every output): ``K[i, (r, k)] = x_ik / sqrt(m)``
    for ``r`` firing on ``x_i``, and ``E`` the affine part's rows (``q``
    columns: ones for the intercept). A CountSketch ``Phi`` (``m d x s``, one
    random sign per row, in a random column) gives ``Y = D^(1/2) [K Phi, E]``,
    ``n x (s + q)``, with ``E[Y Y^T] = B``; the affine columns are kept exactly. Its
    rows are sketched from the active pairs directly, O(nnz * d) whatever
    ``s``, instead of one Gram product per column as in Nystrom.

    The thin QR ``Y = Q R`` would give ``Y Y^T = Q R R^T Q^T``; here the
    eigendecomposition of the small ``Y^T Y = R^T R`` gives the same top
    singular pairs without storing ``Y``: the rows are sketched twice, by
    chunks, once to accumulate ``Y^T Y`` (O(n s^2)) and once to form the top
    ``k = SKETCH_RANK`` left singular vectors ``U = Y V L^(-1/2)``. Memory is
    O(n k + s^2). The whole damped sketch ``Y Y^T + lam I`` as preconditioner
    took more CG iterations (100 against 56 at n = 100,000, 41 against 32 at
    n = 20,000) at a higher cost each: ``s`` far below ``rank(B)`` gives no
    subspace embedding, only the top of the sketch is informative. This is
    the low-rank counterpart of the sketch-and-precondition step of Brand,
    Peng, Song and Weinstein (ITCS 2021), whose ``n x n`` triangular factor
    would not fit for large ``n``.

    Attributes
    ----------
    columns : int
        Columns ``s`` of ``Phi``, ``SKETCH_COLUMNS`` capped by ``n``.
    buckets : ndarray of shape (n_neurons, n_inputs)
        Column of ``Phi`` of each coordinate ``(r, k)``.
    signs : ndarray of shape (n_neurons, n_inputs)
        Its entry, ``+-1 / sqrt(m)`` (the Jacobian's scale included).
    """

    def __init__(self, system, rng):
        n, d = system.X.shape
        m = system.network.n_neurons
        self.columns = min(SKETCH_COLUMNS, n)
        self.buckets = rng.randint(0, self.columns, size=(m, d)).astype(np.int32)
        self.signs = rng.choice([-1.0, 1.0], size=(m, d)) / np.sqrt(m)
        q = system.affine_rows.shape[1]
        gram = np.zeros((self.columns + q, self.columns + q))
        for _, Y in self.sketch(system):
            gram += Y.T @ Y
        eigval, eigvec = np.linalg.eigh(gram)
        # Decreasing, at most SKETCH_RANK, above 1e-6 of the largest: then
        # U = Y V L^(-1/2) is orthonormal to about eps / 1e-6, far within the
        # margin that keeps P positive definite.
        keep = eigval > eigval[-1] * 1e-6
        top = np.flatnonzero(keep)[::-1][: min(SKETCH_RANK, n)]
        self.eigenvalues = eigval[top]
        W = eigvec[:, top] / np.sqrt(self.eigenvalues)
        self.U = np.empty((n, top.size))
        for rows, Y in self.sketch(system):
            self.U[rows] = Y @ W

    def sketch(self, system):
        """Yield ``(rows, Y[rows])`` over chunks of rows, ``Y = D^(1/2) [K Phi, E]``.

        Row ``i`` is the sum over firing neurons ``r`` and inputs ``k`` of
        ``signs[r, k] x_ik`` in column ``buckets[r, k]``, added in place by a
        compiled loop over the active pairs (:func:`count_sketch_rows`): at
        n = 4000 with 93 firing neurons per sample, 7.5 ms per pass against
        18.5 ms for a csr of the ``|S_i| d`` entries made dense (a default fit
        of california_like: 0.59 -> 0.50 s).
        """
        active, dsqrt = system.active, system.dsqrt
        X = np.ascontiguousarray(system.X, dtype=np.float64)
        n = X.shape[0]
        s, q = self.columns, system.affine_rows.shape[1]
        step = max(1, SKETCH_CHUNK_BYTES // (8 * (s + q)))
        for start in range(0, n, step):
            stop = min(start + step, n)
            Y = np.zeros((stop - start, s + q))
            count_sketch_rows(
                X, active.indptr, active.indices, self.buckets, self.signs, start, Y
            )
            Y[:, s:] = system.affine_rows[start:stop]
            Y *= dsqrt[start:stop, None]
            yield slice(start, stop), Y


class BlockJacobiPreconditioner:
    """Exact diagonal blocks of ``B + lam I``, with the affine term global.

    For contiguous blocks ``b`` of ``BLOCK_SIZE`` samples and ``V = D^(1/2) E``
    (``E`` the affine part's rows, ``q`` columns),

        P = blockdiag(D_b^(1/2) (G_b - E_b E_b^T) D_b^(1/2)) + lam I + V V^T,

    where ``G_b`` is the ``b x b`` Gram of the block's rows (its active sets
    only, no ``n x n`` matrix). The rank-``q`` affine term ``V V^T`` couples
    every sample: it is applied exactly by Woodbury rather than cut into
    blocks, since a per-block copy of the intercept's term gave ``P^-1 (B +
    lam I)`` one outlying eigenvalue per block (459 CG iterations against 186
    on a diamonds system, n = 20,000). Each
    block is factored (Cholesky) once per system and damping; memory is
    ``2 n BLOCK_SIZE`` floats (blocks and factors).
    """

    def __init__(self, system, rng):
        network, active, X, dsqrt = (
            system.network,
            system.active,
            system.X,
            system.dsqrt,
        )
        n = X.shape[0]
        self.V = dsqrt[:, None] * system.affine_rows
        self.blocks = []
        for start in range(0, n, BLOCK_SIZE):
            rows = slice(start, min(start + BLOCK_SIZE, n))
            block = network.gram(active[rows], X[rows])
            block *= dsqrt[rows, None]
            block *= dsqrt[None, rows]
            self.blocks.append((rows, block))
        self._lam = None

    def _block_solve(self, R):
        out = np.empty_like(R)
        for (rows, _), factor in zip(self.blocks, self._factors):
            out[rows] = cho_solve(factor, R[rows], check_finite=False)
        return out

    def apply(self, R, lam):
        """Return ``P^-1 R``: block solves, then the affine term by Woodbury."""
        if lam != self._lam:
            self._factors = None  # free the previous damping's factors first
            self._factors = [
                _cholesky(block + lam * np.eye(block.shape[0]))
                for _, block in self.blocks
            ]
            self._MV = self._block_solve(self.V)
            self._capacitance = np.eye(self.V.shape[1]) + self.V.T @ self._MV
            self._lam = lam
        MR = self._block_solve(R)
        return MR - self._MV @ np.linalg.solve(self._capacitance, self.V.T @ MR)


PRECONDITIONERS = {
    "none": IdentityPreconditioner,
    "nystrom": NystromPreconditioner,
    "sketch": SketchPreconditioner,
    "block_jacobi": BlockJacobiPreconditioner,
}


class CGSystem(_System):
    """Matrix-free preconditioned conjugate gradient.

    ``G u`` is computed as ``J (J^T u)`` over the active sets in O(nnz * d); no
    ``n x n`` matrix is formed. The preconditioner of ``B + lam I``, ``B =
    D^(1/2) G D^(1/2)``, is built once per system (see ``PRECONDITIONERS``):
    by default the top of a CountSketch of ``J^T D^(1/2)``
    (:class:`SketchPreconditioner`).

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
    preconditioner : str, default=None
        Key of ``PRECONDITIONERS``; ``PRECONDITIONER`` if None.
    **params : dict
        ``data_gram``, ``random_state``, ``affine_rows`` and ``affine_gram``
        above, by keyword.
    """

    name = "cg"

    def __init__(self, network, active, X, dsqrt, preconditioner=None, **params):
        super().__init__(network, active, X, dsqrt, **params)
        self._gram = network.gram_operator(self.active, X, self.by_neuron)
        name = PRECONDITIONER if preconditioner is None else preconditioner
        self.preconditioner = PRECONDITIONERS[name](
            self, np.random.RandomState(self.random_state)
        )

    def gram_matvec(self, Q):
        out = self._gram(Q)
        E = self.affine_rows
        out += E @ (E.T @ Q)
        return out

    def bmatvec(self, V):
        """``B V = D^(1/2) G D^(1/2) V``."""
        d = self.dsqrt[:, None]
        return d * self.gram_matvec(d * V)

    def solve(self, lam, R):
        """Preconditioned CG on every column of ``R`` at once (shared operator)."""
        precondition = self.preconditioner.apply
        X = np.zeros_like(R)
        res = R.copy()
        Z = precondition(res, lam)
        P = Z.copy()
        rz = np.sum(res * Z, axis=0)
        norms = np.linalg.norm(R, axis=0)
        target = CG_RTOL * np.where(norms > 0, norms, 1.0)
        it = 0
        for it in range(1, CG_MAX_ITER + 1):
            if np.all(np.linalg.norm(res, axis=0) <= target):
                it -= 1
                break
            AP = self.bmatvec(P) + lam * P
            pAp = np.sum(P * AP, axis=0)
            step = np.divide(rz, pAp, out=np.zeros_like(rz), where=pAp > 0)
            X += step * P
            res -= step * AP
            Z = precondition(res, lam)
            rz_new = np.sum(res * Z, axis=0)
            beta = np.divide(rz_new, rz, out=np.zeros_like(rz), where=rz > 0)
            P = Z + beta * P
            rz = rz_new
        self.last_info = {
            "cg_iterations": it,
            "cg_residual": float(
                np.max(np.linalg.norm(res, axis=0) / np.where(norms > 0, norms, 1.0))
            ),
        }
        return X


SYSTEMS = {"cholesky": CholeskySystem, "cg": CGSystem}
