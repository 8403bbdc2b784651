"""Solver contract: check what the model provides, then solve."""

from abc import ABC, abstractmethod


def check_attrs(obj, attrs, kind):
    """Raise an AttributeError naming every method in ``attrs`` that ``obj`` lacks."""
    missing = [name for name in attrs if not callable(getattr(obj, name, None))]
    if missing:
        raise AttributeError(
            f"{type(obj).__name__} cannot be used as a {kind} by this solver: it "
            f"lacks the method(s) {', '.join(missing)}."
        )


class BaseSolver(ABC):
    """Base class of the training solvers.

    Subclasses declare the methods they call on the network, the loss and the
    active-set index in ``_network_methods``, ``_loss_methods`` and
    ``_index_methods``; :meth:`solve` checks them before running :meth:`_solve`.
    """

    _network_methods = ()
    _loss_methods = ()
    _index_methods = ()

    def solve(self, network, loss, index, X, Y, sample_weight, **kwargs):
        """Train ``network`` in place on ``(X, Y)``.

        Parameters
        ----------
        network : TwoLayerNetwork
            Network with its starting parameters; updated in place.
        loss : loss object
            Provides ``value``, ``raw_grad`` and ``raw_hessian``.
        index : BaseIndex
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
        network : TwoLayerNetwork
            The trained network.
        history : dict of lists
            Per-iteration records (at least ``"loss"``).
        stop_reason : str
            Why the iterations stopped.
        """
        check_attrs(network, self._network_methods, "network")
        check_attrs(loss, self._loss_methods, "loss")
        check_attrs(index, self._index_methods, "index")
        return self._solve(network, loss, index, X, Y, sample_weight, **kwargs)

    @abstractmethod
    def _solve(self, network, loss, index, X, Y, sample_weight, **kwargs):
        """Run the iterations; return ``(network, history, stop_reason)``."""
