"""The protocols of ``_contracts`` state exactly what the solver uses."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from sklearn_sublinear._contracts import (
    ActiveSetIndex,
    Loss,
    Network,
    SampleSpaceSystem,
    check_contract,
    contract_members,
)
from sklearn_sublinear._network import LOSSES
from sklearn_sublinear._solvers import SYSTEMS, GaussNewton, _base, _gauss_newton
from sklearn_sublinear._tree_index import DenseIndex, TreeIndex


class _Recorder:
    """Delegates every attribute of ``obj`` and records its name in ``seen``."""

    def __init__(self, obj, seen):
        object.__setattr__(self, "_obj", obj)
        object.__setattr__(self, "_seen", seen)

    def __getattr__(self, name):
        self._seen.add(name)
        return getattr(self._obj, name)

    def __setattr__(self, name, value):
        self._seen.add(name)
        setattr(self._obj, name, value)


def _members(protocol):
    methods, attributes = contract_members(protocol)
    return set(methods) | set(attributes)


def test_members_are_declared_in_order():
    methods, attributes = contract_members(Network)
    assert methods[:2] == ("row_scale", "jacobian_rows")
    assert "gram_diagonal" in methods
    assert attributes == ("W", "affine_coef", "n_neurons", "n_jobs")
    assert contract_members(ActiveSetIndex) == (("build", "query", "update"), ())


def test_implementations_follow_their_contracts(small_network, reference):
    X, net = small_network
    check_contract(net, Network, "network")
    for loss in LOSSES.values():
        check_contract(loss(), Loss, "loss")
    for index in (TreeIndex(X, net.threshold), DenseIndex(X, net.threshold)):
        check_contract(index, ActiveSetIndex, "index")
    active = reference["active"](X, net)
    for cls in SYSTEMS.values():
        system = cls(net, active, X, np.ones(X.shape[0]), random_state=0)
        check_contract(system, SampleSpaceSystem, "sample-space system")


def test_missing_attributes_are_named():
    class NoWeights:
        pass

    with pytest.raises(AttributeError, match=r"attribute\(s\) W, affine_coef"):
        check_contract(NoWeights(), Network, "network")


def test_the_solver_uses_exactly_the_declared_members(network_factory, monkeypatch):
    # Run both linear solvers on recording proxies, without the contract
    # checks (which read every member): what the solver and the systems read
    # or write is what the protocols declare, no more and no less.
    monkeypatch.setattr(_base, "check_contract", lambda *args: None)
    monkeypatch.setattr(_gauss_newton, "check_contract", lambda *args: None)
    seen = {name: set() for name in ("network", "loss", "index", "system")}
    for name, cls in list(SYSTEMS.items()):

        def recorded(*args, _cls=cls, **kwargs):
            return _Recorder(_cls(*args, **kwargs), seen["system"])

        monkeypatch.setitem(SYSTEMS, name, recorded)
    X, net = network_factory(n_samples=30, n_neurons=64, n_outputs=2, seed=3)
    net.linear_coef = np.zeros((X.shape[1] - 1, 2))
    Y = np.sin(3 * X[:, :2])
    for solver in ("cholesky", "cg"):
        gn = GaussNewton(
            alpha=1e-3, max_iter=3, tol=0.0, n_iter_no_change=5, linear_solver=solver
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gn.solve(
                _Recorder(net, seen["network"]),
                _Recorder(LOSSES["squared_error"](), seen["loss"]),
                _Recorder(DenseIndex(X, net.threshold), seen["index"]),
                X,
                Y,
                np.ones(X.shape[0]),
            )
    assert seen["network"] == _members(Network)
    assert seen["loss"] == _members(Loss)
    assert seen["index"] == _members(ActiveSetIndex)
    assert seen["system"] == _members(SampleSpaceSystem)


def test_protocols_document_every_member():
    for protocol in (ActiveSetIndex, Network, Loss, SampleSpaceSystem):
        assert protocol.__doc__
        methods, _ = contract_members(protocol)
        for name in methods:
            assert getattr(protocol, name).__doc__, f"{protocol.__name__}.{name}"
