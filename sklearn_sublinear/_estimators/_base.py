"""The estimators' shared base: input checks, the network's start, the
solver's collaborators, the memory guard and the fitted attributes."""

import warnings
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from .._compat import CallbackSupportMixin, Interval, StrOptions, check_sample_weight
from .._memory import MemoryGuard, fit_nbytes, pair_shift, resolve_limit
from .._network import (
    LOSSES,
    InputTransform,
    TwoLayerNetwork,
    is_sparse_rows,
    threshold_from_sparsity,
)
from .._solvers import GaussNewton
from .._solvers._selection import KRYLOV_STEPS, TRACE_PROBES, selection_method
from .._threads import fit_threads, nested_blas_threads
from .._tree_index import make_index
from ._callbacks import _CALLBACK_STATE, _CallbackHooks

# solver="auto" forms and factors the n x n Gram up to this many weighted rows
# times sqrt(n_outputs), beyond which the matrix-free conjugate gradient is
# faster per iteration: Cholesky costs n^3 whatever the outputs, CG one
# product per output and iteration, so the crossover grows like
# sqrt(n_outputs). No benchmark script measures the crossover yet; the
# one-off measurement is in docs/design.rst.
CHOLESKY_MAX_SAMPLES = 1500
# Sparse inputs accepted as they are (other formats are converted to csr by
# validate_data), with 32- or 64-bit indices (the compiled loops take both);
# the standardized rows stay sparse (``SparseRows``).
SPARSE_FORMATS = ("csr", "csc")
# Gauss-Newton iterations that partial_fit runs on each batch, from the
# current weights: one, as MLP's partial_fit runs one epoch; that one suffices
# to approach fit is checked by benchmarks/bench_partial_fit.py (key
# "tables" / "streams" / "gap_to_fit_after_pass").
PARTIAL_FIT_ITERATIONS = 1


def _cg_stop(transform, linear):
    """The CG stopping rule of a fit: ``"decrease"`` with a linear term on
    uncentered rows (``"maxabs"``, ``"none"``), whose spread spectrum keeps
    the residual test waiting after the model has stopped moving
    (``benchmarks/bench_sparse.py``); else ``"residual"``, as the fits on
    standardized rows were tuned."""
    return "decrease" if linear and transform.scaling != "standard" else "residual"


def _constant_model(Y, sample_weight, loss_name):
    """Raw outputs of the best constant model: the weighted mean of the targets
    (squared error), its log (Poisson), or the logits of the weighted class
    frequencies."""
    mean = np.average(Y, axis=0, weights=sample_weight)
    if loss_name == "squared_error":
        return mean
    if loss_name == "poisson":
        return np.log(mean)
    p = np.clip(mean, 1e-12, 1.0 - 1e-12)
    if loss_name == "binary_log_loss":
        return np.log(p) - np.log1p(-p)
    return np.log(p) - np.mean(np.log(p))


def _starting_intercept(Y, sample_weight, loss_name, scaling):
    """The intercept a fit with ``alpha="auto"`` starts from.

    The best constant model (:func:`_constant_model`), whose step GCV then
    scores against no step; but zero logits for the log losses on uncentered
    rows (``scaling`` "maxabs" or "none", the sparse default), as with a
    fixed ``alpha``. There the affine part is damped ``1 / t^2`` times more
    than on standardized rows (``InputTransform.affine_scale``): an intercept
    started at the class-prior logits stays near them through the few steps
    of a fit and holds the rare classes back, whose words alone separate
    them (docstrings corpus: classes of 56 to 412 documents), while on
    balanced classes the two starts agree (``benchmarks/bench_sparse.py
    --part text``, key "text" / "means").
    """
    if scaling != "standard" and loss_name in ("log_loss", "binary_log_loss"):
        return np.zeros(Y.shape[1])
    return _constant_model(Y, sample_weight, loss_name)


# Default hyperparameters, shared by both estimators and their docstrings.
# tol and n_iter_no_change: one Gauss-Newton iteration does the work of many
# epochs, and the stopping rule acts as a regularizer, so they were chosen on
# test scores (benchmarks/bench_real_data.py --all, key "rows" / "score", and
# the diamonds fit of bench_scale.py, key "runs" / "test_r2").
DEFAULTS = {
    "n_neurons": 1536,
    "sparsity": 0.5,
    "alpha": "auto",
    "max_iter": 20,
    "tol": 0.25,
    "n_iter_no_change": 2,
}


class BaseSublinearNewton(CallbackSupportMixin, BaseEstimator, metaclass=ABCMeta):
    """Base class of the sublinear Gauss-Newton network estimators.

    Warning: This class should not be used directly. Use derived classes instead.
    """

    _parameter_constraints = {
        "n_neurons": [Interval(Integral, 2, None, closed="left")],
        "sparsity": [Interval(Real, 0, 1, closed="neither")],
        "alpha": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "index": [StrOptions({"auto", "tree", "dense"})],
        "solver": [StrOptions({"auto", "cholesky", "cg"})],
        "batch_size": [None, Interval(Integral, 1, None, closed="left")],
        "n_jobs": [
            None,
            Interval(Integral, None, -1, closed="right"),
            Interval(Integral, 1, None, closed="left"),
        ],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "warm_start": ["boolean"],
        "input_scaling": [StrOptions({"auto", "standard", "maxabs", "none"})],
        "homogeneous": ["boolean", StrOptions({"auto"})],
        "linear_term": ["boolean", StrOptions({"auto"})],
        "memory_limit": [
            None,
            StrOptions({"auto"}),
            Interval(Real, 0, None, closed="neither"),
        ],
    }

    _doc_link_module = "sklearn_sublinear"
    _doc_link_template = (
        "https://sklearn-sublinear.readthedocs.io/en/latest/generated/"
        "{estimator_module}.{estimator_name}.html"
    )

    def __init__(
        self,
        n_neurons=DEFAULTS["n_neurons"],
        *,
        sparsity=DEFAULTS["sparsity"],
        alpha=DEFAULTS["alpha"],
        max_iter=DEFAULTS["max_iter"],
        tol=DEFAULTS["tol"],
        index="auto",
        solver="auto",
        batch_size=None,
        n_jobs=None,
        random_state=None,
        verbose=0,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=DEFAULTS["n_iter_no_change"],
        warm_start=False,
        input_scaling="auto",
        homogeneous="auto",
        linear_term="auto",
        memory_limit="auto",
    ):
        self.n_neurons = n_neurons
        self.sparsity = sparsity
        self.alpha = alpha
        self.max_iter = max_iter
        self.tol = tol
        self.index = index
        self.solver = solver
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.warm_start = warm_start
        self.input_scaling = input_scaling
        self.homogeneous = homogeneous
        self.linear_term = linear_term
        self.memory_limit = memory_limit

    # -- subclass hooks -------------------------------------------------------
    @abstractmethod
    def _encode_targets(self, y, sample_weight, state=None):
        """Return ``(Y, loss_name, state)``.

        ``state`` holds the target encoding (classes, or mean and scale); it is
        learned from ``y`` when None and reused otherwise.
        """

    @abstractmethod
    def _fitted_target_state(self):
        """The target encoding of the previous fit (for warm starts)."""

    @abstractmethod
    def _validation_scorer(self, Y_val, sample_weight_val, state):
        """Callable mapping raw validation outputs to a score (higher is better)."""

    def _stratify(self, y):
        return None

    def _weight_samples(self, y, sample_weight):
        """The sample weights the fit uses (the classifier's class weights)."""
        return sample_weight

    def _check_targets(self, y):
        """The validated targets, in the shape the encoding expects."""
        return y

    def _resolve(self, name):
        """Parameter ``name`` (a bool or "auto"), "auto" meaning the subclass's
        ``_<name>_default``."""
        value = getattr(self, name)
        return getattr(self, f"_{name}_default") if value == "auto" else bool(value)

    def _input_scaling(self, sparse):
        """``input_scaling``, "auto" meaning "maxabs" for sparse input (the
        scaling keeps the zeros and the words' relative weights) and
        "standard" for dense input."""
        if self.input_scaling != "auto":
            return self.input_scaling
        return "maxabs" if sparse else "standard"

    def _linear_term(self, sparse, warm=False):
        """``linear_term``, "auto" meaning: as the previous fit with a warm
        start, True for sparse input (text and one-hot features, where a
        linear model is strong) and with ``alpha="auto"`` (whose choice of
        the damping and stop also holds the linear logits back), else the
        subclass's default."""
        if self.linear_term != "auto":
            return bool(self.linear_term)
        if warm:
            return getattr(self, "linear_coef_", None) is not None
        return sparse or self.alpha == "auto" or self._linear_term_default

    # -- fitting --------------------------------------------------------------
    def _fit(self, X, y, sample_weight, incremental=False, first_state=None):
        # validate_data resets n_features_in_ and feature_names_in_ before the
        # fit can fail; an interrupted or failed fit restores the previous state.
        previous = dict(vars(self))
        try:
            with warnings.catch_warnings(), fit_threads():
                if incremental:
                    # A batch gets a fixed number of steps, not a converged fit.
                    warnings.simplefilter("ignore", ConvergenceWarning)
                return self._fit_unchecked(
                    X, y, sample_weight, incremental, first_state
                )
        except BaseException:
            # The callbacks' context stays, so that they are torn down.
            kept = {k: v for k, v in vars(self).items() if k in _CALLBACK_STATE}
            vars(self).clear()
            vars(self).update(previous, **kept)
            raise

    def _fit_unchecked(self, X, y, sample_weight, incremental, first_state):
        """Fit, or with ``incremental`` run a few steps on one batch.

        A fitted estimator continues from its weights and its input and target
        scaling with ``warm_start`` or ``incremental``; otherwise the target
        encoding is learned from ``y`` unless ``first_state`` fixes it.
        """
        warm = (self.warm_start or incremental) and hasattr(self, "coefs_")
        X, y, sample_weight = self._validate_fit_data(X, y, sample_weight, warm)
        train, val = self._split(y, sample_weight, incremental)
        Y, loss_name, state = self._encode_targets(
            y[train],
            sample_weight[train],
            self._fitted_target_state() if warm else first_state,
        )
        # Without a validation part every row trains, in order: X as it is
        # (no copy of the input).
        X_train = X if val is None else X[train]
        if warm:
            transform = self._fitted_transform()
        else:
            transform = InputTransform(self._input_scaling(sp.issparse(X))).fit(
                X_train, sample_weight[train]
            )
        del X_train
        # The index rows: the training rows, then the validation rows (weight 0).
        rows = train if val is None else np.concatenate([train, val])
        X_index = transform.transform(X if val is None else X[rows])
        weights = np.zeros(rows.size)
        weights[: train.size] = sample_weight[train]
        Y_index = np.zeros((rows.size, Y.shape[1]))
        Y_index[: train.size] = Y
        validation = None
        if val is not None:
            Y_val, _, _ = self._encode_targets(y[val], sample_weight[val], state)
            scorer = self._validation_scorer(Y_val, sample_weight[val], state)
            validation = (np.arange(train.size, rows.size), scorer)

        n_weighted = int(np.count_nonzero(weights))
        solver = self._resolve_solver(n_weighted, Y.shape[1])
        threshold = threshold_from_sparsity(self.n_neurons, self.sparsity)
        # Unbuilt: allocates nothing yet, and resolves index="auto".
        index = make_index(
            self.index, X_index, threshold, self.n_neurons, n_jobs=self.n_jobs
        )
        linear = self._linear_term(sp.issparse(X), warm)
        guard = self._check_memory(index, n_weighted, Y.shape[1], solver, linear)
        network = self._initial_network(
            warm, state, threshold, X_index.shape[1], Y.shape[1], transform, linear
        )
        if self.alpha == "auto" and not warm:
            network.intercept = _starting_intercept(
                Y, sample_weight[train], loss_name, transform.scaling
            )
        gauss_newton = self._gauss_newton(
            solver,
            PARTIAL_FIT_ITERATIONS if incremental else self.max_iter,
            _cg_stop(transform, linear),
        )
        # A warm start continues from the damping the previous fit ended with.
        damping = None
        if warm and getattr(self, "history_", {}).get("damping"):
            damping = self.history_["damping"][-1]
        hooks = self._callback_hooks(
            X, y, sample_weight, gauss_newton.max_iter, transform, state, solver
        )
        network, history, _ = gauss_newton.solve(
            network,
            LOSSES[loss_name](),
            index,
            X_index,
            Y_index,
            weights,
            validation=validation,
            damping=damping,
            check_pairs=guard.check_pairs,
            hooks=hooks,
        )
        del index
        self._set_fitted(network, transform, state, solver, history, warm)
        self.memory_estimate_ = int(guard.largest)
        self._set_curves(val is not None)
        if hooks is not None:
            hooks.close()
        return self

    def _callback_hooks(self, X, y, sample_weight, max_iter, transform, state, solver):
        """The bridge to scikit-learn callbacks (None before scikit-learn 1.9)."""
        if not hasattr(self, "_init_callback_context"):
            return None

        def attributes(network):
            fitted = self._model_attributes(network, transform, state, solver)
            fitted["coefs_"][0] = fitted["coefs_"][0].copy()
            return fitted

        return _CallbackHooks(self, X, y, sample_weight, max_iter, attributes)

    def _gauss_newton(self, solver, max_iter, cg_stop="residual"):
        """The solver of this estimator's parameters, with the linear ``solver``,
        ``max_iter`` iterations and the CG stopping rule ``cg_stop``."""
        return GaussNewton(
            alpha=self.alpha,
            max_iter=max_iter,
            tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
            linear_solver=solver,
            verbose=self.verbose,
            random_state=self.random_state,
            cg_stop=cg_stop,
        )

    def _validate_fit_data(self, X, y, sample_weight, warm):
        """Validated ``X``, ``y`` and float64 non-negative sample weights."""
        X, y = validate_data(
            self,
            X,
            y,
            reset=not warm,
            accept_sparse=SPARSE_FORMATS,
            dtype=[np.float64, np.float32],
            multi_output=self._multi_output_y,
            y_numeric=not isinstance(self, ClassifierMixin),
        )
        y = self._check_targets(y)
        sample_weight = check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True
        )
        sample_weight = self._weight_samples(y, sample_weight)
        with np.errstate(over="ignore"):
            total_weight = np.sum(sample_weight)
        if not np.isfinite(total_weight):
            raise ValueError(
                "The sum of sample_weight overflows the float64 range; divide "
                "the weights by a common factor (only their ratios and their "
                "sum count)."
            )
        if not total_weight > 0:
            # The message of newer scikit-learn versions, which refuse all-zero
            # weights themselves (1.6 does not).
            raise ValueError(
                "Sample weights must contain at least one non-zero number."
            )
        return X, y, sample_weight

    def _split(self, y, sample_weight, incremental=False):
        """Sorted training and validation rows (None without early stopping,
        which partial_fit ignores)."""
        train = np.arange(y.shape[0])
        if incremental or not self.early_stopping:
            return train, None
        train, val = train_test_split(
            train,
            test_size=self.validation_fraction,
            random_state=check_random_state(self.random_state).randint(2**31 - 1),
            stratify=self._stratify(y),
        )
        train, val = np.sort(train), np.sort(val)
        if not np.sum(sample_weight[train]) > 0:
            raise ValueError(
                "The training part of the early-stopping split has zero total "
                "sample weight; change validation_fraction or random_state."
            )
        return train, val

    def _resolve_solver(self, n_weighted, n_outputs):
        """``solver``, with "auto" resolved by ``CHOLESKY_MAX_SAMPLES``."""
        if self.solver != "auto":
            return self.solver
        limit = CHOLESKY_MAX_SAMPLES * np.sqrt(n_outputs)
        return "cholesky" if n_weighted <= limit else "cg"

    def _initial_network(
        self, warm, state, threshold, n_inputs, n_outputs, transform, linear
    ):
        """The network to train: the previous fit's (warm start) or a random one,
        with a linear term if ``linear`` (:meth:`_linear_term`)."""
        n_neurons = self.n_neurons
        if warm:
            W = np.array(self.coefs_[0].T, dtype=np.float64, order="C")
            signs = np.sign(self.coefs_[1])
            intercept = (self.intercepts_[1] - state["y_mean"]) / state["y_scale"]
            if W.shape[0] != n_neurons:
                raise ValueError(
                    f"warm_start=True needs n_neurons={W.shape[0]} as in the "
                    f"previous fit, got n_neurons={n_neurons}."
                )
        else:
            rng = check_random_state(self.random_state)
            W = rng.standard_normal((n_neurons, n_inputs))
            signs = (2 * rng.randint(0, 2, size=(n_neurons, n_outputs)) - 1).astype(
                np.float64
            )
            signs[:, state.get("constant_outputs", np.zeros(n_outputs, bool))] = 0.0
            if self.alpha == "auto":
                # Pairs of equal neurons with opposite signs: the network
                # starts as the zero function, the model whose damping GCV
                # scores (no random function left in the predictions).
                half = n_neurons // 2
                W[half : 2 * half] = W[:half]
                signs[half : 2 * half] = -signs[:half]
            intercept = state.get("intercept", np.zeros(n_outputs))
        linear_coef = None
        if linear:
            previous = getattr(self, "linear_coef_", None) if warm else None
            linear_coef = (
                np.zeros((n_inputs - 1, n_outputs))
                if previous is None
                else previous / state["y_scale"]
            )
        homogeneous = self._resolve("homogeneous")
        return TwoLayerNetwork(
            W,
            signs,
            threshold,
            intercept,
            norm_scale=transform.norm_mean_ if homogeneous else None,
            linear_coef=linear_coef,
            affine_scale=transform.affine_scale() if linear else 1.0,
            n_jobs=self.n_jobs,
        )

    @staticmethod
    def _model_attributes(network, transform, state, solver):
        """The fitted attributes that predict with ``network`` (W not copied)."""
        y_scale, y_mean = state["y_scale"], state["y_mean"]
        linear_coef = network.linear_coef
        return {
            "input_mean_": transform.mean_,
            "input_scale_": transform.scale_,
            "input_norm_mean_": transform.norm_mean_,
            "input_scaling_": transform.scaling,
            "input_ends_": transform.ends_,
            "input_gaps_": transform.gaps_,
            "homogeneous_": network.norm_scale is not None,
            "linear_coef_": None if linear_coef is None else linear_coef * y_scale,
            "threshold_": network.threshold,
            "coefs_": [network.W.T, network.signs * (network.scale * y_scale)],
            "intercepts_": [
                np.full(network.n_neurons, -network.threshold),
                network.intercept * y_scale + y_mean,
            ],
            "n_outputs_": network.n_outputs,
            "n_layers_": 3,
            "out_activation_": state["out_activation"],
            "solver_": solver,
            **state.get("attributes", {}),
        }

    def _set_fitted(self, network, transform, state, solver, history, warm):
        """Assign the fitted state at once (everything before used locals)."""
        for key, value in self._model_attributes(
            network, transform, state, solver
        ).items():
            setattr(self, key, value)
        if warm and hasattr(self, "history_"):
            for key, values in history.items():
                self.history_.setdefault(key, []).extend(values)
            self.n_iter_ += len(history["loss"])
        else:
            self.history_ = history
            self.n_iter_ = len(history["loss"])
        if history["alpha"]:
            self.alpha_ = history["alpha"][0]
        else:
            # alpha="auto" found no step worth taking (or an exact start).
            self.alpha_ = float("inf") if self.alpha == "auto" else float(self.alpha)

    def _set_curves(self, validated):
        """``loss_curve_``, ``best_loss_`` and the validation scores."""
        self.loss_curve_ = list(self.history_["loss"])
        if validated:
            self.validation_scores_ = list(self.history_["validation_score"])
            self.best_validation_score_ = max(self.validation_scores_, default=None)
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
        self.best_loss_ = min(self.loss_curve_) if self.loss_curve_ else None

    def _memory_parts(self, index, n_weighted, n_outputs, solver, linear, pairs=None):
        """Estimated peak bytes of the fit by part (``_memory.fit_nbytes``)."""
        n_rows, n_inputs = index.X.shape
        sparse = is_sparse_rows(index.X)
        return fit_nbytes(
            n_rows=n_rows,
            n_weighted=n_weighted,
            n_inputs=n_inputs,
            n_neurons=self.n_neurons,
            n_outputs=n_outputs,
            threshold=index.threshold,
            solver=solver,
            index_nbytes=type(index).estimate_nbytes(
                n_rows, n_inputs, self.n_neurons, n_jobs=self.n_jobs, sparse=sparse
            ),
            pairs=pairs,
            early_stopping=self.early_stopping,
            pair_shift=pair_shift(self.sparsity),
            stored_entries=index.X.nnz if sparse else None,
            index_itemsize=index.X.Z.indices.itemsize if sparse else 4,
            affine_columns=n_inputs if linear else 1,
            query_pair_bytes=type(index).query_pair_nbytes(
                n_rows, self.n_neurons, n_jobs=self.n_jobs
            ),
            n_jobs=self.n_jobs,
            **self._selection_memory(n_weighted, n_outputs, solver),
        )

    def _selection_memory(self, n_weighted, n_outputs, solver):
        """What ``alpha="auto"`` holds besides the fit (``fit_nbytes``'s
        ``spectrum`` and ``lanczos_vectors``)."""
        method = None
        if self.alpha == "auto":
            method = selection_method(n_weighted, solver == "cholesky")
        vectors = KRYLOV_STEPS * (n_outputs + TRACE_PROBES)
        return {
            "spectrum": method == "eigh",
            "lanczos_vectors": vectors if method == "krylov" else 0,
        }

    def _check_memory(self, index, n_weighted, n_outputs, solver, linear):
        """Refuse sizes whose estimated peak memory exceeds ``memory_limit``.

        Returns the guard, whose ``check_pairs`` the solver calls with the
        firing pairs of every index query.
        """
        guard = MemoryGuard(*resolve_limit(self.memory_limit))
        advice = (
            "Reduce n_neurons, increase sparsity, use solver='cg' (no n x n "
            "Gram) or fit on fewer samples. "
        )
        guard.check(
            self._memory_parts(index, n_weighted, n_outputs, solver, linear),
            advice=advice,
        )

        def check_pairs(pairs):
            guard.check(
                self._memory_parts(index, n_weighted, n_outputs, solver, linear, pairs),
                when=f" once the firing pairs grew to {pairs} in training",
                advice=advice,
            )

        guard.check_pairs = check_pairs
        return guard

    # -- prediction -----------------------------------------------------------
    def _fitted_transform(self):
        # Models saved before input_scaling_ and input_ends_ existed were
        # standardized without moved point masses.
        transform = InputTransform(getattr(self, "input_scaling_", "standard"))
        transform.mean_, transform.scale_ = self.input_mean_, self.input_scale_
        transform.norm_mean_ = self.input_norm_mean_
        transform.ends_ = getattr(self, "input_ends_", None)
        transform.gaps_ = getattr(self, "input_gaps_", None)
        return transform

    def _raw_output(self, X):
        """Network outputs (original target scale) in chunks of bounded memory."""
        check_is_fitted(self)
        X = validate_data(
            self,
            X,
            reset=False,
            accept_sparse=SPARSE_FORMATS,
            dtype=[np.float64, np.float32],
            ensure_2d=True,
        )
        W = self.coefs_[0].T
        # coefs_[1] holds the signs times 1/sqrt(m) and the target scale.
        network = TwoLayerNetwork(
            W,
            self.coefs_[1] * np.sqrt(W.shape[0]),
            self.threshold_,
            self.intercepts_[1],
            norm_scale=self.input_norm_mean_ if self.homogeneous_ else None,
            linear_coef=self.linear_coef_,
        )
        with nested_blas_threads():
            raw = network.forward(
                self._fitted_transform().transform(X), self.batch_size
            )
        # Outputs keep the input's floating dtype, as scikit-learn's MLP does.
        return raw.astype(X.dtype, copy=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
