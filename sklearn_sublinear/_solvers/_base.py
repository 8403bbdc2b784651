"""Solver contract: check what the model provides, then solve."""

from abc import ABC, abstractmethod

from .._contracts import ActiveSetIndex, Loss, Network, check_contract


class MemoryLimitReached(ValueError):
    """The firing pairs of an index query outgrew the fit's memory limit.

    Raised by the ``check_pairs`` callable a solver is given (the memory
    guard). Before training it refuses the fit; at a trial step's query the
    solver puts the weights and the index back and keeps the steps it
    accepted.
    """


class BaseSolver(ABC):
    """Base class of the training solvers.

    ``_contracts`` maps each collaborator of :meth:`solve` to the protocol of
    ``sklearn_sublinear._contracts`` it must follow; :meth:`solve` checks them
    (:func:`~sklearn_sublinear._contracts.check_contract`) before running
    :meth:`_solve`.
    """

    _contracts = {"network": Network, "loss": Loss, "index": ActiveSetIndex}

    def solve(self, network, loss, index, X, Y, sample_weight, **kwargs):
        """Train ``network`` in place on ``(X, Y)``.

        Parameters
        ----------
        network : Network
            Network with its starting parameters; updated in place.
        loss : Loss
            Provides ``value``, ``raw_grad`` and ``raw_hessian``.
        index : ActiveSetIndex
            Unbuilt active-set index over ``X``.
        X : ndarray of shape (n_samples, n_inputs)
            Preprocessed rows (the rows the index holds).
        Y : ndarray of shape (n_samples, n_outputs)
            Targets in the loss's encoding.
        sample_weight : ndarray of shape (n_samples,)
            Non-negative weights; rows of weight zero take no part in training.
        **kwargs : dict
            Solver-specific options.

        Returns
        -------
        network : Network
            The trained network.
        history : dict of lists
            Per-iteration records (at least ``"loss"``).
        stop_reason : str
            Why the iterations stopped.
        """
        given = {"network": network, "loss": loss, "index": index}
        for kind, protocol in self._contracts.items():
            check_contract(given[kind], protocol, kind)
        return self._solve(network, loss, index, X, Y, sample_weight, **kwargs)

    @abstractmethod
    def _solve(self, network, loss, index, X, Y, sample_weight, **kwargs):
        """Run the iterations; return ``(network, history, stop_reason)``."""
