"""The regressor: squared error (single or multi-output) and Poisson."""

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score

from .._compat import StrOptions, fit_context
from .._network import LOSSES, weighted_mean_scale
from ._base import DEFAULTS, BaseSublinearNewton
from ._docstrings import (
    _ATTRIBUTES_DOC,
    _DOC_CONSTANTS,
    _NOTES_DOC,
    _PARAMS_DOC,
    _REFERENCES_DOC,
)


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
