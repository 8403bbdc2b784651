"""Gauss-Newton steps against direct least-squares solves, and solver behaviour."""

import numpy as np
import pytest
from _helpers import replay_stopping_rule
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning

from sklearn_sublinear._network import LOSSES, TwoLayerNetwork
from sklearn_sublinear._solvers import (
    CGSystem,
    CholeskySystem,
    GaussNewton,
    _gauss_newton,
    _systems,
    damped_step,
)
from sklearn_sublinear._tree_index import DenseIndex


def explicit_jacobian(X, network, o):
    """Dense Jacobian of output ``o`` w.r.t. (vec(W), theta_o): the affine
    part's columns are the intercept's ones and, with a linear term, the
    standardized features, written out here from the unit rows."""
    n, d = X.shape
    m = network.n_neurons
    fires = (X @ network.W.T) > network.threshold
    J = (fires[:, :, None] * network.signs[None, :, o, None] * X[:, None, :]) / np.sqrt(
        m
    )
    affine = [np.ones((n, 1))]
    if network.linear_coef is not None:
        affine.append(X[:, :-1] / X[:, -1:])
    return np.hstack([J.reshape(n, m * d), *affine])


def direct_step(X, Y, network, s, g, h, damping):
    """Solve min_delta sum_io s_i (g_io J_io delta + h_i/2 (J_io delta)^2)
    + damping/2 ||delta||^2 over shared (W, theta), outputs uncoupled as in
    the solver: the step is the sum over outputs of each output's own solve."""
    dW = np.zeros_like(network.W)
    q = network.affine_coef.shape[0]
    dtheta = np.zeros((q, network.n_outputs))
    for o in range(network.n_outputs):
        J = explicit_jacobian(X, network, o)
        # Stacked: [sqrt(s h) J; sqrt(damping) I] delta = [-sqrt(s/h) g; 0]
        A = np.vstack(
            [np.sqrt(s * h)[:, None] * J, np.sqrt(damping) * np.eye(J.shape[1])]
        )
        b = np.concatenate([-np.sqrt(s / h) * g[:, o], np.zeros(J.shape[1])])
        delta = np.linalg.lstsq(A, b, rcond=None)[0]
        dW += delta[:-q].reshape(network.W.shape)
        dtheta[:, o] = delta[-q:]
    return dW, dtheta


def solve_squared_error(net, X, Y, weights, linear=False, **params):
    """Squared-error Gauss-Newton fit of a copy of ``net`` on a dense index.

    With ``linear``, the copy has a linear term starting at zero. ``params``
    override ``GaussNewton(alpha=1e-3, max_iter=4, tol=0.0,
    n_iter_no_change=10)``.
    """
    network = TwoLayerNetwork(
        net.W.copy(),
        net.signs,
        net.threshold,
        np.zeros(net.n_outputs),
        linear_coef=np.zeros((X.shape[1] - 1, net.n_outputs)) if linear else None,
    )
    params = {
        "alpha": 1e-3,
        "max_iter": 4,
        "tol": 0.0,
        "n_iter_no_change": 10,
        **params,
    }
    return GaussNewton(**params).solve(
        network,
        LOSSES["squared_error"](),
        DenseIndex(X, net.threshold),
        X,
        Y,
        weights,
    )


def fit_to_max_iter(net, X, Y, weights, linear=False, **params):
    """:func:`solve_squared_error` run to ``max_iter`` (it warns)."""
    with pytest.warns(ConvergenceWarning):
        return solve_squared_error(net, X, Y, weights, linear, **params)


@pytest.mark.parametrize("linear", [False, True])
@pytest.mark.parametrize("system_cls", [CholeskySystem, CGSystem])
@pytest.mark.parametrize("loss_name", ["squared_error", "log_loss"])
def test_step_matches_direct_least_squares(
    system_cls, loss_name, linear, small_network, reference, monkeypatch
):
    # The step formula is under test, not the CG stopping rule: solve tightly.
    monkeypatch.setattr(_systems, "CG_RTOL", 1e-10)
    X, net = small_network
    n = X.shape[0]
    rng = np.random.RandomState(0)
    if loss_name == "squared_error":
        Y = rng.standard_normal((n, net.n_outputs))
    else:
        Y = np.eye(net.n_outputs)[rng.randint(0, net.n_outputs, size=n)]
    s = rng.uniform(0.5, 2.0, size=n)
    s /= s.sum()
    if linear:
        net.linear_coef = rng.standard_normal((X.shape[1] - 1, net.n_outputs))
    loss = LOSSES[loss_name]()
    active = reference["active"](X, net)
    E = net.affine_rows(X)
    assert E.shape == (n, X.shape[1] if linear else 1)
    raw = net.forward_active(active, offset=E @ net.affine_coef)
    assert_allclose(raw, net.forward(X), rtol=1e-12, atol=1e-12)
    g, h = loss.raw_grad(Y, raw), loss.raw_hessian(Y, raw)
    damping = 1e-3
    system = system_cls(net, active, X, np.sqrt(s * h), random_state=0, affine_rows=E)
    rows, changed, dtheta, predicted = damped_step(net, system, s, g, h, damping, X)
    dW = np.zeros_like(net.W)
    dW[changed] = rows
    dW_ref, dtheta_ref = direct_step(X, Y, net, s, g, h, damping)
    assert_allclose(dW, dW_ref, rtol=1e-5, atol=1e-8 * np.abs(dW_ref).max())
    assert_allclose(dtheta, dtheta_ref, rtol=1e-5, atol=1e-10)
    assert predicted > 0


@pytest.mark.parametrize("linear", [False, True])
def test_cholesky_and_cg_fits_agree(linear, network_factory, monkeypatch):
    # CG solved tightly (the default is an inexact Gauss-Newton tolerance)
    monkeypatch.setattr(_systems, "CG_RTOL", 1e-10)
    X, net = network_factory(n_samples=30, n_neurons=64, n_outputs=1, seed=3)
    Y = np.sin(3 * X[:, :1])
    fits = []
    for solver in ["cholesky", "cg"]:
        with pytest.warns(ConvergenceWarning, match="max_iter=5.*tol=0.0"):
            out, history, reason = solve_squared_error(
                net,
                X,
                Y,
                np.ones(30),
                linear,
                max_iter=5,
                linear_solver=solver,
                random_state=0,
            )
        assert reason == "max_iter"
        fits.append((out.W, history["loss"], out.affine_coef))
    assert_allclose(fits[0][1], fits[1][1], rtol=1e-5)
    assert_allclose(fits[0][0], fits[1][0], rtol=1e-4, atol=1e-6)
    assert_allclose(fits[0][2], fits[1][2], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("loss_name", ["squared_error", "binary_log_loss", "log_loss"])
def test_training_loss_decreases_monotonically(loss_name, network_factory):
    k = 1 if loss_name == "binary_log_loss" else 3
    X, net = network_factory(n_samples=40, n_neurons=128, n_outputs=k, seed=5)
    rng = np.random.RandomState(0)
    if loss_name == "squared_error":
        Y = np.column_stack([np.cos(2 * X[:, 0]), X[:, 1] ** 2, X[:, 2]])
    elif loss_name == "binary_log_loss":
        Y = (X[:, :1] > 0).astype(float)
    else:
        Y = np.eye(3)[np.argmax(X[:, :3], axis=1)]
    net.intercept = np.zeros(k)
    loss = LOSSES[loss_name]()
    initial = loss.value(Y, net.forward(X))
    gn = GaussNewton(alpha=1e-4, max_iter=8, tol=0.0, n_iter_no_change=100)
    with pytest.warns(ConvergenceWarning):
        _, history, _ = gn.solve(
            net, loss, DenseIndex(X, net.threshold), X, Y, rng.uniform(0, 2, 40)
        )
    curve = np.array([initial] + history["loss"])
    assert np.all(np.diff(curve) < 0)
    assert curve[-1] < 0.5 * curve[0]
    assert set(history) == set(_gauss_newton.HISTORY_KEYS)
    assert all(len(history[key]) == len(history["loss"]) for key in history)


@pytest.mark.parametrize("linear", [False, True])
def test_sample_weights_equal_repetition(linear, network_factory):
    X, net = network_factory(n_samples=15, n_neurons=64, n_outputs=2, seed=7)
    rng = np.random.RandomState(1)
    Y = rng.standard_normal((15, 2))
    w = rng.randint(0, 4, size=15)
    w[0] = 0
    rep = np.repeat(np.arange(15), w)
    results = []
    for Xi, Yi, wi in [(X, Y, w.astype(float)), (X[rep], Y[rep], np.ones(rep.size))]:
        out, history, _ = fit_to_max_iter(net, Xi, Yi, wi, linear)
        results.append((out.W, out.affine_coef, history["loss"]))
    assert_allclose(results[0][0], results[1][0], rtol=1e-7, atol=1e-9)
    assert_allclose(results[0][1], results[1][1], rtol=1e-7, atol=1e-9)
    assert_allclose(results[0][2], results[1][2], rtol=1e-7)


@pytest.mark.parametrize(
    "weight, factor, other",
    [
        # total 1200: alpha * sqrt(300 / 1200), not alpha (no shrinking)
        (30.0, 0.5, 1.0),
        # total 400,000, four times the slower weight: alpha * sqrt(300 /
        # 100,000) * (1 / 4)^(1/4), not alpha * sqrt(300 / 400,000)
        (10_000.0, np.sqrt(300 / 100_000) * 0.25**0.25, np.sqrt(300 / 400_000)),
    ],
)
def test_damping_floor_shrinks_with_total_weight(
    weight, factor, other, network_factory, monkeypatch
):
    # 40 rows of one weight: the fit equals one with alpha times the floor's
    # factor and no shrinking at all, and differs from the other factor's
    monkeypatch.setattr(_gauss_newton, "DAMPING_SLOWER_WEIGHT", 100_000.0)
    X, net = network_factory(n_samples=40, n_neurons=64, n_outputs=1, seed=3)
    Y = np.sin(3 * X[:, :1])
    weights = np.full(40, weight)

    def fit(alpha):
        _, history, _ = fit_to_max_iter(net, X, Y, weights, alpha=alpha, max_iter=3)
        return history["damping"], history["loss"]

    shrunk = fit(0.1)
    monkeypatch.setattr(_gauss_newton, "DAMPING_REFERENCE_WEIGHT", np.inf)
    monkeypatch.setattr(_gauss_newton, "DAMPING_SLOWER_WEIGHT", np.inf)
    assert_allclose(fit(0.1 * factor), shrunk, rtol=1e-12)
    assert not np.allclose(fit(0.1 * other)[1], shrunk[1], rtol=1e-6)


@pytest.mark.parametrize("alpha", [0.1, "auto"])
def test_relative_floor_is_continuous_at_the_slower_weight(alpha):
    w = _gauss_newton.DAMPING_SLOWER_WEIGHT
    floor = _gauss_newton.relative_floor
    base = 1e-3 if alpha == "auto" else alpha
    assert floor(alpha, w) == base * np.sqrt(_gauss_newton.DAMPING_REFERENCE_WEIGHT / w)
    assert_allclose(floor(alpha, w * (1 + 1e-9)), floor(alpha, w), rtol=1e-8)
    assert_allclose(floor(alpha, 16 * w), floor(alpha, w) / 2, rtol=1e-12)


def test_tol_stops_before_max_iter(network_factory):
    X, net = network_factory(n_samples=20, n_neurons=64, n_outputs=1, seed=2)
    Y = X[:, :1]
    _, history, reason = solve_squared_error(
        net, X, Y, np.ones(20), max_iter=100, tol=0.5, n_iter_no_change=1
    )
    assert reason in ("tol", "no_decrease")
    assert len(history["loss"]) < 100


def test_solve_checks_required_methods(small_network):
    X, net = small_network

    class NoHessian:
        def value(self, y, raw, sample_weight=None):
            return 0.0

        def raw_grad(self, y, raw):
            return raw

    gn = GaussNewton(alpha=1.0, max_iter=1, tol=0.0, n_iter_no_change=1)
    with pytest.raises(AttributeError, match="raw_hessian"):
        gn.solve(net, NoHessian(), DenseIndex(X, 0.0), X, X, np.ones(len(X)))
    with pytest.raises(AttributeError, match="query, update"):
        gn.solve(net, LOSSES["squared_error"](), object(), X, X, np.ones(len(X)))


def test_non_finite_loss_raises(small_network):
    X, net = small_network
    Y = np.full((X.shape[0], net.n_outputs), np.inf)
    gn = GaussNewton(alpha=1.0, max_iter=1, tol=0.0, n_iter_no_change=1)
    with pytest.raises(ValueError, match="Non-finite"):
        gn.solve(
            net,
            LOSSES["squared_error"](),
            DenseIndex(X, net.threshold),
            X,
            Y,
            np.ones(X.shape[0]),
        )


def test_verbose_prints_iterations(small_network, capsys):
    X, net = small_network
    Y = X[:, :2]
    gn = GaussNewton(alpha=1e-2, max_iter=2, tol=0.0, n_iter_no_change=5, verbose=2)
    with pytest.warns(ConvergenceWarning):
        gn.solve(
            net,
            LOSSES["squared_error"](),
            DenseIndex(X, net.threshold),
            X,
            Y,
            np.ones(X.shape[0]),
        )
    out = capsys.readouterr().out
    assert "Iteration 2: loss=" in out and "active/sample=" in out
    assert "trial 1: damping=" in out


def test_interpolating_fit_stops_on_tiny_loss(network_factory):
    # Without noise the loss falls at a constant rate towards zero; a criterion
    # relative to the current loss would run until max_iter.
    X, net = network_factory(n_samples=10, n_neurons=256, n_outputs=1, seed=4)
    Y = X[:, :1]
    _, history, reason = solve_squared_error(
        net, X, Y, np.ones(10), alpha=1e-6, max_iter=60, tol=0.1, n_iter_no_change=2
    )
    assert reason in ("tol", "no_decrease")
    assert len(history["loss"]) < 15


# -- stopping rule ------------------------------------------------------------
def test_fit_stops_by_the_documented_rule(network_factory):
    # Replaying the rule on the loss curve gives the iteration the fit stopped.
    X, net = network_factory(n_samples=40, n_neurons=128, n_outputs=1, seed=6)
    Y = np.sin(3 * X[:, :1]) + 0.3 * np.cos(5 * X[:, 1:2])
    w = np.random.RandomState(0).uniform(0.5, 2.0, 40)
    initial = LOSSES["squared_error"]().value(
        Y, net.forward(X) - net.intercept, w / w.sum()
    )
    for tol, patience in [(0.25, 2), (0.1, 1), (0.05, 2)]:
        _, history, reason = solve_squared_error(
            net, X, Y, w, max_iter=50, tol=tol, n_iter_no_change=patience
        )
        assert reason == "tol"
        curve = [initial] + history["loss"]
        assert replay_stopping_rule(curve, tol, patience) == len(history["loss"])


def test_validation_errors_drive_the_rule_and_the_best_weights_are_kept(
    network_factory,
):
    # A scripted validation score: the rule sees 1 - score from the start and
    # the fit keeps the weights of the best score.
    X, net = network_factory(n_samples=30, n_neurons=64, n_outputs=1, seed=8)
    Y = np.sin(3 * X[:, :1])
    weights = np.r_[np.ones(20), np.zeros(10)]
    scores = iter([0.0, 0.9, 0.95, 0.951, 0.9505, 0.99])
    snapshots = []

    def scorer(raw):
        snapshots.append(raw.copy())
        return next(scores)

    network = TwoLayerNetwork(net.W.copy(), net.signs, net.threshold, np.zeros(1))
    gn = GaussNewton(alpha=1e-3, max_iter=10, tol=0.25, n_iter_no_change=2)
    out, history, reason = gn.solve(
        network,
        LOSSES["squared_error"](),
        DenseIndex(X, net.threshold),
        X,
        Y,
        weights,
        validation=(np.arange(20, 30), scorer),
    )
    # Errors 1, 0.1, 0.05, 0.049, 0.0495: 0.001 < 0.25 * (0.1 - 0.049), then
    # no gain at all.
    assert reason == "tol"
    assert history["validation_score"] == [0.9, 0.95, 0.951, 0.9505]
    assert_allclose(out.forward(X[20:]), snapshots[3], rtol=1e-10, atol=1e-12)
