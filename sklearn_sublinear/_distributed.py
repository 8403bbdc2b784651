"""Fitting a local estimator over rows held in shards (layer 4, no dask).

:func:`fit_sharded` runs what ``BaseSublinearNewton._fit`` runs, with every
pass over the rows replaced by a reduction over shards
(:class:`~sklearn_sublinear._solvers._sharded.RowShard`, reached through a
:class:`~sklearn_sublinear._solvers._sharded.Shards` handle): validation, the
weighted input and target scaling, the target encoding, then the Gauss-Newton
loop over a :class:`~sklearn_sublinear._solvers._sharded.ShardedProblem`. The
fitted estimator is the plain local one: the same random state gives the same
initial weights and signs, the same solver path and, up to the order of sums,
the same predictions. ``sklearn_sublinear.dask`` supplies shards on dask
workers; tests use shards in this process.
"""

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array

from ._estimators._base import _constant_model
from ._network import LOSSES, InputTransform, threshold_from_sparsity
from ._network._inputs import boundary_sums, column_ends, point_masses, widen_gaps
from ._solvers._sharded import ShardedProblem
from ._tree_index import DenseIndex, TreeIndex, make_index

_INDEX_KINDS = {TreeIndex: "tree", DenseIndex: "dense"}


# -- functions run on the shards (RowShard.call) ------------------------------
def _validate(shard, classifier, n_features):
    """Check the shard's rows; return what the driver combines."""
    shard.X = check_array(shard.X, dtype=[np.float64, np.float32])
    if n_features is not None and shard.X.shape[1] != n_features:
        raise ValueError(
            f"All partitions of X need {n_features} columns, got {shard.X.shape[1]}."
        )
    y = np.asarray(shard.y)
    if y.shape[0] != shard.X.shape[0]:
        raise ValueError(
            f"A partition of X has {shard.X.shape[0]} rows but its partition of y "
            f"has {y.shape[0]}; X, y and sample_weight need the same row chunks."
        )
    if classifier:
        check_classification_targets(y)
        labels = np.unique(y, return_counts=True) if y.ndim == 1 else None
    else:
        y = check_array(y, ensure_2d=False, dtype=np.float64)
        labels = None
    shard.y = y
    shard.sample_weight = _check_weights(shard.sample_weight, shard.X.shape[0])
    return shard.X.shape, float(np.sum(shard.sample_weight)), labels, y.ndim


def _check_weights(sample_weight, n_rows):
    """Float64 non-negative weights of a shard (all zero is allowed: the
    shard then takes no part)."""
    if sample_weight is None:
        return np.ones(n_rows)
    w = check_array(sample_weight, ensure_2d=False, dtype=np.float64)
    if w.shape != (n_rows,):
        raise ValueError(
            f"A partition of sample_weight has shape {w.shape}, expected "
            f"({n_rows},): one weight per row of X."
        )
    if np.any(w < 0):
        raise ValueError("sample_weight must be non-negative; got negative values.")
    return w


def _weigh_classes(shard, classes, weights):
    """Multiply the weights by those of the rows' classes."""
    shard.sample_weight = (
        shard.sample_weight * weights[np.searchsorted(classes, shard.y)]
    )


def _class_counts(checks):
    """Classes over all shards and their numbers of rows."""
    classes = np.unique(np.concatenate([c[2][0] for c in checks]))
    counts = np.zeros(classes.size)
    for _, _, (labels, n), _ in checks:
        counts[np.searchsorted(classes, labels)] += n
    return classes, counts


def _class_weights(estimator, classes, counts):
    """The weight of every class: "balanced" from the counts over all shards,
    as :func:`sklearn.utils.class_weight.compute_class_weight` computes it."""
    if isinstance(estimator.class_weight, list):
        raise ValueError(
            "class_weight as a list of dicts is for label sets (one dict per "
            "label column); for class labels pass a dict or 'balanced'."
        )
    if estimator.class_weight == "balanced":
        return counts.sum() / (classes.size * counts)
    return np.array([estimator.class_weight.get(c, 1.0) for c in classes.tolist()])


def _values(shard, which):
    return shard.X if which == "X" else shard.Y


def _weighted_sum(shard, which, total):
    """``sum_i (w_i / total) v_i`` over the shard's rows."""
    return (shard.sample_weight / total) @ _values(shard, which)


def _peak(shard, which, mean):
    """Largest deviation from ``mean`` over the rows of positive weight."""
    rows = _values(shard, which)[shard.sample_weight > 0]
    return np.max(np.abs(rows - mean), axis=0, initial=0.0)


def _scaled_squares(shard, which, mean, peak, total):
    """``sum_i (w_i / total) ((v_i - mean) / peak)^2`` over the shard's rows."""
    keep = shard.sample_weight > 0
    sw = shard.sample_weight[keep] / total
    with np.errstate(over="ignore", invalid="ignore"):
        dev = _values(shard, which)[keep] - mean
        return sw @ (dev / np.where(peak > 0, peak, 1.0)) ** 2


def _encode_classes(shard, encode_targets, state):
    """One-hot (or 0/1) targets with the driver's classes."""
    shard.Y, _, _ = encode_targets(shard.y, shard.sample_weight, state)
    del shard.y


def _raw_targets(shard):
    """The regressor's targets as float64 columns."""
    Y = np.asarray(shard.y, dtype=np.float64)
    shard.Y = Y[:, None] if Y.ndim == 1 else Y
    del shard.y


def _standardize(shard, mean, scale):
    shard.Y = (shard.Y - mean) / scale


def _transform(shard, transform, total):
    """Preprocess the rows; return the partial weighted mean row norm."""
    shard.X = transform.transform(shard.X)
    return (shard.sample_weight / total) @ (1.0 / shard.X[:, -1])


def _ends(shard):
    return column_ends(shard.X, shard.sample_weight)


def _boundary_sums(shard, ends):
    return boundary_sums(shard.X, shard.sample_weight, ends)


def _widen(shard, ends, gaps):
    shard.X = widen_gaps(shard.X, ends, gaps)


def sharded_point_masses(shards, total):
    """The end values and gaps of
    :func:`~sklearn_sublinear._network.boundary_gaps` over shards (None, None
    if no column has an end point mass)."""
    parts = shards.map("call", _ends)
    ends = np.stack(
        [np.min([p[0] for p in parts], axis=0), np.max([p[1] for p in parts], axis=0)]
    )
    parts = shards.map("call", _boundary_sums, ends)
    sums = sum(p[0] for p in parts)
    nearest = np.min([p[1] for p in parts], axis=0)
    return point_masses(ends, sums, nearest, total)


def _n_weighted(shard):
    return int(np.count_nonzero(shard.sample_weight))


# -- the driver ---------------------------------------------------------------
def sharded_mean_scale(shards, which, total, n_rows, name):
    """Weighted mean and scale of ``X`` or ``Y`` over shards.

    The same formulas as :func:`~sklearn_sublinear._network.weighted_mean_scale`
    (deviations divided by their largest magnitude before squaring, a relative
    cut for constant columns), each sum taken over the shards.
    """
    mean = sum(shards.map("call", _weighted_sum, which, total))
    peak = np.max(shards.map("call", _peak, which, mean), axis=0)
    with np.errstate(over="ignore", invalid="ignore"):
        squares = sum(shards.map("call", _scaled_squares, which, mean, peak, total))
        scale = peak * np.sqrt(squares)
    if not np.all(np.isfinite(scale)):
        raise ValueError(
            f"The spread of some columns of {name} around their mean exceeds the "
            f"float64 range; rescale {name} (e.g. divide it by its largest value)."
        )
    tiny = max(n_rows, 10) * np.finfo(np.float64).eps * np.abs(mean)
    constant = scale <= tiny
    scale[constant] = 1.0
    return mean, scale, constant


def fit_sharded(estimator, shards, n_features=None):
    """Fit ``estimator`` (a local one, unfitted) on the rows of ``shards``.

    Parameters
    ----------
    estimator : SublinearNewtonRegressor or SublinearNewtonClassifier
        Its parameters are used and its fitted attributes set.
    shards : Shards
        Handle on :class:`RowShard` objects holding raw rows ``X``, targets
        ``y`` and weights ``sample_weight`` (None for ones).
    n_features : int, default=None
        Columns every partition of ``X`` must have.

    Returns
    -------
    estimator : the fitted estimator.
    """
    _check_supported(estimator)
    classifier = isinstance(estimator, ClassifierMixin)
    checks = shards.map("call", _validate, classifier, n_features)
    n_rows = sum(shape[0] for shape, *_ in checks)
    d = checks[0][0][1]
    shards, total, loss_name, state = _encode_targets(
        estimator, shards, checks, n_features, n_rows
    )

    # The shards' rows are moved off the end point masses once, here; the
    # fitted transform then moves new rows alike.
    ends, gaps = sharded_point_masses(shards, total)
    if gaps is not None:
        shards.map("call", _widen, ends, gaps)
    transform = InputTransform()
    transform.ends_ = transform.gaps_ = None
    transform.mean_, transform.scale_, _ = sharded_mean_scale(
        shards, "X", total, n_rows, "X"
    )
    transform.norm_mean_ = float(sum(shards.map("call", _transform, transform, total)))
    transform.ends_, transform.gaps_ = ends, gaps
    n_weighted = int(sum(shards.map("call", _n_weighted)))
    n_outputs = state["y_mean"].size

    solver_name = estimator._resolve_solver(n_weighted, n_outputs)
    threshold = threshold_from_sparsity(estimator.n_neurons, estimator.sparsity)
    network = estimator._initial_network(
        False,
        state,
        threshold,
        d + 1,
        n_outputs,
        transform,
        estimator._linear_term(False),
    )
    if estimator.alpha == "auto":
        # the best constant, from the weighted mean of the encoded targets
        mean = sum(shards.map("call", _weighted_sum, "Y", total))
        network.intercept = _constant_model(mean[None, :], np.ones(1), loss_name)
    solver = estimator._gauss_newton(solver_name, estimator.max_iter)
    loss = LOSSES[loss_name]()
    shards.map(
        "setup",
        solver,
        network,
        loss,
        _index_factory(estimator, threshold, n_rows, d),
        total,
    )
    problem = ShardedProblem(solver, network, shards, n_rows, n_weighted, total)
    network, history, _ = solver.run(problem, loss=loss)
    estimator._set_fitted(network, transform, state, solver_name, history, False)
    estimator._set_curves(False)
    estimator.n_features_in_ = d
    return estimator


def _check_supported(estimator):
    """Refuse the options the sharded fit does not offer."""
    unsupported = [
        option
        for option, used in [
            ("early_stopping=True", estimator.early_stopping),
            ("warm_start=True", estimator.warm_start),
            ("loss='poisson'", getattr(estimator, "loss", None) == "poisson"),
            (
                f"input_scaling={estimator.input_scaling!r}",
                estimator.input_scaling not in ("auto", "standard"),
            ),
        ]
        if used
    ]
    if unsupported:
        raise ValueError(
            f"The dask estimators do not support {', '.join(unsupported)} yet; "
            "fit a local estimator on a sample instead."
        )


def _encode_targets(estimator, shards, checks, n_features, n_rows):
    """Encode every shard's targets as the local estimator would.

    Returns the shards of positive weight, the total sample weight, the loss
    name and the target state (see ``_encode_targets`` of the estimators).
    """
    classifier = isinstance(estimator, ClassifierMixin)
    y_ndim = checks[0][3]
    if classifier and y_ndim == 2:
        raise ValueError(
            "The dask classifier takes 1-D class labels; label sets (a 2-D "
            "indicator matrix) are not supported on dask yet."
        )
    if classifier:
        classes, counts = _class_counts(checks)
        if getattr(estimator, "class_weight", None) is not None:
            weights = _class_weights(estimator, classes, counts)
            shards.map("call", _weigh_classes, classes, weights)
            checks = shards.map("call", _validate, classifier, n_features)
        _, loss_name, state = estimator._encode_targets(classes, np.ones(classes.size))
    total = float(sum(c[1] for c in checks))
    if not total > 0:
        raise ValueError("sample_weight must have a positive sum.")
    # rows of zero weight take no part in training (and hold no validation)
    shards = shards.subset([c[1] > 0 for c in checks])
    if classifier:
        shards.map("call", _encode_classes, estimator._encode_targets, state)
        return shards, total, loss_name, state
    shards.map("call", _raw_targets)
    y_mean, y_scale, constant = sharded_mean_scale(shards, "Y", total, n_rows, "y")
    # the state of these scales, as the estimator encodes it
    dummy = np.zeros(1) if y_ndim == 1 else np.zeros((1, y_mean.size))
    _, loss_name, state = estimator._encode_targets(
        dummy,
        np.ones(1),
        {"y_mean": y_mean, "y_scale": y_scale, "out_activation": "identity"},
    )
    state["constant_outputs"] = constant
    shards.map("call", _standardize, y_mean, y_scale)
    return shards, total, loss_name, state


def _index_factory(estimator, threshold, n_rows, d):
    """The shards' index factory, ``index="auto"`` resolved once for all
    shards from the sizes of all rows."""
    kind = _INDEX_KINDS[
        type(
            make_index(
                estimator.index,
                np.broadcast_to(0.0, (n_rows, d + 1)),
                threshold,
                estimator.n_neurons,
                n_jobs=estimator.n_jobs,
            )
        )
    ]
    return _IndexFactory(kind, threshold, estimator.n_neurons, estimator.n_jobs)


class _IndexFactory:
    """Makes a shard's unbuilt index over its rows (picklable)."""

    def __init__(self, kind, threshold, n_neurons, n_jobs):
        self.kind, self.threshold = kind, threshold
        self.n_neurons, self.n_jobs = n_neurons, n_jobs

    def __call__(self, X):
        return make_index(
            self.kind, X, self.threshold, self.n_neurons, n_jobs=self.n_jobs
        )
