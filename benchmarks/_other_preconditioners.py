"""The CG preconditioners the package's default was chosen against.

``bench_preconditioners.py`` builds each on the systems of real fits; the
tests (``tests/solvers/test_preconditioners.py``) check them against explicit
matrices. Each is ``cls(system, rng)`` with ``apply(R, lam) = P^-1 R``, as
``CGSystem``'s ``preconditioner`` argument takes.
"""

import numpy as np
from scipy.linalg import cho_solve

from sklearn_sublinear._solvers._preconditioners import (
    LowRankPreconditioner,
    SketchPreconditioner,
)
from sklearn_sublinear._solvers._systems import _cholesky

# Rank of the randomized Nystrom preconditioner (capped by n): building it costs
# one Gram product per rank.
NYSTROM_RANK = 20
# Samples per diagonal block of the block-Jacobi preconditioner.
BLOCK_SIZE = 256


class IdentityPreconditioner:
    """No preconditioning, ``P = I`` (the reference of the others)."""

    def __init__(self, system, rng):
        pass

    def apply(self, R, lam):
        """Return ``P^-1 R = R`` (a copy)."""
        return R.copy()


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
# The package's default (CGSystem with preconditioner=None).
DEFAULT = "sketch"
