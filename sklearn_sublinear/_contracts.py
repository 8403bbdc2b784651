"""What the Gauss-Newton solver requires of the objects it drives.

The solver (``_solvers``) trains a network over an active-set index with a loss,
solving one damped sample-space system per iteration. Each collaborator is
described here by a :class:`typing.Protocol`: every member the solver or a
system reads or calls, one sentence each (what it takes, what it returns, what
it may not touch). :func:`check_contract` derives the solver's run-time check
from these classes, so the check and the documentation cannot drift apart.

Implementations: :class:`ActiveSetIndex` by ``_tree_index.TreeIndex`` and
``_tree_index.DenseIndex``; :class:`Network` by ``_network.TwoLayerNetwork``;
:class:`Loss` by the classes of ``_network.LOSSES``;
:class:`SampleSpaceSystem` by ``_solvers.CholeskySystem`` and
``_solvers.CGSystem``; :class:`IterationHooks` by the estimators' callback
bridge (``_estimators._callbacks._CallbackHooks``).

Arrays: ``X`` holds the index rows (preprocessed, unit norm), ``W`` the weights
(``n_neurons x n_inputs``), ``active`` a csr array ``n_rows x n_neurons`` of
exact pre-activations of the firing pairs (an index's ``query()``), ``by_neuron``
the same pairs grouped by neuron (its csc form), ``pairs`` the compiled sums
over them (``_network.PairSums``).
"""

import inspect
from typing import Protocol

import numpy as np


class ActiveSetIndex(Protocol):
    """Which neurons fire on every index row, kept up to date as ``W`` moves."""

    def build(self, W):
        """Index the weights ``W`` (kept by reference, never written); return self."""

    def query(self):
        """Return the csr ``active`` of the current ``W``; may not change ``W``."""

    def update(self, W, changed):
        """Take ``W`` whose rows ``changed`` (sorted, unique) moved; return a label."""


class Network(Protocol):
    """The trained model: weights, affine output part and their derivatives."""

    #: Weights, shape (n_neurons, n_inputs); the solver moves its rows in place.
    W: np.ndarray
    #: Coefficients theta of the affine output part; the solver assigns it.
    affine_coef: np.ndarray
    #: Number of rows of ``W``.
    n_neurons: int
    #: Threads of the network's products, also used by the systems.
    n_jobs: int | None

    def row_scale(self, X):
        """Return the per-row output scale of the rows ``X``, or None (no scale)."""

    def jacobian_rows(self, X):
        """Return the rows whose multiples are the Jacobian blocks; reads ``X`` only."""

    def affine_rows(self, X):
        """Return the Jacobian rows ``E`` of the affine output part for ``X``."""

    def forward_active(self, active, offset=None, row_scale=None):
        """Return raw outputs from ``active`` plus ``offset``; changes nothing."""

    def gram_diagonal(self, active, X):
        """Return the diagonal of the network Gram over ``active``; changes nothing."""

    def neuron_step(self, pairs, X, U):
        """Return ``(changed, rows)``: ``J^T U`` on the firing neurons, as rows."""

    def gram(self, active, X, data_gram=None):
        """Return the dense weight Gram ``G`` of ``active`` (CholeskySystem)."""

    def gram_operator(self, active, X, by_neuron=None, pairs=None):
        """Return a callable ``Q -> G Q`` without forming ``G`` (CGSystem)."""


class Loss(Protocol):
    """A loss of the raw network output, with derivatives w.r.t. that output."""

    #: None, or the share of the loss's value that a gain of ``tol`` times it
    #: counts as an improvement (``_solvers._stopping.StoppingRule``).
    stopping_share: float | None
    #: None, or the fraction of the starting loss below which the share no
    #: longer counts (the log losses: separated classes).
    stopping_share_above: float | None
    #: None, or the share from the iteration on where ``alpha="auto"`` keeps
    #: the lowest damping it may choose (``_solvers._gauss_newton``).
    kept_stopping_share: float | None
    #: True when the curvature is the same at every output (the squared
    #: error): later steps refit one working response, and ``alpha="auto"``
    #: counts the earlier steps' degrees of freedom in its GCV.
    constant_curvature: bool

    def value(self, y, raw, sample_weight=None):
        """Return the weighted mean loss (a float); reads its arguments only."""

    def raw_grad(self, y, raw):
        """Return the gradient w.r.t. ``raw``, of the shape of ``raw``."""

    def raw_hessian(self, y, raw, secant=False):
        """Return one positive curvature per row (shape ``(n_rows,)``), with
        ``secant`` one for steps no damping selection relies on."""


class SampleSpaceSystem(Protocol):
    """The damped Gauss-Newton system of one iteration, in sample space.

    Built as ``cls(network, active, X, dsqrt, data_gram=..., random_state=...,
    affine_rows=..., affine_gram=..., previous=...)`` over the weighted rows,
    ``previous`` being what the last system handed over; never changes the
    network.
    """

    #: The firing pairs of the weighted rows (``_network.PairSums``), for the step.
    pairs: object
    #: Jacobian rows ``E`` of the affine output part of the weighted rows.
    affine_rows: np.ndarray
    #: Diagnostics of the last solve, e.g. ``{"cg_iterations": 12}``.
    last_info: dict

    def solve(self, lam, R):
        """Return ``C`` with ``(D^(1/2) G D^(1/2) + lam I) C = R``; ``R`` unchanged."""

    def gram_matvec(self, Q):
        """Return ``G Q`` (affine part included) for the predicted decrease."""

    def handover(self):
        """Return what the next system over the same rows may keep, or None."""


class IterationHooks(Protocol):
    """Listeners of the outer iterations (the estimators' scikit-learn callbacks).

    Passed as ``hooks`` to the solver, which calls ``begin`` before and ``end``
    after every outer iteration; they may read the network, never change it.
    """

    def begin(self, iteration):
        """Hear that outer iteration ``iteration`` (from 1) starts."""

    def end(self, iteration, network):
        """Hear that it ended, with the network after the accepted step, or None
        if no step was accepted; return True to stop the fit."""


def contract_members(protocol):
    """``(methods, attributes)`` a protocol declares, in declaration order."""
    attributes = tuple(inspect.get_annotations(protocol))
    methods = tuple(
        name
        for name, value in vars(protocol).items()
        if callable(value) and not name.startswith("_")
    )
    return methods, attributes


def check_contract(obj, protocol, kind):
    """Raise an AttributeError naming every member of ``protocol`` ``obj`` lacks.

    Parameters
    ----------
    obj : object
        The collaborator to check.
    protocol : type
        One of the protocols of this module.
    kind : str
        What ``obj`` is for the solver (``"network"``, ``"loss"``, ...), for
        the message.
    """
    methods, attributes = contract_members(protocol)
    missing = [name for name in methods if not callable(getattr(obj, name, None))]
    absent = [name for name in attributes if not hasattr(obj, name)]
    lacks = []
    if missing:
        lacks.append(f"the method(s) {', '.join(missing)}")
    if absent:
        lacks.append(f"the attribute(s) {', '.join(absent)}")
    if lacks:
        raise AttributeError(
            f"{type(obj).__name__} cannot be used as a {kind} by this solver: it "
            f"lacks {' and '.join(lacks)} (see sklearn_sublinear._contracts."
            f"{protocol.__name__})."
        )
