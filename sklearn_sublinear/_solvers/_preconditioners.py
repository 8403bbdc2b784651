"""Preconditioners of the conjugate gradient of :class:`CGSystem`.

A preconditioner is built as ``cls(system, rng)`` from a system (its active
sets, rows, ``dsqrt`` and affine rows) and a ``RandomState``, and offers
``apply(R, lam)``, returning ``P^-1 R`` for the damping ``lam``. The package
keeps the one :class:`CGSystem` uses; the alternatives it was chosen against
live with their benchmark (``benchmarks/_other_preconditioners.py``).
"""

import numpy as np

from .._network import is_sparse_rows
from .._network._sparse import csr_rows, index_arrays, pattern
from .._threads import imap_threads, one_blas_thread
from ._count_sketch import (
    count_sketch_hashed_csr_rows,
    count_sketch_rows,
    hashed_entries,
)

# Columns of the CountSketch of J^T and rank kept from it (both capped by n):
# the sketch costs O(nnz * d) whatever its columns plus O(n * columns^2) for
# their Gram, and larger sketches cost more to build than they save in CG
# iterations (benchmarks/bench_preconditioners.py, key "cases").
SKETCH_COLUMNS = 512
SKETCH_RANK = 128
# Bytes the basis U (n x rank, float64) may take: beyond about 500,000 rows the
# rank shrinks with n, so that U stays within this (at least SKETCH_MIN_RANK).
# U is the largest array of the CG path per row after the firing pairs
# (benchmarks/bench_scale.py --rows, keys "runs" / "peak_rss",
# "inner_iterations").
SKETCH_BASIS_BYTES = 2**29
SKETCH_MIN_RANK = 32
# Bytes of one chunk of sketched rows (the chunk's rows of Y).
SKETCH_CHUNK_BYTES = 2**23
# Hashed sketch entries made at once (neurons times inputs) for the centering
# of sparse rows: a block of entries, their cells and weights, a few MiB.
SKETCH_ENTRY_BLOCK = 2**20


def sketch_rank(n):
    """Rank kept from the sketch of ``n`` rows: ``SKETCH_RANK``, capped by
    ``n`` and by ``SKETCH_BASIS_BYTES`` of the basis (at least
    ``SKETCH_MIN_RANK``)."""
    by_bytes = max(SKETCH_MIN_RANK, SKETCH_BASIS_BYTES // (8 * max(n, 1)))
    return int(min(SKETCH_RANK, n, by_bytes))


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
    ``k = sketch_rank(n)`` left singular vectors ``U = Y V L^(-1/2)``. Memory is
    O(n k + s^2). The whole damped sketch ``Y Y^T + lam I`` as preconditioner
    took more CG iterations at a higher cost each (``docs/design.rst``): ``s``
    far below ``rank(B)`` gives no subspace embedding, only the top of the
    sketch is informative. This is
    the low-rank counterpart of the sketch-and-precondition step of Brand,
    Peng, Song and Weinstein (ITCS 2021), whose ``n x n`` triangular factor
    would not fit for large ``n``.

    Attributes
    ----------
    columns : int
        Columns ``s`` of ``Phi``, ``SKETCH_COLUMNS`` capped by ``n``.
    buckets : ndarray of shape (n_neurons, n_inputs) or None
        Column of ``Phi`` of each coordinate ``(r, k)``; None when hashed.
    signs : ndarray of shape (n_neurons, n_inputs) or None
        Its entry, ``+-1 / sqrt(m)`` (the Jacobian's scale included); None
        when hashed.
    seed : int or None
        Seed of the hashed entries (sparse rows), else None.
    """

    def __init__(self, system, rng):
        n, d = system.X.shape
        self.draw(rng, n, system.network.n_neurons, d, hashed=is_sparse_rows(system.X))
        self.U = self.project(system, self.top(self.sketch_gram(system), n))

    # The three stages below are sums or maps over rows, so that rows held on
    # several machines build the same preconditioner (``_sharded.py``).
    def draw(self, rng, n, m, d, hashed=False):
        """Draw ``Phi`` for ``n`` rows of ``m`` neurons of ``d`` inputs; return self.

        The entries are hashed from one seed (``_count_sketch.pyx``), so that
        dense and sparse rows of the same data are sketched alike and their
        fits agree. ``hashed``: only the seed is kept, the entries made where
        they are used (the sparse rows' sketch, no ``(m, d)`` arrays); else
        they are made once and stored.
        """
        self.columns = min(SKETCH_COLUMNS, n)
        self.n_neurons, self.n_inputs = m, d
        self.seed = int(rng.randint(0, 2**63, dtype=np.uint64))
        self.buckets = self.signs = None
        if not hashed:
            self.buckets, self.signs = self.entries(0, m)
            self.seed = None
        return self

    def entries(self, r0, r1, scale=None):
        """``(buckets, signs)`` of the neurons ``r0:r1`` (hashed ones made
        here, ``(r1 - r0) x d``, of magnitude ``scale``: ``1 / sqrt(m)`` if
        None)."""
        if self.buckets is not None:
            return self.buckets[r0:r1], self.signs[r0:r1]
        buckets = np.empty((r1 - r0, self.n_inputs), dtype=np.int32)
        signs = np.empty((r1 - r0, self.n_inputs))
        hashed_entries(
            self.seed,
            self.n_inputs,
            self.columns,
            1.0 / np.sqrt(self.n_neurons) if scale is None else scale,
            r0,
            buckets,
            signs,
        )
        return buckets, signs

    def affine_width(self, system):
        """Columns of ``Y`` for the affine part: all of them, or for sparse
        rows with more than ``columns`` affine columns (a linear term on a
        wide input) a hashed CountSketch of them into ``columns``, so that
        the sketch's Gram stays ``(2 s)^2``."""
        q = system.affine_rows.shape[1]
        return self.columns if self._sketches_affine(system) else q

    def _sketches_affine(self, system):
        E = system.affine_rows
        return self.seed is not None and is_sparse_rows(E) and E.shape[1] > self.columns

    def sketch_gram(self, system):
        """``Y^T Y`` over the rows of ``system``."""
        q = self.affine_width(system)
        gram = np.zeros((self.columns + q, self.columns + q))
        for part in self._over_chunks(system, _chunk_gram):
            gram += part
        return gram

    def top(self, gram, n):
        """Keep the top of ``Y^T Y`` (of ``n`` rows); return the map ``V L^(-1/2)``
        from the sketched rows to ``U``."""
        # A small eigenproblem, where BLAS threads synchronize more than they
        # compute and stall next to any other busy process
        # (benchmarks/bench_busy_cpu.py, key "rows").
        with one_blas_thread():
            eigval, eigvec = np.linalg.eigh(gram)
        # Decreasing, at most sketch_rank(n), above 1e-6 of the largest: then
        # U = Y V L^(-1/2) is orthonormal to about eps / 1e-6, far within the
        # margin that keeps P positive definite.
        keep = eigval > eigval[-1] * 1e-6
        top = np.flatnonzero(keep)[::-1][: sketch_rank(n)]
        self.eigenvalues = eigval[top]
        return eigvec[:, top] / np.sqrt(self.eigenvalues)

    def project(self, system, W):
        """The rows of ``U = Y W`` of the rows of ``system``."""
        U = np.empty((system.X.shape[0], W.shape[1]))
        for rows, part in self._over_chunks(system, lambda rows, Y: (rows, Y @ W)):
            U[rows] = part
        return U

    def sketch(self, system):
        """Yield ``(rows, Y[rows])`` over chunks of rows, ``Y = D^(1/2) [K Phi, E]``.

        Row ``i`` is the sum over firing neurons ``r`` and inputs ``k`` of
        ``signs[r, k] x_ik`` in column ``buckets[r, k]``, added in place by a
        compiled loop over the active pairs (:func:`count_sketch_rows`), which
        writes no csr of the ``|S_i| d`` entries.
        """
        yield from self._over_chunks(system, _rows_and_chunk)

    def _over_chunks(self, system, then):
        """Yield ``then(rows, Y[rows])`` over chunks of rows, in order.

        The chunks are independent: they are sketched (and ``then`` runs) on
        the network's ``n_jobs`` threads, a few chunks ahead of the consumer,
        each chunk's products on one BLAS thread, so that every value is the
        same whatever ``n_jobs``; the consumer sums in chunk order.
        """
        active, dsqrt = system.active, system.dsqrt
        sparse = is_sparse_rows(system.X)
        if sparse:
            X, centering = system.X, self._centering(system.X)
            ones = pattern(active)
        else:
            X = np.ascontiguousarray(system.X, dtype=np.float64)
        n = X.shape[0]
        s, q = self.columns, self.affine_width(system)
        affine = self._affine_sketch(system) if self._sketches_affine(system) else None

        def chunk(start, stop):
            Y = np.zeros((stop - start, s + q))
            if sparse:
                # the stored entries, then the centering and bias coordinate
                # of every firing neuron, times the row scales
                count_sketch_hashed_csr_rows(
                    *index_arrays(X.Z),
                    X.Z.data,
                    X.offset,
                    active.indptr,
                    active.indices,
                    self.seed,
                    self.n_inputs,
                    s,
                    1.0 / np.sqrt(self.n_neurons),
                    start,
                    Y,
                )
                Y[:, :s] -= csr_rows(ones, start, stop) @ centering
                Y[:, :s] *= X.scale[start:stop, None]
            else:
                count_sketch_rows(
                    X, active.indptr, active.indices, self.buckets, self.signs, start, Y
                )
            if affine is None:
                E = system.affine_rows[start:stop]
                Y[:, s:] = E.toarray() if is_sparse_rows(E) else E
            else:
                Y[:, s:] = affine(start, stop)
            Y *= dsqrt[start:stop, None]
            return then(slice(start, stop), Y)

        step = max(1, SKETCH_CHUNK_BYTES // (8 * (s + q)))
        bounds = [(a, min(a + step, n)) for a in range(0, n, step)]
        yield from imap_threads(
            chunk, bounds, system.network.n_jobs, one_blas_thread=True
        )

    def _affine_sketch(self, system):
        """``(start, stop) -> E[start:stop] Psi`` for sparse affine rows ``E``:
        the CountSketch ``Psi`` of their columns into ``columns``, hashed as
        the weights of one more neuron (``n_neurons``) with signs ``+-1``,
        firing on every row."""
        E, m, s = system.affine_rows, self.n_neurons, self.columns
        n = E.shape[0]
        every_row = np.arange(n + 1, dtype=np.int64)
        pseudo = np.full(n, m, dtype=np.int64)
        centering = self._centering(E, m, m + 1, scale=1.0)

        def rows(start, stop):
            Y = np.zeros((stop - start, s))
            count_sketch_hashed_csr_rows(
                *index_arrays(E.Z),
                E.Z.data,
                E.offset,
                every_row,
                pseudo,
                self.seed,
                self.n_inputs,
                s,
                1.0,
                start,
                Y,
            )
            Y -= centering
            Y *= E.scale[start:stop, None]
            return Y

        return rows

    def _centering(self, X, r0=0, r1=None, scale=None):
        """Per neuron ``r0:r1`` (all if None), the sketch of the row part that
        sparse rows do not store: ``sum_k signs[r, k] c_k`` in column
        ``buckets[r, k]`` over the features, minus the bias coordinate's
        (``_sparse_rows.py``); signs of magnitude ``scale`` (:meth:`entries`)."""
        r1 = self.n_neurons if r1 is None else r1
        s = self.columns
        f, d = X.offset, X.Z.shape[1]
        H = np.zeros((r1 - r0, s))
        bias = X.bias_index
        step = max(1, SKETCH_ENTRY_BLOCK // self.n_inputs)
        for a in range(r0, r1, step):
            b = min(a + step, r1)
            buckets, signs = self.entries(a, b, scale)
            cells = buckets[:, f : f + d] + s * np.arange(b - a)[:, None]
            H[a - r0 : b - r0] = np.bincount(
                cells.ravel(),
                weights=(signs[:, f : f + d] * X.shift).ravel(),
                minlength=(b - a) * s,
            ).reshape(b - a, s)
            rows = np.arange(a - r0, b - r0)
            np.subtract.at(H, (rows, buckets[:, bias]), signs[:, bias])
        return H


def _chunk_gram(rows, Y):
    """``Y^T Y`` of one chunk of sketched rows."""
    return Y.T @ Y


def _rows_and_chunk(rows, Y):
    return rows, Y
