"""Losses: gradients against finite differences, curvature bounds, the
Poisson secant curvature."""

import numpy as np
import pytest
from scipy.special import softmax
from sklearn.metrics import mean_poisson_deviance

from sklearn_sublinear._network import LOSSES
from sklearn_sublinear._network._losses import POISSON_SECANT_FLOOR


def targets(name, rng, n, k):
    if name == "squared_error":
        return rng.standard_normal((n, k))
    if name == "binary_log_loss":
        return rng.randint(0, 2, size=(n, k)).astype(float)
    if name == "poisson":
        return rng.poisson(2.0, size=(n, k)).astype(float)
    return np.eye(k)[rng.randint(0, k, size=n)]


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_raw_grad_matches_finite_differences(name):
    rng = np.random.RandomState(0)
    k = 3
    y = targets(name, rng, 7, k)
    raw = 2 * rng.standard_normal((7, k))
    loss = LOSSES[name]()
    grad = loss.raw_grad(y, raw)
    eps = 1e-6
    for i, o in [(0, 0), (3, k - 1), (6, 0)]:
        E = np.zeros_like(raw)
        E[i, o] = eps
        # value() is a mean over samples: scale back to one sample.
        fd = 7 * (loss.value(y, raw + E) - loss.value(y, raw - E)) / (2 * eps)
        assert grad[i, o] == pytest.approx(fd, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_raw_hessian_bounds_the_true_hessian(name):
    rng = np.random.RandomState(1)
    k = 4
    raw = 3 * rng.standard_normal((50, k))
    y = targets(name, rng, 50, k)
    h = LOSSES[name]().raw_hessian(y, raw)
    assert h.shape == (50,) and np.all(h > 0)
    for i in range(50):
        if name == "squared_error":
            top = 1.0
        elif name == "binary_log_loss":
            p = 1 / (1 + np.exp(-raw[i]))
            top = np.max(p * (1 - p))
        elif name == "poisson":
            top = np.max(np.exp(raw[i]))
        else:
            p = softmax(raw[i])
            top = np.linalg.eigvalsh(np.diag(p) - np.outer(p, p))[-1]
        assert top <= h[i] + 1e-12


def test_poisson_secant_step_lands_on_each_target():
    # One output: the row's own step -g / h is log(y / mu) for a target above
    # the floor; a zero count steps as towards the floor, by log(r) / (1 - r).
    rng = np.random.RandomState(4)
    raw = rng.uniform(-3, 3, size=(60, 1))
    y = rng.poisson(3.0, size=(60, 1)).astype(float)
    y[:5, 0] = np.exp(raw[:5, 0]) * (1 + 1e-8)  # targets next to the mean
    loss = LOSSES["poisson"]()
    step = -loss.raw_grad(y, raw)[:, 0] / loss.raw_hessian(y, raw, secant=True)
    with np.errstate(divide="ignore"):
        target = np.maximum(np.log(y[:, 0]) - raw[:, 0], np.log(POISSON_SECANT_FLOOR))
    above = np.log(y[:, 0]) - raw[:, 0] > np.log(POISSON_SECANT_FLOOR)
    assert np.any(above) and np.any(y == 0)
    assert step[above] == pytest.approx(target[above], rel=1e-6, abs=1e-12)
    zero = y[:, 0] == 0
    expected = np.log(POISSON_SECANT_FLOOR) / (1 - POISSON_SECANT_FLOOR)
    assert step[zero] == pytest.approx(np.full(zero.sum(), expected), rel=1e-12)
    # The curvature scales with the targets, like e^f.
    h = loss.raw_hessian(y, raw, secant=True)
    assert loss.raw_hessian(7.5 * y, raw + np.log(7.5), secant=True) == pytest.approx(
        7.5 * h
    )
    # Several outputs: the largest curvature over the outputs.
    Y2, raw2 = np.hstack([y, y[::-1]]), np.hstack([raw, raw[::-1]])
    each = [loss.raw_hessian(Y2[:, [o]], raw2[:, [o]], True) for o in range(2)]
    assert loss.raw_hessian(Y2, raw2, secant=True) == pytest.approx(np.maximum(*each))
    # The other losses ignore secant.
    for name in sorted(set(LOSSES) - {"poisson"}):
        other = LOSSES[name]()
        yo = targets(name, rng, 60, 2)
        assert np.array_equal(
            other.raw_hessian(yo, raw2, secant=True), other.raw_hessian(yo, raw2)
        )


def test_weighted_value_equals_repetition():
    rng = np.random.RandomState(2)
    loss = LOSSES["log_loss"]()
    y = targets("log_loss", rng, 6, 3)
    raw = rng.standard_normal((6, 3))
    w = np.array([0, 1, 2, 3, 1, 0])
    rep = np.repeat(np.arange(6), w)
    assert loss.value(y, raw, w.astype(float)) == pytest.approx(
        loss.value(y[rep], raw[rep])
    )


def test_values_are_finite_for_huge_logits():
    raw = np.array([[1e4], [-1e4]])
    y = np.array([[0.0], [1.0]])
    assert np.isfinite(LOSSES["binary_log_loss"]().value(y, raw))
    raw3 = np.array([[1e4, -1e4, 0.0]])
    assert np.isfinite(LOSSES["log_loss"]().value(np.eye(3)[[1]], raw3))


def test_poisson_value_is_half_the_mean_deviance():
    rng = np.random.RandomState(3)
    y = rng.poisson(3.0, size=(40, 1)).astype(float)
    raw = rng.standard_normal((40, 1))
    w = rng.uniform(0, 2, size=40)
    loss = LOSSES["poisson"]()
    expected = 0.5 * mean_poisson_deviance(y[:, 0], np.exp(raw[:, 0]), sample_weight=w)
    assert loss.value(y, raw, w) == pytest.approx(expected, rel=1e-12)
    # Zero at the targets, zeros included (e^f -> 0).
    exact = np.log(np.maximum(y, 1e-300))
    assert loss.value(y, exact) == pytest.approx(0.0, abs=1e-12)


def test_poisson_curvature_stays_positive_and_value_overflows_to_inf():
    loss = LOSSES["poisson"]()
    y = np.array([[2.0], [0.0]])
    for secant in (False, True):
        assert np.all(loss.raw_hessian(y, np.array([[-1e4], [-1e4]]), secant) > 0)
    with np.errstate(over="raise"):
        assert loss.value(y, np.array([[1e4], [0.0]])) == np.inf
