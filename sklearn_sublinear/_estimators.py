"""Layer 4, the scikit-learn estimators: wide two-layer shifted-ReLU networks
trained by Gauss-Newton over an index of firing neurons (arXiv 2208.04508).

May import every lower layer (``_solvers``, ``_network``, ``_tree_index``)."""

import warnings
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, log_expit, log_softmax, softmax
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ._compat import (
    CallbackSupportMixin,
    Interval,
    StrOptions,
    check_sample_weight,
    fit_context,
)
from ._memory import MemoryGuard, fit_nbytes, pair_shift, resolve_limit
from ._network import (
    LOSSES,
    InputTransform,
    TwoLayerNetwork,
    is_sparse_rows,
    threshold_from_sparsity,
    weighted_mean_scale,
)
from ._network._two_layer import FORWARD_CHUNK_BYTES
from ._solvers import GaussNewton
from ._solvers._gauss_newton import DAMPING_REFERENCE_WEIGHT
from ._solvers._selection import KRYLOV_STEPS, TRACE_PROBES, selection_method
from ._threads import fit_threads, nested_blas_threads
from ._tree_index import make_index

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


def _check_numeric_targets(y):
    """Raise a ValueError saying what to do with non-numeric regression targets."""
    try:
        y = np.asarray(y)
    except ValueError:  # ragged input: validate_data reports it
        return
    if y.dtype.kind in "OUS":
        try:
            y.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                "SublinearNewtonRegressor needs numeric targets, got "
                f"non-numeric values of dtype {y.dtype}. Encode them as numbers, "
                "or use SublinearNewtonClassifier for class labels."
            ) from exc


def _check_poisson_targets(Y, sample_weight):
    """Raise a ValueError for targets the Poisson loss cannot fit."""
    if np.any(Y < 0):
        raise ValueError(
            "loss='poisson' needs non-negative targets (counts or rates), got a "
            f"minimum of {Y.min():.6g}. Use loss='squared_error' for signed targets."
        )
    if not np.all(sample_weight @ Y > 0):
        raise ValueError(
            "loss='poisson' needs every target column to have a positive "
            "weighted sum (a mean count above zero); got a column of zeros."
        )


# Attributes scikit-learn's callback support sets during a fit (>= 1.9).
_CALLBACK_STATE = ("_callback_fit_ctx", "_skl_callbacks_to_teardown")


class _CallbackHooks:
    """Reports a fit to scikit-learn callbacks (scikit-learn >= 1.9).

    The fit is the root task and each Gauss-Newton iteration a subtask, so that
    ``ProgressBar`` advances per iteration and ``ScoringMonitor`` scores the
    network after each accepted step (on the training data given to ``fit``).
    Implements :class:`~sklearn_sublinear._contracts.IterationHooks`.
    """

    def __init__(self, estimator, X, y, sample_weight, max_iter, attributes):
        self.estimator, self.X, self.y = estimator, X, y
        self.metadata = None
        if np.any(sample_weight != 1):
            self.metadata = {"sample_weight": sample_weight}
        self.attributes = attributes
        self.root = estimator._init_callback_context(max_subtasks=max_iter)
        self.root.call_on_fit_task_begin(**self._data())
        self.task = None

    def _data(self):
        return dict(
            estimator=self.estimator, X=self.X, y=self.y, metadata=self.metadata
        )

    def begin(self, iteration):
        self.task = self.root.subcontext(task_name="gauss_newton_iteration")
        self.task.call_on_fit_task_begin(**self._data())

    def end(self, iteration, network):
        if network is None:  # no step accepted: an empty task
            return bool(self.task.call_on_fit_task_end(estimator=self.estimator))
        return bool(
            self.task.call_on_fit_task_end(
                **self._data(),
                reconstruction_attributes=lambda: self.attributes(network),
            )
        )

    def close(self):
        """End the root task (after the estimator's attributes are set)."""
        self.root.call_on_fit_task_end(**self._data(), reconstruction_attributes={})


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
        linear model is strong), else the subclass's default."""
        if self.linear_term != "auto":
            return bool(self.linear_term)
        if warm:
            return getattr(self, "linear_coef_", None) is not None
        return sparse or self._linear_term_default

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
            network.intercept = _constant_model(Y, sample_weight[train], loss_name)
        gauss_newton = self._gauss_newton(
            solver, PARTIAL_FIT_ITERATIONS if incremental else self.max_iter
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

    def _gauss_newton(self, solver, max_iter):
        """The solver of this estimator's parameters, with the linear ``solver``
        and ``max_iter`` iterations."""
        return GaussNewton(
            alpha=self.alpha,
            max_iter=max_iter,
            tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
            linear_solver=solver,
            verbose=self.verbose,
            random_state=self.random_state,
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
        transform = InputTransform()
        transform.mean_, transform.scale_ = self.input_mean_, self.input_scale_
        transform.norm_mean_ = self.input_norm_mean_
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
        for the regressor and for sparse ``X``, False for the classifier on
        dense ``X``, and what the previous fit had with a warm start (see the
        user guide).

    memory_limit : "auto", float or None, default="auto"
        Bytes the fit may use. The fit estimates its peak memory before
        allocating, and checks the real number of firing pairs after every
        index query, refusing with a ValueError that names the parts (the
        previous fitted state is kept). ``"auto"`` takes the smallest of what
        75% of physical memory, the cgroup limit and ``RLIMIT_AS`` leave, each
        minus what is in use; None switches the check off."""

# Module constants quoted by the parameter docs.
_DOC_CONSTANTS = {
    "cholesky_max_samples": CHOLESKY_MAX_SAMPLES,
    "forward_chunk_mib": FORWARD_CHUNK_BYTES // 2**20,
    "damping_reference_weight": DAMPING_REFERENCE_WEIGHT,
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
    times ``min(1, sqrt({damping_reference_weight:g} / sum(sample_weight)))``.
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


class SublinearNewtonRegressor(RegressorMixin, BaseSublinearNewton):
    __doc__ = (
        """Wide two-layer shifted-ReLU network regressor trained by Gauss-Newton.

    The network has many hidden neurons of which only a few fire per sample; an
    index of firing neurons makes each Gauss-Newton iteration cost about the
    number of firing (sample, neuron) pairs instead of ``n_samples *
    n_neurons`` [1]_. Single- and multi-output targets are supported; with
    the squared error, targets are centered and scaled by their weighted mean
    and standard deviation.

    Parameters
    ----------"""
        + _PARAMS_DOC.format(**DEFAULTS, **_DOC_CONSTANTS)
        + """

    loss : {"squared_error", "poisson"}, default="squared_error"
        Loss minimized by the fit. ``"squared_error"`` is half the squared
        error of the standardized targets. ``"poisson"`` is half the Poisson
        deviance with a log link (the output is ``exp`` of the network), for
        non-negative targets such as counts, with a positive weighted sum;
        predictions are means. :meth:`score` stays R2: for counts, compare
        models with :func:`~sklearn.metrics.mean_poisson_deviance` or
        :func:`~sklearn.metrics.d2_tweedie_score` with ``power=1``.

    Attributes
    ----------"""
        + _ATTRIBUTES_DOC.format(
            coef_scale=" and the target standard deviation (squared error)",
            intercept_scale=", in target units (in log units for Poisson)",
            out_activation='``"identity"``, or ``"exp"`` for ``loss="poisson"``',
            loss_scale=(
                " (half the weighted mean squared error of the standardized targets,"
                " or half the weighted mean Poisson deviance)"
            ),
            score_name="R2 score (D2 for Poisson)",
        )
        + """

    See Also
    --------
    SublinearNewtonClassifier : Classifier with the same network and solver.
    sklearn.neural_network.MLPRegressor : Multi-layer perceptron trained by
        stochastic gradients.
    sklearn.kernel_ridge.KernelRidge : The kernel view of a wide network.

    Notes
    -----"""
        + _NOTES_DOC.format(
            **_DOC_CONSTANTS,
            extra=(
                " The loss is half the squared error of the standardized targets "
                "(curvature ``H = I``), or half the Poisson deviance "
                "``e^f - y f + y log y - y`` (curvature ``H = e^f``, the largest "
                "over the outputs); the Poisson fit starts from the intercept "
                "``log(mean(y))``, and its targets are not standardized: under "
                "the log link a scale factor only shifts the intercept."
            ),
        )
        + """

    References
    ----------"""
        + _REFERENCES_DOC
        + """

    Examples
    --------
    >>> from sklearn.datasets import make_friedman1
    >>> from sklearn_sublinear import SublinearNewtonRegressor
    >>> X, y = make_friedman1(n_samples=300, random_state=0)
    >>> reg = SublinearNewtonRegressor(n_neurons=1024, random_state=0).fit(X, y)
    >>> reg.predict(X[:2]).shape
    (2,)
    >>> bool(reg.score(X, y) > 0.8)
    True
    """
    )

    _parameter_constraints = {
        **BaseSublinearNewton._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson"})],
    }

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
        loss="squared_error",
    ):
        super().__init__(
            n_neurons,
            sparsity=sparsity,
            alpha=alpha,
            max_iter=max_iter,
            tol=tol,
            index=index,
            solver=solver,
            batch_size=batch_size,
            n_jobs=n_jobs,
            random_state=random_state,
            verbose=verbose,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            warm_start=warm_start,
            input_scaling=input_scaling,
            homogeneous=homogeneous,
            linear_term=linear_term,
            memory_limit=memory_limit,
        )
        self.loss = loss

    _multi_output_y = True
    _homogeneous_default = True
    _linear_term_default = True

    def _fitted_target_state(self):
        return {
            "y_mean": self._y_mean,
            "y_scale": self._y_scale,
            "out_activation": self.out_activation_,
        }

    def _encode_targets(self, y, sample_weight, state=None):
        Y = np.asarray(y, dtype=np.float64)
        if Y.ndim == 1:
            Y = Y[:, None]
        poisson = self.loss == "poisson"
        out_activation = "exp" if poisson else "identity"
        if poisson:
            _check_poisson_targets(Y, sample_weight)
        if state is not None:
            y_mean, y_scale = state["y_mean"], state["y_scale"]
            if Y.shape[1] != y_mean.size:
                raise ValueError(
                    f"warm_start=True needs {y_mean.size} target column(s) as "
                    f"in the previous fit, got {Y.shape[1]}."
                )
            if state["out_activation"] != out_activation:
                raise ValueError(
                    f"warm_start=True needs the loss of the previous fit; got "
                    f"loss={self.loss!r} after a fit with the "
                    f"{state['out_activation']!r} output activation."
                )
            constant = np.zeros(y_mean.size, dtype=bool)
        else:
            y_mean, y_scale, constant = weighted_mean_scale(Y, sample_weight, "y")
        state = {
            # Constant targets get zero output signs: the network is then
            # exactly its intercept, the constant.
            "constant_outputs": constant,
            "out_activation": out_activation,
        }
        if poisson:
            # Under the log link, scaling the targets only shifts the
            # intercept: they are not standardized, and a new fit starts from
            # the weighted mean, whose logarithm is the intercept.
            state["intercept"] = np.log(sample_weight @ Y / np.sum(sample_weight))
            y_mean, y_scale = np.zeros_like(y_mean), np.ones_like(y_scale)
        state.update(
            y_mean=y_mean,
            y_scale=y_scale,
            attributes={"_y_mean": y_mean, "_y_scale": y_scale, "_y_ndim": np.ndim(y)},
        )
        return (Y - y_mean) / y_scale, self.loss, state

    def _validation_scorer(self, Y_val, sample_weight_val, state):
        if self.loss == "poisson":
            # D2: the fraction of the Poisson deviance of the constant
            # training mean (the starting intercept) that the model explains.
            loss = LOSSES["poisson"]()
            null = np.broadcast_to(state["intercept"], Y_val.shape)
            null_value = max(loss.value(Y_val, null, sample_weight_val), 1e-300)

            def score(raw):
                return 1.0 - loss.value(Y_val, raw, sample_weight_val) / null_value

            return score

        def score(raw):
            return r2_score(Y_val, raw, sample_weight=sample_weight_val)

        return score

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the network to data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; sparse (csr or csc, 32- or 64-bit indices) stays
            sparse.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative sample weights; integer weights are equivalent to
            repeated rows.

        Returns
        -------
        self : SublinearNewtonRegressor
            Fitted estimator.
        """
        _check_numeric_targets(y)
        return self._fit(X, y, sample_weight)

    @fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Update the network with Gauss-Newton steps on one batch.

        The first call (on an unfitted estimator) draws the weights and fixes
        the input and target scaling from its batch; later calls, and calls
        after :meth:`fit`, continue from the current weights, scaling and
        damping. ``early_stopping`` is ignored.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The batch.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative sample weights.

        Returns
        -------
        self : SublinearNewtonRegressor
            Updated estimator.
        """
        _check_numeric_targets(y)
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X):
        """Predict with the trained network.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Predicted values.
        """
        out = self._raw_output(X)
        if self.out_activation_ == "exp":
            out = np.exp(out)
        return out[:, 0] if self._y_ndim == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        tags.target_tags.positive_only = self.loss == "poisson"
        return tags


class SublinearNewtonClassifier(ClassifierMixin, BaseSublinearNewton):
    __doc__ = (
        """Wide two-layer shifted-ReLU network classifier trained by Gauss-Newton.

    The network has many hidden neurons of which only a few fire per sample; an
    index of firing neurons makes each Gauss-Newton iteration cost about the
    number of firing (sample, neuron) pairs instead of ``n_samples *
    n_neurons`` [1]_. Binary problems use one logit and the logistic loss,
    multiclass problems one output per class and the softmax cross-entropy;
    class labels may be of any type. Multilabel targets (a 0/1 indicator
    matrix) get one independent logistic output per label, all sharing the
    hidden layer.

    Parameters
    ----------"""
        + _PARAMS_DOC.format(**DEFAULTS, **_DOC_CONSTANTS)
        + """

    class_weight : dict, list of dict, "balanced" or None, default=None
        Weights of the classes, as ``{class_label: weight}``; classes not
        listed weigh 1. ``"balanced"`` weighs each class by
        ``n_samples / (n_classes * n_samples_in_class)``, computed on the
        ``y`` given to :term:`fit`. For label sets, pass one dict per label
        column (``{0: w0, 1: w1}``) or ``"balanced"``; the weights of the
        labels multiply. The weight of a sample is its class weight times its
        ``sample_weight``; the early-stopping score is weighted the same way.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels; for label sets, the label columns ``0 .. n_labels - 1``."""
        + _ATTRIBUTES_DOC.format(
            coef_scale="",
            intercept_scale="",
            out_activation='``"logistic"`` (binary, label sets) or ``"softmax"``',
            loss_scale=(
                " (weighted mean cross-entropy, summed over the labels of label sets)"
            ),
            score_name="accuracy (subset accuracy for label sets)",
        )
        + """

    See Also
    --------
    SublinearNewtonRegressor : Regressor with the same network and solver.
    sklearn.neural_network.MLPClassifier : Multi-layer perceptron trained by
        stochastic gradients.
    sklearn.svm.SVC : Kernel classifier.

    Notes
    -----"""
        + _NOTES_DOC.format(
            **_DOC_CONSTANTS,
            extra=(
                " The curvature of the logistic loss is bounded by 1/4 and that of "
                "the softmax cross-entropy by 1/2 (``H = I / 4`` or ``I / 2``), "
                "so the quadratic model majorizes the loss of the linearized "
                "network and one ``n x n`` system serves every output."
            ),
        )
        + """

    References
    ----------"""
        + _REFERENCES_DOC
        + """

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_sublinear import SublinearNewtonClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = SublinearNewtonClassifier(n_neurons=1024, random_state=0).fit(X, y)
    >>> clf.predict(X[[0, 50, 100]])
    array([0, 1, 2])
    >>> clf.predict_proba(X[:1]).shape
    (1, 3)
    """
    )

    _parameter_constraints = {
        **BaseSublinearNewton._parameter_constraints,
        "class_weight": [dict, list, StrOptions({"balanced"}), None],
    }

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
        class_weight=None,
    ):
        super().__init__(
            n_neurons,
            sparsity=sparsity,
            alpha=alpha,
            max_iter=max_iter,
            tol=tol,
            index=index,
            solver=solver,
            batch_size=batch_size,
            n_jobs=n_jobs,
            random_state=random_state,
            verbose=verbose,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            warm_start=warm_start,
            input_scaling=input_scaling,
            homogeneous=homogeneous,
            linear_term=linear_term,
            memory_limit=memory_limit,
        )
        self.class_weight = class_weight

    def _stratify(self, y):
        # Label sets are not stratified (as in MLPClassifier).
        return None if np.ndim(y) == 2 else y

    def _check_targets(self, y):
        if sp.issparse(y):
            y = y.toarray()
        if y.ndim == 2 and y.shape[1] == 1:
            return column_or_1d(y, warn=True)
        if y.ndim == 2 and type_of_target(y) != "multilabel-indicator":
            raise ValueError(
                "SublinearNewtonClassifier takes 1-D class labels or a 2-D 0/1 "
                "indicator matrix of labels (multilabel); got a 2-D target of "
                f"type {type_of_target(y)!r}. Fit one classifier per column "
                "(sklearn.multioutput.MultiOutputClassifier) instead."
            )
        return y

    def _weight_samples(self, y, sample_weight):
        if self.class_weight is None:
            return sample_weight
        if isinstance(self.class_weight, list) and np.ndim(y) == 1:
            raise ValueError(
                "class_weight as a list of dicts is for label sets (one dict per "
                "label column); for class labels pass a dict or 'balanced'."
            )
        return sample_weight * compute_sample_weight(self.class_weight, y)

    _multi_output_y = True
    _homogeneous_default = False
    _linear_term_default = False

    def _fitted_target_state(self):
        return {
            "attributes": {"classes_": self.classes_, "_multilabel": self._multilabel}
        }

    def _encode_targets(self, y, sample_weight, state=None):
        check_classification_targets(y)
        if y.ndim == 2:
            return self._encode_label_sets(y, state)
        if state is not None:
            if state["attributes"]["_multilabel"]:
                raise ValueError(
                    "warm_start=True needs label sets (a 2-D indicator matrix) "
                    "as in the previous fit, got 1-D class labels."
                )
            classes = state["attributes"]["classes_"]
            unknown = np.setdiff1d(np.unique(y), classes)
            if unknown.size:
                raise ValueError(
                    f"The classifier cannot learn new classes {unknown.tolist()}: "
                    f"classes_={classes.tolist()} was fixed by the previous fit "
                    "(warm_start=True) or by the first call to partial_fit."
                )
        else:
            classes = np.unique(y)
            if classes.size < 2:
                raise ValueError(
                    "The classifier needs samples of at least 2 classes in the "
                    "data, but the data contains only one class: "
                    f"{classes.tolist()[0]!r}."
                )
        if classes.size == 2:
            Y = (y == classes[1]).astype(np.float64)[:, None]
            loss, out_activation = "binary_log_loss", "logistic"
        else:
            binarizer = LabelBinarizer().fit(classes)
            Y = binarizer.transform(y).astype(np.float64)
            loss, out_activation = "log_loss", "softmax"
        return Y, loss, self._target_state(Y, out_activation, classes, False)

    def _encode_label_sets(self, y, state):
        """Multilabel targets: one independent logistic output per label."""
        n_labels = y.shape[1]
        if state is not None and (
            not state["attributes"]["_multilabel"]
            or state["attributes"]["classes_"].size != n_labels
        ):
            raise ValueError(
                "warm_start=True needs the targets of the previous fit; got "
                f"{n_labels} label columns."
            )
        Y = np.asarray(y, dtype=np.float64)
        state = self._target_state(Y, "logistic", np.arange(n_labels), True)
        return Y, "binary_log_loss", state

    @staticmethod
    def _target_state(Y, out_activation, classes, multilabel):
        return {
            "y_mean": np.zeros(Y.shape[1]),
            "y_scale": np.ones(Y.shape[1]),
            "out_activation": out_activation,
            "attributes": {"classes_": classes, "_multilabel": multilabel},
        }

    def _validation_scorer(self, Y_val, sample_weight_val, state):
        def score(raw):
            if state["out_activation"] == "logistic":
                # The binary accuracy, or the subset accuracy of label sets.
                return accuracy_score(
                    Y_val > 0.5, raw > 0, sample_weight=sample_weight_val
                )
            return accuracy_score(
                Y_val.argmax(axis=1),
                raw.argmax(axis=1),
                sample_weight=sample_weight_val,
            )

        return score

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the network to data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; sparse (csr or csc, 32- or 64-bit indices) stays
            sparse.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels (any type), or a 0/1 indicator matrix of label sets
            (multilabel).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative sample weights; integer weights are equivalent to
            repeated rows.

        Returns
        -------
        self : SublinearNewtonClassifier
            Fitted estimator.
        """
        return self._fit(X, y, sample_weight)

    @fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Update the network with Gauss-Newton steps on one batch.

        The first call (on an unfitted estimator) draws the weights and fixes
        the input scaling from its batch; later calls, and calls after
        :meth:`fit`, continue from the current weights, scaling and damping.
        ``early_stopping`` is ignored, and ``class_weight="balanced"`` is
        refused (one batch cannot tell the class frequencies: pass a dict).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The batch.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a 0/1 indicator matrix of label sets.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative sample weights.
        classes : array-like of shape (n_classes,), default=None
            All the classes of the stream, e.g. ``np.unique(y_all)``; required
            on the first call, and if given later, equal to ``classes_``. A
            batch need not contain every class. For label sets, the label
            columns (``np.arange(n_labels)``).

        Returns
        -------
        self : SublinearNewtonClassifier
            Updated estimator.
        """
        if isinstance(self.class_weight, str):
            raise ValueError(
                "class_weight='balanced' cannot be used with partial_fit: one "
                "batch does not give the class frequencies. Compute the weights "
                "on the whole data (sklearn.utils.class_weight."
                "compute_class_weight) and pass them as a dict."
            )
        fitted = hasattr(self, "coefs_")
        if not fitted and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        if (
            fitted
            and classes is not None
            and not np.array_equal(np.unique(classes), self.classes_)
        ):
            raise ValueError(
                f"classes={np.unique(classes).tolist()} differs from classes_="
                f"{self.classes_.tolist()} of the previous calls."
            )
        first_state = None
        if not fitted:
            multilabel = type_of_target(y) == "multilabel-indicator"
            labels = np.arange(np.shape(y)[1]) if multilabel else np.unique(classes)
            if labels.size < 2:
                raise ValueError(
                    f"partial_fit needs at least 2 classes, got classes={classes!r}."
                )
            first_state = {
                "attributes": {"classes_": labels, "_multilabel": multilabel}
            }
        return self._fit(X, y, sample_weight, incremental=True, first_state=first_state)

    def decision_function(self, X):
        """Raw network outputs (logits).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            Logit of ``classes_[1]`` for binary problems, else one logit per
            class (per label for label sets).
        """
        raw = self._raw_output(X)
        return raw[:, 0] if raw.shape[1] == 1 else raw

    def predict(self, X):
        """Predict class labels.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_labels)
            Predicted labels; for label sets, the 0/1 indicator matrix of the
            labels whose probability exceeds 1/2.
        """
        raw = self._raw_output(X)
        if self._multilabel:
            return (raw > 0).astype(int)
        if raw.shape[1] == 1:
            return self.classes_[(raw[:, 0] > 0).astype(int)]
        return self.classes_[np.argmax(raw, axis=1)]

    def predict_proba(self, X):
        """Class probabilities from the logistic or softmax link.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities of the classes in ``classes_``; rows sum to 1. For
            label sets, the probability of each label, independently.
        """
        raw = self._raw_output(X)
        if self._multilabel:
            return expit(raw)
        if raw.shape[1] == 1:
            p = expit(raw[:, 0])
            return np.column_stack([1.0 - p, p])
        return softmax(raw, axis=1)

    def predict_log_proba(self, X):
        """Logarithm of the class probabilities (computed without underflow).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Log-probabilities of the classes in ``classes_`` (of each label,
            for label sets).
        """
        raw = self._raw_output(X)
        if self._multilabel:
            return log_expit(raw)
        if raw.shape[1] == 1:
            return np.column_stack([log_expit(-raw[:, 0]), log_expit(raw[:, 0])])
        return log_softmax(raw, axis=1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        tags.classifier_tags.multi_label = True
        return tags
