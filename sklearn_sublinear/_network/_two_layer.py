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
Gram gains ``E E^T`` (``1 1^T`` for the intercept alone). With an
``affine_scale`` ``t``, the solver sees the affine part as ``<t e_i, theta / t>``:
the same outputs, Jacobian rows ``t e_i`` and Gram ``t^2 E E^T``, i.e. the
damping of ``theta`` multiplied by ``1 / t^2``.
"""

import numpy as np
import scipy.sparse as sp
from scipy.stats import norm

from .._threads import map_threads
from .._tree_index._sparse_rows import is_sparse_rows
from ._activations import shifted_relu
from ._overlaps import overlap_counts
from ._pair_sums import PairSums
from ._sparse import csr_rows, pattern, row_blocks

# Bytes of the dense (rows x neurons) block used by the chunked dense forward.
FORWARD_CHUNK_BYTES = 2**26


def threshold_from_sparsity(n_neurons, sparsity):
    """Shift ``b`` such that about ``m^(1 - sparsity)`` neurons fire per input.

    With ``||x|| = 1`` and ``w_r ~ N(0, I)``, ``<w_r, x> ~ N(0, 1)``, so
    ``b = Phi^-1(1 - m^-sparsity)`` makes each neuron fire with probability
    ``m^-sparsity``.
    """
    return float(norm.isf(float(n_neurons) ** -float(sparsity)))


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
    affine_scale : float, default=1.0
        Scale ``t`` of the affine part's Jacobian rows as the solver sees
        them (see the module docstring): :meth:`affine_rows` are ``t e_i``
        and :attr:`affine_coef` is ``theta / t``, while ``intercept`` and
        ``linear_coef`` stay the model's coefficients.
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
        affine_scale=1.0,
        n_jobs=None,
    ):
        self.W = W
        self.signs = signs
        self.threshold = threshold
        self.intercept = intercept
        self.norm_scale = norm_scale
        self.linear_coef = linear_coef
        self.affine_scale = affine_scale
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
        return 1.0 / (self.norm_scale * bias_coordinate(X))

    def jacobian_rows(self, X):
        """Rows ``x_i`` times their row scale: ``df(x_i)/dw_r = (a_r/sqrt(m)) *``
        this row for ``r`` in ``S_i``. ``X`` itself for the plain network."""
        row_scale = self.row_scale(X)
        if row_scale is None:
            return X
        return X.scaled(row_scale) if is_sparse_rows(X) else X * row_scale[:, None]

    # -- affine output part ---------------------------------------------------
    def affine_rows(self, X):
        """Rows ``t e_i`` of the affine output part ``<t e_i, theta_o / t>``.

        ``e_i = [1]`` (the intercept), or ``[1, u_i]`` with a linear term,
        where ``u_i`` are the standardized features. They are recovered from a
        preprocessed row as ``x[:-1] / x[-1]`` (the bias coordinate is
        ``1 / ||u||``), a ratio that Jacobian rows, multiples of the rows,
        share. ``t`` is ``affine_scale``.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_inputs)
            Preprocessed (or Jacobian) rows, bias coordinate last.

        Returns
        -------
        E : ndarray of shape (n_samples, 1) or (n_samples, n_inputs)
            :class:`SparseRows` with the bias first for sparse rows and a
            linear term.
        """
        t = self.affine_scale
        if is_sparse_rows(X) and self.linear_coef is not None:
            return X.affine(t)
        if self.linear_coef is None:
            E = np.ones((X.shape[0], 1))
        else:
            E = np.hstack([np.ones((X.shape[0], 1)), X[:, :-1] / X[:, -1:]])
        if t != 1.0:
            E *= t
        return E

    @property
    def affine_coef(self):
        """``theta / t = [beta; V] / t``, shape (1, n_outputs) or
        (n_inputs, n_outputs), with ``t`` the ``affine_scale``."""
        theta = self.intercept[None, :]
        if self.linear_coef is None:
            theta = theta.copy()
        else:
            theta = np.vstack([theta, self.linear_coef])
        if self.affine_scale != 1.0:
            theta /= self.affine_scale
        return theta

    @affine_coef.setter
    def affine_coef(self, theta):
        if self.affine_scale != 1.0:
            theta = theta * self.affine_scale
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
        # shifted values by blocks of rows: a copy of FORWARD_CHUNK_BYTES at
        # most, not of every pair
        out = np.empty((active.shape[0], self.n_outputs))
        step = max(1, FORWARD_CHUNK_BYTES // 8)
        for r0, r1 in _pair_blocks(active.indptr, step):
            rows = csr_rows(active, r0, r1)
            rows.data = rows.data - self.threshold
            out[r0:r1] = rows @ self.signs
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
            for r0, r1 in row_blocks(coef, self.n_jobs)
        ]
        map_threads(_move_rows, tasks, self.n_jobs)
        return old_rows

    def neuron_step(self, pairs, X, U):
        """``J^T U`` over the neurons that fire: dense rows, one per neuron.

        Parameters
        ----------
        pairs : PairSums
            The firing pairs of the rows that take part.
        X : ndarray of shape (n_rows, n_inputs)
            Their rows.
        U : ndarray of shape (n_rows, n_outputs)
            Per-row, per-output multipliers.

        Returns
        -------
        changed : ndarray of int
            Sorted neurons firing on at least one row (``pairs.neurons``).
        rows : ndarray of shape (len(changed), n_inputs)
            ``rows[k] = (1/sqrt(m)) sum_o a_ro sum_{i: r in S_i} U_io x_i`` for
            ``r = changed[k]``: the sums of :meth:`PairSums.neuron_sums`, every
            output at once, so memory is O(|changed| d n_outputs) whatever
            the number of pairs.
        """
        V = pairs.neuron_sums(X, U)
        signs = self.signs[pairs.neurons]
        if V.shape[1] == 1:
            # one output: the sums scaled in place (wide inputs: V is as
            # large as the moved weights)
            rows = V[:, 0, :]
            rows *= signs
        else:
            rows = np.einsum("bo,bod->bd", signs, V)
        rows *= self.scale
        return pairs.neurons, rows

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

    def gram_rows(self, active, rows, data_gram):
        """Rows ``rows`` of :meth:`gram`'s ``G``, each entry computed as
        :meth:`gram` computes it (the same bits).

        Parameters
        ----------
        active : sparse array of shape (n_samples, n_neurons)
            Active sets; only the positions of the stored entries count.
        rows : ndarray of int
            The rows wanted.
        data_gram : ndarray of shape (n_samples, n_samples)
            ``X X^T``.

        Returns
        -------
        G_rows : ndarray of shape (rows.size, n_samples)
        """
        A = pattern(active)
        # exact small integers, as the overlap counts of gram
        G = (A[rows] @ A.T).toarray()
        G *= data_gram[rows]
        G /= self.n_neurons
        return G

    def gram_operator(self, active, X, by_neuron=None, pairs=None):
        """Callable ``u -> G u`` over fixed active sets, without forming ``G``.

        ``G u = (1/m) <x_i, sum_{r in S_i} V_r>`` with ``V_r = sum_{i: r in
        S_i} u_i x_i``: two compiled passes over the firing pairs
        (:class:`PairSums`), O(nnz * d) for all columns of ``u`` at once,
        over ``n_jobs`` threads, the result independent of ``n_jobs``.
        ``by_neuron``, the csc form of ``active`` if at hand, saves a
        conversion where the sums run by neuron; ``pairs``, the
        :class:`PairSums` of ``active`` if at hand, saves building it.
        """
        if pairs is None:
            pairs = PairSums(active, self.n_jobs, by_neuron)
        m = self.n_neurons

        def matvec(u):
            u = np.asarray(u, dtype=np.float64)
            squeeze = u.ndim == 1
            out = pairs.row_dots(X, pairs.neuron_sums(X, u.reshape(u.shape[0], -1)))
            out /= m
            return out[:, 0] if squeeze else out

        return matvec

    def gram_diagonal(self, active, X):
        """``G_ii = ||x_i||^2 |S_i| / m``."""
        counts = np.diff(active.indptr).astype(np.float64)
        return counts * squared_row_norms(X) / self.n_neurons


def bias_coordinate(X):
    """The last coordinate of the preprocessed rows ``X``, ``1 / ||u_i||``."""
    return X.bias if is_sparse_rows(X) else X[:, -1]


def squared_row_norms(X):
    """``||x_i||^2`` of the rows of ``X`` (ndarray or :class:`SparseRows`)."""
    if is_sparse_rows(X):
        return X.squared_norms()
    return np.einsum("id,id->i", X, X)


def _pair_blocks(indptr, pairs):
    """``(r0, r1)`` blocks of consecutive rows of about ``pairs`` pairs each."""
    n = indptr.size - 1
    cuts = np.searchsorted(indptr, np.arange(pairs, int(indptr[-1]), pairs))
    bounds = np.unique(np.concatenate(([0], cuts, [n]))).tolist()
    return list(zip(bounds[:-1], bounds[1:]))


def _move_rows(W, changed, coef, X, old_rows, r0, r1):
    # W[changed[k]] += (coef @ X)[k] for k in r0:r1, keeping the old rows
    rows = changed[r0:r1]
    np.take(W, rows, axis=0, out=old_rows[r0:r1])
    new = csr_rows(coef, r0, r1) @ X
    new += old_rows[r0:r1]
    W[rows] = new
