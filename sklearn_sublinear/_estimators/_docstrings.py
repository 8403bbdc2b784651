"""Docstring parts shared by the two estimators, filled with their defaults."""

from .._network._two_layer import FORWARD_CHUNK_BYTES
from .._solvers._gauss_newton import DAMPING_REFERENCE_WEIGHT, DAMPING_SLOWER_WEIGHT
from ._base import CHOLESKY_MAX_SAMPLES

_PARAMS_DOC = """
    n_neurons : int, default={n_neurons}
        Number of hidden neurons ``m`` (at least 2).

    sparsity : float, default={sparsity}
        Sparsity of the hidden layer, in (0, 1): the activations are shifted
        so that about ``n_neurons ** (1 - sparsity)`` neurons fire per sample
        at initialization. Larger values give sparser, cheaper iterations.

    alpha : float or "auto", default="{alpha}"
        Strength of the L2 (Levenberg-Marquardt) damping of the Gauss-Newton
        steps, the main regularization. ``"auto"`` chooses it from the data at
        every iteration by generalized cross-validation of the step (from one
        eigendecomposition of the system up to 1,000 weighted rows, from
        Lanczos quadratures up to 5,000), stops the fit when no step is
        expected to lower the held-out error, and starts from the zero
        function (neurons in pairs of opposite signs) with the intercept at
        the best constant; beyond 5,000 weighted rows it is the float 1e-3
        with these starts. A float is
        the lowest damping, relative to the size of the system and weakening
        for large data, with the random start and the stopping rule of
        ``tol``; larger values give shorter, more regularized steps. The
        choice is stored in ``alpha_``; see the user guide.

    max_iter : int, default={max_iter}
        Maximum number of Gauss-Newton iterations.

    tol : float, default={tol}
        Relative tolerance: training stops when ``n_iter_no_change``
        consecutive iterations each lower the training loss (the validation
        error with ``early_stopping``) by less than ``tol`` times its decrease
        since the iteration of largest gain (for the Poisson loss, also by
        less than ``tol`` times 4% of its value; see the user guide).

    index : {{"auto", "tree", "dense"}}, default="auto"
        Active-set index over the training rows. ``"tree"`` keeps one max-tree
        of pre-activations per sample and updates only changed neurons,
        ``"dense"`` recomputes all products per query, ``"auto"`` chooses from
        the problem size. Both give identical active sets.

    solver : {{"auto", "cholesky", "cg"}}, default="auto"
        Linear solver of the damped Gauss-Newton system: ``"cholesky"`` forms and
        factors the ``n x n`` Gram matrix, ``"cg"`` runs a preconditioned
        conjugate gradient that never forms it. ``"auto"`` uses ``"cholesky"``
        up to ``{cholesky_max_samples} * sqrt(n_outputs)`` weighted training
        samples.

    batch_size : int, default=None
        Rows per chunk in prediction; by default chunks hold about
        {forward_chunk_mib} MiB of hidden activations.

    n_jobs : int, default=None
        Number of threads for the index, the Gram matrix and the steps; results
        do not depend on it. ``None`` means 1 unless in a
        :obj:`joblib.parallel_backend` context. ``-1`` means using all
        processors.

    random_state : int, RandomState instance or None, default=None
        Seed of the initial weights, the output signs, the early-stopping split
        and the preconditioner sketch. Pass an int for reproducible results.

    verbose : int, default=0
        0 is silent; 1 prints one line per iteration (loss, active neurons per
        sample, index action, changed neurons, seconds); 2 also prints every
        damping trial and the conjugate-gradient iterations.

    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified for
        the classifier), stop on its error instead of the training loss, and
        keep the weights of the best validation score.

    validation_fraction : float, default=0.1
        Fraction of the training data held out when ``early_stopping=True``.

    n_iter_no_change : int, default={n_iter_no_change}
        Number of consecutive iterations without improvement (see ``tol``) that
        stops the fit, with or without ``early_stopping``.

    warm_start : bool, default=False
        Continue from the weights, input scaling and target scaling of the
        previous fit instead of a new random initialization.

    input_scaling : {{"auto", "standard", "maxabs", "none"}}, default="auto"
        How each feature is scaled before the rows get their bias coordinate
        and unit length: ``"standard"`` subtracts the weighted mean and
        divides by the weighted standard deviation; ``"maxabs"`` divides by
        the largest magnitude on the training rows (no centering: sparse rows
        stay sparse, and a rare feature is not magnified beyond 1);
        ``"none"`` leaves the features as they are (e.g. tf-idf rows).
        ``"auto"`` means ``"maxabs"`` for sparse ``X`` and ``"standard"`` for
        dense ``X`` (see the user guide). The scaling is learned by the first
        fit (or ``partial_fit`` batch) and kept by warm starts.

    homogeneous : bool or "auto", default="auto"
        Scale each sample's hidden output by the norm of its standardized row,
        so that outputs grow linearly far from the data instead of saturating
        (see Notes). ``"auto"`` means True for the regressor, False for the
        classifier (see the user guide).

    linear_term : bool or "auto", default="auto"
        Add a linear function of the scaled features to the output, trained
        jointly with the network, as a skip connection. ``"auto"`` means True
        for the regressor, for sparse ``X`` and with ``alpha="auto"``, False
        for the classifier on dense ``X`` with a float ``alpha``, and what the
        previous fit had with a warm start. On uncentered features
        (``"maxabs"``, ``"none"``) the solver weighs the linear term's rows by
        ``0.5 / input_norm_mean_``, which damps its coefficients more;
        ``linear_coef_`` is the model's coefficient either way (see the user
        guide).

    memory_limit : "auto", float or None, default="auto"
        Bytes the fit may use. The fit estimates its peak memory before
        allocating, and checks the real number of firing pairs after every
        index query, refusing with a ValueError that names the parts (the
        previous fitted state is kept). Once a step was accepted, a refusal
        stops the fit instead, with a ConvergenceWarning, and the fit keeps
        the weights of its last accepted step. ``"auto"`` takes the smallest of what
        75% of physical memory, the cgroup limit and ``RLIMIT_AS`` leave, each
        minus what is in use; None switches the check off."""

# Module constants quoted by the parameter docs.
_DOC_CONSTANTS = {
    "cholesky_max_samples": CHOLESKY_MAX_SAMPLES,
    "forward_chunk_mib": FORWARD_CHUNK_BYTES // 2**20,
    "damping_reference_weight": DAMPING_REFERENCE_WEIGHT,
    "damping_slower_weight": DAMPING_SLOWER_WEIGHT,
}

_ATTRIBUTES_DOC = """
    coefs_ : list of ndarray
        ``coefs_[0]`` of shape (n_features + 1, n_neurons) holds the trained
        first-layer weights ``W.T``, acting on the preprocessed rows ``x'``
        (see Notes); ``coefs_[1]`` of shape (n_neurons, n_outputs) holds the fixed
        random signs scaled by ``1 / sqrt(m)``{coef_scale}.

    intercepts_ : list of ndarray
        ``intercepts_[0]`` of shape (n_neurons,) is ``-threshold_`` for every
        neuron; ``intercepts_[1]`` of shape (n_outputs,) is the trained output
        intercept{intercept_scale}.

    threshold_ : float
        Shift ``b`` of the activations.

    input_mean_ : ndarray of shape (n_features,)
        Weighted mean of the training features.

    input_scale_ : ndarray of shape (n_features,)
        Weighted standard deviation of the training features (1 where zero).

    input_norm_mean_ : float
        Weighted mean of ``||[(x - mu) / sigma, 1]||`` over the training rows.

    input_scaling_ : {{"standard", "maxabs", "none"}}
        ``input_scaling`` resolved (``"auto"`` by the format of ``X``).

    input_ends_ : ndarray of shape (2, n_features) or None
        Smallest and largest training value of each feature, kept when some
        feature has a point mass at one of them (see ``input_gaps_``); else
        None.

    input_gaps_ : ndarray of shape (2, n_features) or None
        On dense input with standard scaling, a feature whose smallest (or
        largest) value holds at least 5% of the training weight while its
        nearest other value is close to it (zero hours worked, zero earnings)
        has the gap between that point mass and its other values widened
        before standardization: the values above the smallest rise by
        ``input_gaps_[0]``, those at or above the largest by
        ``input_gaps_[1]``; ``input_mean_`` and ``input_scale_`` describe the
        moved values. None if no feature has such a point mass.

    homogeneous_ : bool
        Whether the network is homogeneous (``homogeneous`` resolved).

    linear_coef_ : ndarray of shape (n_features, n_outputs) or None
        Coefficients ``v`` of the linear term on the standardized features
        ``(x - input_mean_) / input_scale_``{intercept_scale}; None without
        linear term (``linear_term`` resolved to False).

    n_outputs_ : int
        Number of network outputs.

    n_layers_ : int
        Number of layers (3: input, hidden, output).

    out_activation_ : str
        Output link: {out_activation}.

    solver_ : str
        Linear solver used, ``"cholesky"`` or ``"cg"``.

    memory_estimate_ : int
        Estimated peak memory of the last fit in bytes: the largest of the
        estimates before it started and after every index query.

    n_iter_ : int
        Number of Gauss-Newton iterations run (accumulated over warm starts).

    loss_curve_ : list of float
        Training loss after each iteration{loss_scale}.

    best_loss_ : float or None
        Lowest value of ``loss_curve_`` (None if no iteration ran).

    history_ : dict of list
        Per-iteration records: ``"loss"``, ``"seconds"`` (wall time),
        ``"active_per_sample"`` (mean number of firing neurons per row),
        ``"changed_neurons"`` (neurons moved by the step), ``"index_action"``
        (what the index did), ``"damping"`` (damping after the step),
        ``"damping_tries"``, ``"inner_iterations"`` (conjugate-gradient
        iterations), ``"alpha"`` (the damping floor of the step relative to
        the trace of the system, chosen by cross-validation with
        ``alpha="auto"``) and, with early stopping, ``"validation_score"``.

    alpha_ : float
        The relative damping floor of the first step: the choice of
        ``alpha="auto"`` (``inf`` when no step was expected to help, the fit
        then predicting the weighted mean), else ``alpha`` times the size
        factor of the user guide.

    validation_scores_ : list of float or None
        Validation {score_name} after each iteration with ``early_stopping``,
        else None.

    best_validation_score_ : float or None
        Best of ``validation_scores_`` (None without early stopping).

    n_features_in_ : int
        Number of features seen during :term:`fit`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :term:`fit`. Defined only when `X`
        has feature names that are all strings."""

_NOTES_DOC = """
    Each sample ``x`` is first standardized with the weighted mean and standard
    deviation of the training data, then a constant 1 is appended and the row is
    scaled to unit length: ``x' = [(x - mu) / sigma, 1] / ||[(x - mu) / sigma, 1]||``.
    The network is

    .. math::

        f_o(x) = \\frac{{1}}{{\\sqrt{{m}}}} \\sum_{{r=1}}^m a_{{ro}}
                 \\max(\\langle w_r, x' \\rangle - b, 0) + \\beta_o

    with ``w_r ~ N(0, I)`` at start, fixed random signs ``a_ro`` and
    ``b = Phi^-1(1 - m^-sparsity)``, so only about ``m^(1 - sparsity)`` neurons
    fire per sample. With ``homogeneous``, the sum is multiplied by
    ``||u|| / c``, where ``u = [(x - mu) / sigma, 1]`` (so ``x' = u / ||u||``) and
    ``c`` is ``input_norm_mean_``: the network is then
    ``f_o(u) = (1 / (c sqrt(m))) sum_r a_ro max(<w_r, u> - b ||u||, 0) + beta_o``,
    a ReLU network whose shift grows with the row's norm; the firing sets are
    unchanged and the Jacobian rows below are scaled by ``||u|| / c``. With
    ``linear_term``, ``<(x - mu) / sigma, v_o>`` is added (``linear_coef_``).
    Only ``W``, ``beta`` and ``v`` are trained. An index over the training rows
    returns the firing set ``S_i`` of every sample; the Gram matrix
    ``G = (X' X'^T) * (A A^T) / m + E E^T`` (``A`` the 0/1 firing pattern,
    ``E`` the rows ``[1, (x - mu) / sigma]`` of the affine part, or ones
    without linear term) follows exactly from the overlaps ``|S_i & S_j|``. Each
    Levenberg-Marquardt Gauss-Newton step

    .. math::

        \\Delta = -J^T D^{{1/2}} (D^{{1/2}} G D^{{1/2}} + \\lambda I)^{{-1}}
                  D^{{-1/2}} S g

    (``S`` the normalized sample weights, ``D = S H`` with ``H`` the loss
    curvature, ``g`` the loss gradient with respect to the outputs) moves only
    the neurons that fire for some sample; it is accepted if the training loss
    decreases, else the damping grows and the step is retried. With a float
    ``alpha`` the damping is at least ``alpha * trace(D^{{1/2}} G D^{{1/2}})``
    times ``min(1, sqrt({damping_reference_weight:g} / sum(sample_weight)))``
    (beyond a total weight of {damping_slower_weight:,.0f}, it shrinks as the
    inverse fourth root of the total weight instead, from its value there).
    With ``alpha="auto"`` the step is a ridge regression of the whitened
    working response ``z`` on the Jacobian, and its floor is the damping of
    lowest generalized cross-validation score
    ``||(I - H) z||^2 / (1 - trace(H) / sum(sample_weight))^2``, with
    ``H = B (B + lambda I)^{{-1}}`` and ``B = D^{{1/2}} G D^{{1/2}}``, over a
    grid, from one eigendecomposition of ``B`` up to 1,000 weighted rows, from
    Lanczos quadratures of ``B`` (and one Hutchinson probe of the trace)
    beyond, not below the floor of ``alpha=1e-3``, up to 5,000 weighted rows
    (the floor of ``alpha=1e-3`` beyond); the fit stops when no damping scores below
    ``||z||^2``, no step. Integer sample weights are equivalent to repeated
    rows.{extra}"""

_REFERENCES_DOC = """
    .. [1] Y. Deng, H. Hu, Z. Song, O. Weinstein and D. Zhuo, "Training
       Overparametrized Neural Networks in Sublinear Time", arXiv:2208.04508.

    .. [2] J. van den Brand, B. Peng, Z. Song and O. Weinstein, "Training
       (Overparametrized) Neural Networks in Near-Linear Time", ITCS 2021.

    .. [3] T. Cai, R. Gao, J. Hou, S. Chen, D. Wang, D. He, Z. Zhang and L. Wang,
       "Gram-Gauss-Newton Method: Learning Overparameterized Neural Networks for
       Regression Problems", arXiv:1905.11675."""
