"""The classifier: binary, multiclass and multilabel log-loss."""

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, log_expit, log_softmax, softmax
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import column_or_1d

from .._compat import StrOptions, fit_context
from ._base import DEFAULTS, BaseSublinearNewton
from ._docstrings import (
    _ATTRIBUTES_DOC,
    _DOC_CONSTANTS,
    _NOTES_DOC,
    _PARAMS_DOC,
    _REFERENCES_DOC,
)


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
