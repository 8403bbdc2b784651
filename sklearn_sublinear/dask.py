"""One network fitted over the rows of a dask cluster.

:class:`DaskSublinearNewtonRegressor` and :class:`DaskSublinearNewtonClassifier`
take the parameters of the local estimators plus ``client`` and fit on dask
arrays or dask DataFrames whose partitions stay on the workers that hold them.
Each worker keeps its rows, their active-set index and a copy of the weights
in a dask actor (:class:`~sklearn_sublinear._solvers._sharded.RowShard`); the
driver runs the one Gauss-Newton loop of the package over them
(:class:`~sklearn_sublinear._solvers._sharded.ShardedProblem`), so that every
iteration sends and receives blocks of the moved neurons' rows, never rows of
data. ``predict``, ``predict_proba`` and ``decision_function`` map the fitted
local model over the blocks of a dask collection, lazily; ``to_local()``
returns that local model.

This module needs ``dask[distributed]`` (the ``dask`` extra); the rest of the
package never imports it.
"""

import copy
import inspect

import dask
import dask.array as da
import numpy as np
import scipy.sparse as sp
from dask.sizeof import sizeof
from distributed import default_client, wait
from sklearn.utils.validation import check_is_fitted

from ._compat import fit_context
from ._distributed import fit_sharded
from ._estimators import SublinearNewtonClassifier, SublinearNewtonRegressor
from ._solvers._sharded import RowShard, Shards

__all__ = ["DaskSublinearNewtonClassifier", "DaskSublinearNewtonRegressor"]

# Seconds between checks that the workers holding the shards are alive while
# waiting for an answer (a call to a lost worker's actor never returns).
LIVENESS_POLL_SECONDS = 1.0


class _DaskRowShard(RowShard):
    """A :class:`RowShard` made on a worker from the partitions it holds."""

    def __init__(self, parts):
        X = np.concatenate([p[0] for p in parts])
        y = np.concatenate([p[1] for p in parts])
        weights = [p[2] for p in parts]
        w = None if weights[0] is None else np.concatenate(weights)
        # the rows' numbers in the whole array, from each partition's first
        rows = np.concatenate([np.arange(p[3], p[3] + len(p[0])) for p in parts])
        super().__init__(X, y, w, rows=rows)


class DaskShards(Shards):
    """Shards in dask actors, one per worker holding partitions.

    Counts the bytes sent to and received from the workers (``"bytes_sent"``,
    ``"bytes_received"``, estimated by :func:`dask.sizeof.sizeof`) and the
    calls (``"calls"``) in ``traffic``, a dict shared with its subsets, and
    the same per call in ``log`` (method, bytes sent, bytes received).

    Parameters
    ----------
    client : distributed.Client
    actors : list of (distributed.Future, distributed.Actor)
        The actors' futures and handles.
    """

    def __init__(self, client, actors):
        self.client, self.actors = client, list(actors)
        self.traffic = {"bytes_sent": 0, "bytes_received": 0, "calls": 0}
        self.log = []

    def subset(self, keep):
        kept = DaskShards(self.client, [a for a, k in zip(self.actors, keep) if k])
        kept.traffic, kept.log = self.traffic, self.log
        return kept

    def map(self, method, *args, per_shard=None):
        extra = per_shard or [()] * len(self.actors)
        pending = []
        sent = 0
        for (_, actor), more in zip(self.actors, extra):
            sent += sizeof(args) + sizeof(more)
            pending.append(getattr(actor, method)(*args, *more))
        answers = [self._result(f) for f in pending]
        received = sum(sizeof(a) for a in answers)
        self.traffic["bytes_sent"] += sent
        self.traffic["bytes_received"] += received
        self.traffic["calls"] += 1
        self.log.append((method, sent, received))
        return answers

    def _result(self, actor_future):
        while True:
            try:
                return actor_future.result(timeout=LIVENESS_POLL_SECONDS)
            except TimeoutError:  # a subclass of OSError: caught first
                if any(future.status != "finished" for future, _ in self.actors):
                    raise _lost(None) from None
            except OSError as exc:
                raise _lost(exc) from exc

    def close(self):
        """Release the actors (their workers drop the rows and indexes)."""
        for future, _ in self.actors:
            future.release()
        self.actors = []


def _lost(exc):
    detail = "" if exc is None else f" ({exc})"
    return RuntimeError(
        "A dask worker holding rows of this fit was lost during the fit"
        f"{detail}. The estimator keeps the state it had before this call; "
        "fit again once the cluster is healthy."
    )


def _as_array(data, name, ndim=None):
    """A dask array of ``data`` (dask array, DataFrame or Series) with known
    row chunks and one chunk across columns."""
    if data is None:
        return None
    if sp.issparse(data) or sp.issparse(getattr(data, "_meta", None)):
        raise TypeError(
            f"{name} is sparse: the dask estimators take dense partitions only. "
            "Fit sparse data with the local estimator (SublinearNewtonRegressor "
            "or SublinearNewtonClassifier), which keeps it sparse."
        )
    if hasattr(data, "to_dask_array"):
        data = data.to_dask_array(lengths=True)
    elif not isinstance(data, da.Array):
        raise TypeError(
            f"{name} must be a dask array or a dask DataFrame/Series, got "
            f"{type(data).__name__}; wrap in-memory data with "
            "dask.array.from_array, or use the local estimator."
        )
    if any(np.isnan(c) for c in data.chunks[0]):
        data = data.compute_chunk_sizes()
    if ndim is not None and data.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got {data.ndim}.")
    if data.ndim == 2 and len(data.chunks[1]) > 1:
        data = data.rechunk({1: -1})
    return data


def _aligned(data, X, name):
    """``data`` with the row chunks of ``X`` (same number of rows required)."""
    if data is None:
        return None
    if data.shape[0] != X.shape[0]:
        raise ValueError(
            f"X has {X.shape[0]} rows but {name} has {data.shape[0]}; they need "
            "the same number of rows."
        )
    if data.chunks[0] != X.chunks[0]:
        data = data.rechunk({0: X.chunks[0]})
    return data


def _blocks(data):
    """Row blocks of a dask array as delayed objects."""
    if data is None:
        return None
    blocks = data.to_delayed()
    return list(blocks[:, 0] if blocks.ndim == 2 else blocks)


def place_shards(client, X, y, sample_weight=None):
    """Compute the row partitions on the workers and make one shard per worker.

    Parameters
    ----------
    client : distributed.Client
    X : dask array or dask DataFrame of shape (n_samples, n_features)
    y : dask array, Series or DataFrame of shape (n_samples,) or (n_samples, k)
    sample_weight : dask array or Series of shape (n_samples,), default=None

    Returns
    -------
    shards : DaskShards
    n_features : int
    """
    X = _as_array(X, "X", ndim=2)
    y = _aligned(_as_array(y, "y"), X, "y")
    w = _aligned(_as_array(sample_weight, "sample_weight", ndim=1), X, "sample_weight")
    if X.shape[0] == 0:
        raise ValueError("X has no rows.")
    w_blocks = _blocks(w) or [None] * len(X.chunks[0])
    starts = np.concatenate([[0], np.cumsum(X.chunks[0])[:-1]]).tolist()
    parts = [
        dask.delayed(tuple)([xb, yb, wb, start])
        for xb, yb, wb, rows, start in zip(
            _blocks(X), _blocks(y), w_blocks, X.chunks[0], starts
        )
        if rows > 0  # empty partitions hold nothing to fit
    ]
    futures = client.compute(parts)
    wait(futures)
    for future in futures:
        if future.status == "error":
            future.result()  # raises the partition's error
    who_has = client.who_has(futures)
    owners = {}
    for future in futures:
        owners.setdefault(sorted(who_has[future.key])[0], []).append(future)
    actors = []
    for worker, held in owners.items():
        future = client.submit(
            _DaskRowShard,
            held,
            actor=True,
            workers=[worker],
            allow_other_workers=False,
            pure=False,
        )
        actors.append((future, future.result()))
    del futures, owners
    return DaskShards(client, actors), X.shape[1]


class _DaskModel:
    """What the dask estimators add to the local ones: ``client``, a fit over
    the workers' partitions, lazy predictions and :meth:`to_local`."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        local = cls._local_class
        cls._parameter_constraints = {
            **local._parameter_constraints,
            "client": "no_validation",
        }

        def __init__(self, *args, client=None, **params):
            local.__init__(self, *args, **params)
            self.client = client

        # The local estimator's parameters plus ``client``, as the signature
        # scikit-learn's get_params reads.
        signature = inspect.signature(local.__init__)
        client = inspect.Parameter("client", inspect.Parameter.KEYWORD_ONLY)
        __init__.__signature__ = signature.replace(
            parameters=[*signature.parameters.values(), client.replace(default=None)]
        )
        cls.__init__ = __init__

    def _get_client(self):
        return self.client if self.client is not None else default_client()

    def _local_params(self):
        params = self.get_params(deep=False)
        del params["client"]
        return params

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the network on a dask collection, where its partitions live.

        Parameters
        ----------
        X : dask array or dask DataFrame of shape (n_samples, n_features)
            Training data; its row partitions are fitted on the workers that
            hold them (unknown partition lengths are computed, empty
            partitions skipped).
        y : dask array, Series or DataFrame of shape (n_samples,) or \
(n_samples, n_outputs)
            Target values (regressor) or class labels (classifier), rechunked
            to the row partitions of ``X``.
        sample_weight : dask array or dask Series of shape (n_samples,), \
default=None
            Non-negative sample weights, rechunked likewise; integer weights
            are equivalent to repeated rows.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        previous = dict(vars(self))
        shards = None
        try:
            shards, n_features = place_shards(self._get_client(), X, y, sample_weight)
            local = self._local_class(**self._local_params())
            fit_sharded(local, shards, n_features)
            communication = dict(shards.traffic)
            log = list(shards.log)
        except BaseException:
            vars(self).clear()
            vars(self).update(previous)
            raise
        finally:
            if shards is not None:
                shards.close()
        for key, value in vars(local).items():
            if key.endswith("_") and not key.startswith("__"):
                setattr(self, key, value)
        self.communication_ = communication
        self._communication_log = log
        self._local_model = local
        return self

    def to_local(self):
        """The fitted local estimator (picklable, same predictions).

        Returns
        -------
        estimator : SublinearNewtonRegressor or SublinearNewtonClassifier
            A copy of the model fitted on the cluster.
        """
        check_is_fitted(self)
        return copy.deepcopy(self._local_model)

    def _map_blocks(self, method, X, n_columns=None, dtype=None):
        """Apply the local model's ``method`` to every row block of ``X``."""
        check_is_fitted(self)
        if hasattr(X, "to_dask_array"):
            X = X.to_dask_array()
        elif not isinstance(X, da.Array):
            raise TypeError(
                f"X must be a dask array or a dask DataFrame, got {type(X).__name__}"
                "; for in-memory data use to_local()."
            )
        if X.ndim != 2:
            raise ValueError(f"X must be 2-dimensional, got {X.ndim}.")
        if len(X.chunks[1]) > 1:
            X = X.rechunk({1: -1})
        function = _BlockMethod(self._local_model, method, n_columns)
        if dtype is None:
            dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float64
        if n_columns is None:
            return X.map_blocks(function, drop_axis=1, dtype=dtype)
        return X.map_blocks(function, chunks=(X.chunks[0], (n_columns,)), dtype=dtype)


class _BlockMethod:
    """A local model's method over one block (empty blocks give empty output)."""

    def __init__(self, model, method, n_columns):
        self.model, self.method, self.n_columns = model, method, n_columns

    def __call__(self, block):
        if block.shape[0] == 0:
            shape = (0,) if self.n_columns is None else (0, self.n_columns)
            return np.empty(shape)
        return getattr(self.model, self.method)(block)


def _param_names(local):
    return ", ".join(inspect.signature(local).parameters)


_UNSUPPORTED = """ Not supported yet on dask (a ValueError
        says so): {options}``early_stopping=True`` and ``warm_start=True``."""

_DOC = """Distributed counterpart of :class:`{local}` on dask.

    One network fitted over the row partitions of a dask array or DataFrame,
    which stay on the workers holding them. The fit runs the local
    estimator's algorithm (the same initial weights and signs for the same
    ``random_state``, the same solver path) and agrees with it up to the order
    of sums; predictions map the fitted local model over the blocks of a dask
    collection, lazily.

    Parameters
    ----------
    {params}
        As for :class:`{local}`; ``n_jobs`` applies on every worker.{unsupported}

    client : distributed.Client, default=None
        Client of the cluster to fit on; None means the default client
        (:func:`distributed.default_client`).

    Attributes
    ----------{extra}
    communication_ : dict
        Bytes sent to the workers (``"bytes_sent"``) and received from them
        (``"bytes_received"``) during the fit, as estimated by
        :func:`dask.sizeof.sizeof`, and the number of calls (``"calls"``).

    The fitted attributes of :class:`{local}` (``coefs_``, ``loss_curve_``,
    ...) are set as well.

    See Also
    --------
    {local} : The local estimator (see ``to_local``).
    {other} : The {other_kind} on dask.

    Examples
    --------
    >>> import dask.array as da
    >>> from distributed import Client, LocalCluster
    >>> from sklearn_sublinear.dask import {name}
    >>> cluster = LocalCluster(n_workers=2, processes=False, dashboard_address=None)
    >>> client = Client(cluster)
    >>> X = da.random.default_rng(0).normal(size=(400, 3), chunks=100)
    >>> y = {target}
    >>> est = {name}(n_neurons=256, random_state=0, client=client)
    >>> est = est.fit(X, y)
    >>> est.predict(X[:5]).compute().shape
    (5,)
    >>> client.close(); cluster.close()
    """


class DaskSublinearNewtonRegressor(_DaskModel, SublinearNewtonRegressor):
    __doc__ = _DOC.format(
        local="SublinearNewtonRegressor",
        other="DaskSublinearNewtonClassifier",
        other_kind="classifier",
        name="DaskSublinearNewtonRegressor",
        params=_param_names(SublinearNewtonRegressor),
        unsupported=_UNSUPPORTED.format(options="``loss='poisson'``, "),
        extra="",
        target="X[:, 0] + X[:, 1] * X[:, 2]",
    )

    _local_class = SublinearNewtonRegressor

    def predict(self, X):
        """Predict lazily, block by block, with the fitted local model.

        Parameters
        ----------
        X : dask array or dask DataFrame of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        y : dask array of shape (n_samples,) or (n_samples, n_outputs)
            Predicted values.
        """
        columns = None if self._local_model._y_ndim == 1 else self.n_outputs_
        return self._map_blocks("predict", X, columns)


class DaskSublinearNewtonClassifier(_DaskModel, SublinearNewtonClassifier):
    __doc__ = _DOC.format(
        local="SublinearNewtonClassifier",
        other="DaskSublinearNewtonRegressor",
        other_kind="regressor",
        name="DaskSublinearNewtonClassifier",
        params=_param_names(SublinearNewtonClassifier),
        unsupported=_UNSUPPORTED.format(options="label sets (2-D ``y``), "),
        extra="""
    classes_ : ndarray of shape (n_classes,)
        Class labels.
""",
        target="X[:, 0] > 0",
    )

    _local_class = SublinearNewtonClassifier

    def predict(self, X):
        """Predict class labels lazily, block by block.

        Parameters
        ----------
        X : dask array or dask DataFrame of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        y : dask array of shape (n_samples,)
            Predicted labels.
        """
        return self._map_blocks("predict", X, dtype=self.classes_.dtype)

    def predict_proba(self, X):
        """Class probabilities, lazily, block by block.

        Parameters
        ----------
        X : dask array or dask DataFrame of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        proba : dask array of shape (n_samples, n_classes)
            Probabilities of the classes in ``classes_``.
        """
        return self._map_blocks("predict_proba", X, self.classes_.size)

    def decision_function(self, X):
        """Raw network outputs (logits), lazily, block by block.

        Parameters
        ----------
        X : dask array or dask DataFrame of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        scores : dask array of shape (n_samples,) or (n_samples, n_classes)
            Logit of ``classes_[1]`` for binary problems, else one per class.
        """
        columns = None if self.classes_.size == 2 else self.classes_.size
        return self._map_blocks("decision_function", X, columns)
