"""Two-layer shifted-ReLU network over an active-set index.

For every output ``o`` the network computes

    f_o(x) = (1 / sqrt(m)) * sum_r a_ro * max(<w_r, x> - b, 0) + beta_o

with ``m`` hidden neurons, trained first-layer weights ``W`` (one row ``w_r`` per
neuron), fixed random signs ``a`` (one column per output), a shift ``b`` and a
trained output intercept ``beta``. Inputs ``x`` are preprocessed rows (see
:class:`InputTransform`), so that ``||x|| = 1``.

Only neurons in the active set ``S_i = {r : <w_r, x_i> > b}`` contribute to
``f(x_i)``; the Jacobian of ``f_o(x_i)`` with respect to ``w_r`` is
``(a_ro / sqrt(m)) x_i`` for ``r`` in ``S_i`` and 0 otherwise, and 1 with respect
to ``beta_o``. Everything below therefore works on the sparse ``n x m`` matrix of
active pre-activations returned by an index's ``query()``, at a cost proportional
to its number of stored entries ``nnz`` times ``d``.

Homogeneous form: with a ``norm_scale`` ``c``, the hidden part of the output of a
row ``x = u / ||u||`` is multiplied by its *row scale* ``||u|| / c``, where ``u``
is the augmented row before normalization (see :class:`InputTransform`; its bias
coordinate ``1`` makes ``x[-1] = 1 / ||u||``, so the scale is recovered from
``x`` itself). The network is then

    f_o(u) = (1 / (c sqrt(m))) * sum_r a_ro * max(<w_r, u> - b ||u||, 0) + beta_o,

positively homogeneous in ``u`` like a plain ReLU network: the shift grows with
the row's norm, so the firing sets (and the index) are those of the unit rows,
while outputs grow linearly along rays instead of saturating. Jacobian rows
become ``(a_ro / sqrt(m)) (||u_i|| / c) x_i``: every formula below holds with
``x_i`` replaced by the scaled rows of :meth:`TwoLayerNetwork.jacobian_rows`.

Linear term: with ``linear_coef`` ``V``, the output adds ``<u_i, V_o>`` on the
standardized features ``u_i`` (``u`` without its bias coordinate). Intercept
and linear term form the affine part ``<e_i, theta_o>``, ``e_i = [1, u_i]``,
``theta = [beta; V]``, whose Jacobian rows are ``e_i`` for every output: the
Gram gains ``E E^T`` (``1 1^T`` for the intercept alone).
"""

import numpy as np
import scipy.sparse as sp
from joblib import effective_n_jobs
from scipy.stats import norm

from .._threads import map_threads
from ._activations import shifted_relu
from ._pair_counts import pair_counts

# Bytes of the dense (rows x neurons) block used by the chunked dense forward.
FORWARD_CHUNK_BYTES = 2**26
# Seconds per operation of the two ways to count overlaps (one core): a unit of
# c_r^2 for a column counted pair by pair, an entry of the pair counts' dense
# output, a float32 multiply-add. At m=2**20, n=1000 after training, pair
# seconds from 3e-10 to 1.2e-9 gave 28-32 ms on 2 threads (1000-2000 of 35k
# columns to BLAS), 2.4e-9 31-44 ms, 1e-8 51-62 ms.
SPARSE_PAIR_SECONDS = 1e-9
SPARSE_OUTPUT_SECONDS = 5e-9
DENSE_FLOP_SECONDS = 2e-11
# Stored entries below which a sparse product runs in the calling thread: the
# thread start-up (about 1 ms) would cost more than it saves.
THREAD_MIN_NNZ = 2**16


def threshold_from_sparsity(n_neurons, sparsity):
    """Shift ``b`` such that about ``m^(1 - sparsity)`` neurons fire per input.

    With ``||x|| = 1`` and ``w_r ~ N(0, I)``, ``<w_r, x> ~ N(0, 1)``, so
    ``b = Phi^-1(1 - m^-sparsity)`` makes each neuron fire with probability
    ``m^-sparsity``.
    """
    return float(norm.isf(float(n_neurons) ** -float(sparsity)))


def weighted_mean_scale(X, sample_weight, name="X"):
    """Weighted mean and standard deviation of the columns of ``X``.

    Deviations are divided by their largest magnitude before squaring, so that
    columns of any scale (1e-200 or 1e200) neither underflow nor overflow. A
    column whose spread vanishes up to rounding, relative to its mean, is
    constant: its scale is set to 1.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_columns)
        Values.
    sample_weight : ndarray of shape (n_samples,)
        Non-negative weights with a positive sum.
    name : str, default="X"
        Name of ``X`` in the error message.

    Returns
    -------
    mean, scale : ndarray of shape (n_columns,)
        Weighted mean and standard deviation (1 for constant columns).
    constant : ndarray of bool of shape (n_columns,)
        The constant columns.
    """
    sw = sample_weight / np.sum(sample_weight)
    mean = sw @ X
    # Rows of weight zero take no part, however large they are.
    weighted = sw > 0
    with np.errstate(over="ignore", invalid="ignore"):
        sw, dev = sw[weighted], X[weighted] - mean
        peak = np.max(np.abs(dev), axis=0)
        scale = peak * np.sqrt(sw @ (dev / np.where(peak > 0, peak, 1.0)) ** 2)
    if not np.all(np.isfinite(scale)):
        raise ValueError(
            f"The spread of some columns of {name} around their mean exceeds the "
            f"float64 range; rescale {name} (e.g. divide it by its largest value)."
        )
    # Relative cut: a column that is constant up to rounding is constant.
    tiny = max(X.shape[0], 10) * np.finfo(np.float64).eps * np.abs(mean)
    constant = scale <= tiny
    scale[constant] = 1.0
    return mean, scale, constant


class InputTransform:
    """Weighted standardization, a constant bias coordinate, unit-length rows.

    ``x' = [(x - mu) / sigma, 1] / ||[(x - mu) / sigma, 1]||`` where ``mu`` and
    ``sigma`` are the weighted mean and standard deviation of the training rows
    (a zero ``sigma`` is replaced by 1). Rows of ``x'`` have unit norm, as the
    method's analysis assumes, and the bias coordinate lets a neuron's hyperplane
    leave the origin. Weights only enter through weighted means, so integer
    weights are equivalent to repeated rows and zero weights have no effect.
    """

    def fit(self, X, sample_weight):
        """Learn ``mu``, ``sigma`` and the weighted mean norm of the rows.

        ``norm_mean_`` is the weighted mean of ``||[(x - mu) / sigma, 1]||``
        over the rows of ``X``, the ``norm_scale`` of a homogeneous network.
        """
        self.mean_, self.scale_, _ = weighted_mean_scale(X, sample_weight)
        # The transform's bias coordinate x'[-1] is 1 / ||u||.
        norms = 1.0 / self.transform(X)[:, -1]
        self.norm_mean_ = float(sample_weight @ norms / np.sum(sample_weight))
        return self

    def transform(self, X):
        """Return the preprocessed rows, float64 of shape (n, n_features + 1)."""
        n = X.shape[0]
        out = np.empty((n, X.shape[1] + 1), dtype=np.float64)
        np.subtract(X, self.mean_, out=out[:, :-1])
        out[:, :-1] /= self.scale_
        out[:, -1] = 1.0
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out


class TwoLayerNetwork:
    """Parameters and derivatives of the two-layer network.

    Parameters
    ----------
    W : ndarray of shape (n_neurons, n_inputs)
        First-layer weights (trained).
    signs : ndarray of shape (n_neurons, n_outputs)
        Second-layer signs ``a`` in {-1, +1} (fixed).
    threshold : float
        Shift ``b``.
    intercept : ndarray of shape (n_outputs,)
        Output intercept ``beta`` (trained).
    norm_scale : float, default=None
        Mean row norm ``c`` of the homogeneous form (see the module docstring);
        None for the plain network on unit rows.
    linear_coef : ndarray of shape (n_inputs - 1, n_outputs), default=None
        Coefficients ``V`` of the linear term ``<u, V_o>`` on the standardized
        features (trained); None for no linear term.
    n_jobs : int, default=None
        The number of threads sharing the rows of the sparse products and the
        overlap counts (scipy's products and the compiled loop release the
        GIL); results do not depend on it.
        ``None`` means 1 unless in a :obj:`joblib.parallel_backend` context.
    """

    def __init__(
        self,
        W,
        signs,
        threshold,
        intercept,
        norm_scale=None,
        linear_coef=None,
        n_jobs=None,
    ):
        self.W = W
        self.signs = signs
        self.threshold = threshold
        self.intercept = intercept
        self.norm_scale = norm_scale
        self.linear_coef = linear_coef
        self.n_jobs = n_jobs

    @property
    def n_neurons(self):
        return self.W.shape[0]

    @property
    def n_outputs(self):
        return self.signs.shape[1]

    @property
    def scale(self):
        """The output scale ``1 / sqrt(m)``."""
        return 1.0 / np.sqrt(self.n_neurons)

    # -- row scales (homogeneous form) ----------------------------------------
    def row_scale(self, X):
        """Per-row output scale ``||u_i|| / c``, or None for the plain network.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_inputs)
            Preprocessed rows, bias coordinate last.
        """
        if self.norm_scale is None:
            return None
        return 1.0 / (self.norm_scale * X[:, -1])

    def jacobian_rows(self, X):
        """Rows ``x_i`` times their row scale: ``df(x_i)/dw_r = (a_r/sqrt(m)) *``
        this row for ``r`` in ``S_i``. ``X`` itself for the plain network."""
        row_scale = self.row_scale(X)
        return X if row_scale is None else X * row_scale[:, None]

    # -- affine output part ---------------------------------------------------
    def affine_rows(self, X):
        """Rows ``e_i`` of the affine output part ``<e_i, theta_o>``.

        ``e_i = [1]`` (the intercept), or ``[1, u_i]`` with a linear term,
        where ``u_i`` are the standardized features. They are recovered from a
        preprocessed row as ``x[:-1] / x[-1]`` (the bias coordinate is
        ``1 / ||u||``), a ratio that Jacobian rows, multiples of the rows,
        share.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_inputs)
            Preprocessed (or Jacobian) rows, bias coordinate last.

        Returns
        -------
        E : ndarray of shape (n_samples, 1) or (n_samples, n_inputs)
        """
        ones = np.ones((X.shape[0], 1))
        if self.linear_coef is None:
            return ones
        return np.hstack([ones, X[:, :-1] / X[:, -1:]])

    @property
    def affine_coef(self):
        """``theta = [beta; V]``, shape (1, n_outputs) or (n_inputs, n_outputs)."""
        theta = self.intercept[None, :]
        if self.linear_coef is None:
            return theta.copy()
        return np.vstack([theta, self.linear_coef])

    @affine_coef.setter
    def affine_coef(self, theta):
        self.intercept = np.array(theta[0])
        if self.linear_coef is not None:
            self.linear_coef = np.array(theta[1:])

    # -- forward passes -------------------------------------------------------
    def forward_active(self, active, offset=None, row_scale=None):
        """Raw outputs from the active pre-activations of an index query.

        Parameters
        ----------
        active : csr_array of shape (n_samples, n_neurons)
            Firing neurons with their pre-activations ``<w_r, x_i> > b``.
        offset : ndarray of shape (n_outputs,) or (n_samples, n_outputs), \
                default=None
            Affine part to add: an intercept, or ``affine_rows(X) @ theta``
            of the queried rows. ``self.intercept`` if None, which needs a
            network without linear term.
        row_scale : ndarray of shape (n_samples,), default=None
            :meth:`row_scale` of the queried rows (homogeneous form only).

        Returns
        -------
        raw : ndarray of shape (n_samples, n_outputs)
        """
        if offset is None:
            if self.linear_coef is not None:
                raise ValueError(
                    "A network with a linear term needs the offset of the "
                    "queried rows: affine_rows(X) @ affine_coef."
                )
            offset = self.intercept
        hidden = sp.csr_array(
            (active.data - self.threshold, active.indices, active.indptr),
            shape=active.shape,
        )
        out = hidden @ self.signs
        if row_scale is not None:
            out *= row_scale[:, None]
        out *= self.scale
        out += offset
        return out

    def forward(self, X, batch_size=None):
        """Raw outputs for preprocessed rows ``X`` by dense chunks.

        Memory is bounded by ``batch_size * n_neurons`` floats; by default the
        chunk holds about ``FORWARD_CHUNK_BYTES`` bytes.
        """
        n, m = X.shape[0], self.n_neurons
        if batch_size is None:
            batch_size = max(1, FORWARD_CHUNK_BYTES // (8 * m))
        raw = np.empty((n, self.n_outputs), dtype=np.float64)
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            Z = X[start:stop] @ self.W.T
            shifted_relu(Z, self.threshold, out=Z)
            raw[start:stop] = Z @ self.signs
        row_scale = self.row_scale(X)
        if row_scale is not None:
            raw *= row_scale[:, None]
        raw *= self.scale
        raw += self.affine_rows(X) @ self.affine_coef
        return raw

    # -- Jacobian products ----------------------------------------------------
    # ``X`` below holds the Jacobian rows: jacobian_rows(unit rows), which are
    # the unit rows themselves unless the network is homogeneous.
    def jvp(self, active, X, V, dbeta=None):
        """Directional derivative ``J [V, dbeta]`` of every output.

        Returns ``out[i, o] = (1/sqrt(m)) sum_{r in S_i} a_ro <V_r, x_i> + dbeta_o``,
        an ndarray of shape (n_samples, n_outputs).
        """
        active = sp.csr_array(active)
        rows, cols = _pattern_coo(active)
        dots = np.einsum("ed,ed->e", V[cols], X[rows])
        D = sp.csr_array((dots, active.indices, active.indptr), shape=active.shape)
        out = self.scale * (D @ self.signs)
        if dbeta is not None:
            out += dbeta
        return out

    def vjp(self, active, X, U):
        """Transposed product ``J^T U`` for ``U`` of shape (n_samples, n_outputs).

        Returns ``(dW, dbeta)`` with ``dW`` of shape (n_neurons, n_inputs),
        ``dW_r = (1/sqrt(m)) sum_o a_ro sum_{i: r in S_i} U_io x_i`` and
        ``dbeta = U.sum(axis=0)``.
        """
        coef, changed = self.neuron_coef(active, U)
        dW = np.zeros_like(self.W)
        dW[changed] = sparse_dense_product(coef, X, self.n_jobs)
        return dW, U.sum(axis=0)

    def move_neurons(self, changed, coef, X):
        """Apply a step in place: ``W[changed] += coef @ X``.

        Blocks of rows run over threads: each gathers its neurons' rows, adds
        its rows of the sparse product and writes them back (the neurons are
        unique, so blocks write disjoint rows). Each new row is
        ``old + (coef @ X)[k]`` whatever the blocks.

        Parameters
        ----------
        changed : ndarray of int
            Sorted unique neurons to move (:meth:`neuron_coef`).
        coef : csr_array of shape (len(changed), n_samples)
            Implicit weights of the step (:meth:`neuron_coef`).
        X : ndarray of shape (n_samples, n_inputs)
            Jacobian rows of the samples.

        Returns
        -------
        old_rows : ndarray of shape (len(changed), n_inputs)
            The rows before the step: ``W[changed] = old_rows`` undoes it bit
            for bit.
        """
        coef = sp.csr_array(coef)
        old_rows = np.empty((changed.size, self.W.shape[1]))
        tasks = [
            (self.W, changed, coef, X, old_rows, r0, r1)
            for r0, r1 in _row_blocks(coef, self.n_jobs)
        ]
        map_threads(_move_rows, tasks, self.n_jobs)
        return old_rows

    def neuron_coef(self, active, U, columns=None, n_columns=None):
        """Implicit form of ``J^T U``: coefficients of training rows per neuron.

        Parameters
        ----------
        active : sparse array of shape (n_rows, n_neurons)
            Active sets of the rows that take part; a csc array (the pairs
            grouped by neuron, as ``active.tocsc()``) saves a conversion.
        U : ndarray of shape (n_rows, n_outputs)
            Per-row, per-output multipliers.
        columns : ndarray of shape (n_rows,), default=None
            Column (training sample) of each row in the result; identity if None.
        n_columns : int, default=None
            Number of columns of the result; ``n_rows`` if None.

        Returns
        -------
        coef : csr_array of shape (n_changed, n_columns)
            ``coef[k, j] = (1/sqrt(m)) sum_o a_ro U_io`` for ``r = changed[k]``
            firing on row ``i`` with ``columns[i] = j``, so that
            ``(J^T U)[changed] = coef @ X``.
        changed : ndarray of int
            Sorted neurons firing on at least one row.
        """
        # The csc form groups the entries by neuron, rows in increasing order
        # (a transpose in O(nnz + m), against np.unique plus a coo sort).
        by_neuron = sp.csc_array(active)
        if n_columns is None:
            n_columns = by_neuron.shape[0]
        counts = np.diff(by_neuron.indptr)
        changed = np.flatnonzero(counts)
        indptr = np.concatenate(([0], by_neuron.indptr[changed + 1]))
        samples = by_neuron.indices
        neurons = np.repeat(changed, counts[changed])
        data = self.scale * np.einsum("ek,ek->e", self.signs[neurons], U[samples])
        if columns is not None:
            samples = columns[samples]
        coef = sp.csr_array((data, samples, indptr), shape=(changed.size, n_columns))
        if columns is not None:
            # a no-op check for increasing columns (the solver's weighted rows)
            coef.sum_duplicates()
        return coef, changed

    # -- Gram matrix ----------------------------------------------------------
    def gram(self, active, X, data_gram=None):
        """Exact ``G = J_o J_o^T = (X X^T) * (A A^T) / m`` (same for every output).

        ``A`` is the 0/1 pattern of ``active``; ``(A A^T)_ij = |S_i & S_j|``
        counts shared firing neurons. Since ``a_ro^2 = 1`` the Gram does not depend
        on the output. ``data_gram`` may pass a precomputed ``X X^T``. A csc
        ``active`` saves a conversion (:func:`overlap_counts`).
        """
        G = overlap_counts(active, self.n_jobs)
        if data_gram is None:
            data_gram = X @ X.T
        G *= data_gram
        G /= self.n_neurons
        return G

    def gram_operator(self, active, X, by_neuron=None):
        """Callable ``u -> G u`` over fixed active sets, without forming ``G``.

        ``G u = (1/m) <x_i, sum_r A_ir V_r>`` with ``V = A^T diag(u) X``, O(nnz * d)
        per column of ``u``. The 0/1 pattern and its transpose are built once
        here, not at every product of an iterative solver; ``by_neuron``, the
        csc form of ``active`` if at hand, gives the transpose.
        """
        pattern = _pattern(active)
        if by_neuron is None:
            by_neuron = pattern.tocsc()
        pattern_t = _pattern(by_neuron.T)
        m = self.n_neurons

        def matvec(u):
            u = np.asarray(u)
            squeeze = u.ndim == 1
            U = u[:, None] if squeeze else u
            out = np.empty_like(U, dtype=np.float64)
            for k in range(U.shape[1]):
                V = pattern_t @ (U[:, k : k + 1] * X)
                out[:, k] = np.einsum("id,id->i", pattern @ V, X)
            out /= m
            return out[:, 0] if squeeze else out

        return matvec

    def gram_matvec(self, active, X, u):
        """``G u`` without forming ``G`` (see :meth:`gram_operator`)."""
        return self.gram_operator(active, X)(u)

    def gram_diagonal(self, active, X):
        """``G_ii = ||x_i||^2 |S_i| / m``."""
        counts = np.diff(active.indptr).astype(np.float64)
        return counts * np.einsum("id,id->i", X, X) / self.n_neurons


def _pattern(active):
    """0/1 float64 csr pattern of ``active`` (stored entries, even if zero)."""
    active = sp.csr_array(active)
    return sp.csr_array(
        (np.ones(active.indices.size), active.indices, active.indptr),
        shape=active.shape,
    )


def _pattern_coo(active):
    """Row and column of every stored entry of a csr array."""
    active = sp.csr_array(active)
    counts = np.diff(active.indptr)
    rows = np.repeat(np.arange(active.shape[0]), counts)
    return rows, active.indices


def _csr_rows(S, r0, r1):
    """Rows ``r0:r1`` of the csr array ``S``, sharing its data and indices."""
    a, b = S.indptr[r0], S.indptr[r1]
    return sp.csr_array(
        (S.data[a:b], S.indices[a:b], S.indptr[r0 : r1 + 1] - a),
        shape=(r1 - r0, S.shape[1]),
    )


def _n_threads(S, n_jobs):
    """Threads for the rows of sparse ``S``: one below ``THREAD_MIN_NNZ`` entries."""
    if S.nnz < THREAD_MIN_NNZ:
        return 1
    return max(1, min(effective_n_jobs(n_jobs), S.shape[0]))


def _row_blocks(S, n_jobs):
    """``(r0, r1)`` blocks of the rows of csr ``S``, one per thread.

    About equal numbers of stored entries each; a single block below
    ``THREAD_MIN_NNZ`` entries.
    """
    n = S.shape[0]
    jobs = _n_threads(S, n_jobs)
    cuts = np.searchsorted(S.indptr, np.linspace(0, S.nnz, jobs + 1)[1:-1])
    bounds = np.unique(np.concatenate(([0], cuts, [n]))).tolist()
    return list(zip(bounds[:-1], bounds[1:]))


def sparse_dense_product(S, B, n_jobs=None):
    """Dense ``S @ B``, blocks of rows of ``S`` over threads.

    scipy's csr products release the GIL, and each output row depends on its
    row of ``S`` only, so the result does not depend on ``n_jobs``. The rows
    are cut into about equal numbers of stored entries, one block per thread.

    Parameters
    ----------
    S : csr_array of shape (n, k)
        Left factor.
    B : ndarray or sparse array of shape (k, p)
        Right factor; a sparse one should be csr (a sparse product of each
        block of rows, densified).
    n_jobs : int, default=None
        The number of threads (joblib's ``effective_n_jobs``).

    Returns
    -------
    out : ndarray of shape (n, p)
    """
    S = sp.csr_array(S)
    out = np.empty((S.shape[0], B.shape[1]), dtype=np.float64)
    tasks = [(S, B, out, r0, r1) for r0, r1 in _row_blocks(S, n_jobs)]
    map_threads(_rows_product, tasks, n_jobs)
    return out


def _move_rows(W, changed, coef, X, old_rows, r0, r1):
    # W[changed[k]] += (coef @ X)[k] for k in r0:r1, keeping the old rows
    rows = changed[r0:r1]
    np.take(W, rows, axis=0, out=old_rows[r0:r1])
    new = _csr_rows(coef, r0, r1) @ X
    new += old_rows[r0:r1]
    W[rows] = new


def _rows_product(S, B, out, r0, r1):
    # out[r0:r1] = (S @ B)[r0:r1], densified
    part = _csr_rows(S, r0, r1) @ B
    out[r0:r1] = part.toarray() if sp.issparse(part) else part


def _heavy_columns(col_counts, n):
    """Which columns :func:`overlap_counts` sends to BLAS, by its cost model.

    ``col_counts`` holds the number of ones of each column (empty columns
    may be left out); returns a boolean mask over them.
    """
    counts = col_counts.astype(np.float64)
    column_dense = DENSE_FLOP_SECONDS * float(n) * n
    heavy = counts**2 * SPARSE_PAIR_SECONDS > column_dense
    split_cost = (
        SPARSE_PAIR_SECONDS * float(np.sum(np.where(heavy, 0.0, counts) ** 2))
        + SPARSE_OUTPUT_SECONDS * float(n) * n
        + column_dense * np.count_nonzero(heavy)
    )
    if split_cost > column_dense * np.count_nonzero(col_counts):
        heavy = col_counts > 0
    if n >= 2**24:  # float32 counts would round
        heavy[:] = False
    return heavy


def overlap_counts(active, n_jobs=None):
    """Dense ``A A^T`` (float64) for the 0/1 pattern ``A`` of ``active``.

    ``A A^T`` is a sum over neurons of the outer products of their columns.
    Counting the sample pairs of a column with ``c_r`` ones costs about
    ``c_r^2 SPARSE_PAIR_SECONDS``, a float32 BLAS product ``n^2`` per column at
    a much higher rate: columns with ``c_r^2 SPARSE_PAIR_SECONDS > n^2
    DENSE_FLOP_SECONDS`` (the per-operation times below) go to BLAS, the
    others are counted pair by pair, unless BLAS over every column costs less
    than this split (the pair counts also pay for their dense output).

    Both parts take the columns of the csc form (``active`` as given when
    csc, else converted). The heavy ones are densified and multiplied by
    blocks ``B_a B_b^T`` (``b <= a``) of ``n_jobs`` blocks of rows. The light
    ones are counted pair by pair by a compiled loop (:func:`pair_counts`)
    into one int32 triangle, each of ``n_jobs`` tasks writing the pairs of a
    block of rows (about equal numbers of pairs when the samples fire alike).
    All tasks share the threads, each on one BLAS thread (BLAS on two
    threads, then the light part over two threads, ran 30% slower on 2
    cores: idle BLAS workers spin). Counts below 2^24 are exact in float32
    and every count is an integer, so the result does not depend on
    ``n_jobs``.

    Parameters
    ----------
    active : sparse array of shape (n_samples, n_neurons)
        Active sets; only the positions of the stored entries count.
    n_jobs : int, default=None
        The number of threads (joblib's ``effective_n_jobs``).

    Returns
    -------
    counts : ndarray of shape (n_samples, n_samples)
        ``|S_i & S_j|``.
    """
    by_neuron = sp.csc_array(active)
    n, m = by_neuron.shape
    col_counts = np.diff(by_neuron.indptr)
    # the cost model over the columns with entries only (35k of 2**20)
    nonzero = np.flatnonzero(col_counts)
    heavy = _heavy_columns(col_counts[nonzero], n)
    dense_cols, light_cols = nonzero[heavy], nonzero[~heavy]
    jobs = _n_threads(by_neuron, n_jobs)
    tasks = []
    dense = None
    if dense_cols.size:
        # A^T as a 0/1 csr: rows are neurons, so columns are picked by row.
        columns = sp.csr_array(
            (
                np.ones(by_neuron.nnz, dtype=np.float32),
                by_neuron.indices,
                by_neuron.indptr,
            ),
            shape=(m, n),
        )
        block_t = columns[dense_cols].toarray()
        dense = np.empty((n, n), dtype=np.float32)
        cuts = np.linspace(0, n, jobs + 1).astype(int).tolist()
        blocks = list(zip(cuts[:-1], cuts[1:]))
        # off-diagonal blocks first: they take twice the time of a diagonal one
        tasks += [
            (_dense_overlap, block_t, dense, rows_a, rows_b)
            for gap in range(jobs - 1, -1, -1)
            for rows_a, rows_b in zip(blocks[gap:], blocks)
        ]
    upper = None
    if light_cols.size:
        # Row i owns the pairs with the rows after it in a column: about
        # n - i of them, so equal shares of pairs cut at n (1 - sqrt(1 - t)).
        shares = np.arange(1, jobs) / jobs
        cuts = (n * (1.0 - np.sqrt(1.0 - shares))).astype(int).tolist()
        bounds = [0, *cuts, n]
        upper = np.zeros((n, n), dtype=np.int32)
        args = (by_neuron.indptr, by_neuron.indices, light_cols.astype(np.intp))
        tasks += [
            (pair_counts, *args, upper, r0, r1)
            for r0, r1 in zip(bounds[:-1], bounds[1:])
            if r1 > r0
        ]
    map_threads(_call, tasks, jobs, one_blas_thread=True)
    if upper is None:
        out = np.zeros((n, n))
    else:
        # each pair is in one of the triangles, the diagonal in both
        out = np.add(upper, upper.T, dtype=np.float64)
        out.flat[:: n + 1] -= upper.flat[:: n + 1]
    if dense is not None:
        out += dense
    return out


def _call(func, *args):
    return func(*args)


def _dense_overlap(block_t, dense, rows_a, rows_b):
    # dense[a, b] and dense[b, a] = B_a B_b^T, a syrk on the diagonal
    (a0, a1), (b0, b1) = rows_a, rows_b
    product = block_t[:, a0:a1].T @ block_t[:, b0:b1]
    dense[a0:a1, b0:b1] = product
    if a0 != b0:
        dense[b0:b1, a0:a1] = product.T
