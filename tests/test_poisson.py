"""loss="poisson" of the regressor: log link, non-negative targets."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.linear_model import PoissonRegressor
from sklearn.metrics import mean_poisson_deviance, r2_score

from sklearn_sublinear import SublinearNewtonRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# A fixed alpha: alpha="auto" shrinks the log-mean of a noise column (0.11 off).
SMALL = dict(n_neurons=256, max_iter=8, alpha=1e-3, random_state=0, loss="poisson")


def _counts(n_samples=600, nonlinear=True, random_state=0):
    """Poisson counts whose log-mean is a smooth function of 4 features."""
    rng = np.random.RandomState(random_state)
    X = rng.uniform(-1, 1, size=(n_samples, 4))
    log_mean = 0.5 + 0.6 * X[:, 0] - 0.4 * X[:, 1]
    if nonlinear:
        log_mean += np.sin(2.5 * X[:, 2]) + 0.8 * X[:, 3] ** 2 - 0.5
    return X, rng.poisson(np.exp(log_mean)).astype(float), np.exp(log_mean)


def test_predictions_are_positive_means_and_beat_a_poisson_glm():
    X, y, mean = _counts(900)
    train, test = slice(0, 600), slice(600, None)
    reg = SublinearNewtonRegressor(**SMALL).fit(X[train], y[train])
    pred = reg.predict(X[test])
    assert reg.out_activation_ == "exp"
    assert pred.shape == (300,) and np.all(pred > 0)
    glm = PoissonRegressor(alpha=0).fit(X[train], y[train])
    ours = mean_poisson_deviance(y[test], pred)
    assert ours < mean_poisson_deviance(y[test], glm.predict(X[test]))
    # ... and gets close to the deviance of the true means.
    assert ours < 1.15 * mean_poisson_deviance(y[test], mean[test])
    # score() stays R2 as in scikit-learn.
    assert reg.score(X[test], y[test]) == pytest.approx(r2_score(y[test], pred))


def test_log_linear_counts_match_the_glm():
    X, y, _ = _counts(900, nonlinear=False)
    train, test = slice(0, 600), slice(600, None)
    pred = SublinearNewtonRegressor(**SMALL).fit(X[train], y[train]).predict(X[test])
    glm = PoissonRegressor(alpha=0).fit(X[train], y[train]).predict(X[test])
    ours = mean_poisson_deviance(y[test], pred)
    # A flexible model pays a little for the noise it fits (5% here).
    assert ours < 1.1 * mean_poisson_deviance(y[test], glm)


def test_scaling_the_targets_scales_the_predictions():
    # Under the log link a scale factor only moves the intercept; targets are
    # not standardized, so the whole fit is equivariant.
    X, y, _ = _counts(200)
    reg = SublinearNewtonRegressor(**SMALL).fit(X, y)
    scaled = SublinearNewtonRegressor(**SMALL).fit(X, 7.5 * y)
    assert_allclose(scaled.predict(X), 7.5 * reg.predict(X), rtol=1e-6)
    assert scaled.n_iter_ == reg.n_iter_


def test_starts_from_the_weighted_mean_and_fits_constant_targets():
    X, _, _ = _counts(100)
    y = np.full(100, 3.0)
    reg = SublinearNewtonRegressor(**SMALL).fit(X, y)
    assert_allclose(reg.predict(X), 3.0)
    # A zero count among positive ones is fine.
    y[0] = 0.0
    assert np.all(SublinearNewtonRegressor(**SMALL).fit(X, y).predict(X) > 0)


def test_multi_output_counts():
    X, y, _ = _counts(300)
    Y = np.column_stack([y, np.random.RandomState(1).poisson(2.0, size=300)])
    reg = SublinearNewtonRegressor(**SMALL).fit(X, Y)
    pred = reg.predict(X)
    assert pred.shape == (300, 2) and np.all(pred > 0)
    # The column of pure noise is predicted near its mean.
    assert abs(np.mean(pred[:, 1]) - np.mean(Y[:, 1])) < 0.1


def test_early_stopping_scores_d2():
    X, y, _ = _counts(400)
    reg = SublinearNewtonRegressor(early_stopping=True, **SMALL).fit(X, y)
    scores = np.asarray(reg.validation_scores_)
    assert np.all(scores <= 1.0) and reg.best_validation_score_ > 0.1


@pytest.mark.parametrize(
    "y, match",
    [
        (np.array([1.0, -0.5, 2.0, 0.0] * 10), "non-negative"),
        (np.zeros(40), "positive weighted sum"),
    ],
)
def test_invalid_targets(y, match):
    X = np.random.RandomState(0).standard_normal((40, 3))
    with pytest.raises(ValueError, match=match):
        SublinearNewtonRegressor(**SMALL).fit(X, y)


def test_zero_weights_on_the_positive_counts_are_refused():
    X = np.random.RandomState(0).standard_normal((40, 3))
    y = np.r_[np.ones(20), np.zeros(20)]
    w = np.r_[np.zeros(20), np.ones(20)]
    with pytest.raises(ValueError, match="positive weighted sum"):
        SublinearNewtonRegressor(**SMALL).fit(X, y, sample_weight=w)


def test_warm_start_needs_the_same_loss():
    X, y, _ = _counts(100)
    reg = SublinearNewtonRegressor(warm_start=True, **SMALL).fit(X, y)
    reg.set_params(loss="squared_error")
    with pytest.raises(ValueError, match="loss of the previous fit"):
        reg.fit(X, y)
    # A warm start with the same loss continues from the fitted weights.
    reg.set_params(loss="poisson", max_iter=2).fit(X, y)
    assert reg.out_activation_ == "exp"


def test_secant_curvature_only_where_no_damping_selection(monkeypatch):
    # alpha="auto" selects the damping by GCV, which needs the Newton curvature
    # e^f; a float alpha, or rows beyond the selection's sizes, step with the
    # secant curvature.
    from sklearn_sublinear._network._losses import PoissonLoss
    from sklearn_sublinear._solvers import _selection

    seen = []
    newton_or_secant = PoissonLoss.raw_hessian

    def spy(self, y, raw, secant=False):
        seen.append(secant)
        return newton_or_secant(self, y, raw, secant)

    monkeypatch.setattr(PoissonLoss, "raw_hessian", spy)
    X, y, _ = _counts(200)
    params = {**SMALL, "max_iter": 3}
    for alpha, expected in [("auto", False), (1e-3, True)]:
        seen.clear()
        SublinearNewtonRegressor(**{**params, "alpha": alpha}).fit(X, y)
        assert seen and set(seen) == {expected}
    monkeypatch.setattr(_selection, "EIGH_MAX_SAMPLES", 50)
    monkeypatch.setattr(_selection, "KRYLOV_MAX_SAMPLES", 100)
    seen.clear()
    SublinearNewtonRegressor(**{**params, "alpha": "auto"}).fit(X, y)
    assert seen and set(seen) == {True}


def test_secant_steps_fit_faster_than_newton_steps(monkeypatch):
    # Same fit, same iterations: the secant curvature reaches a lower training
    # deviance than the Newton curvature e^f.
    from sklearn_sublinear._network._losses import PoissonLoss

    X, y, _ = _counts(400)
    params = {**SMALL, "max_iter": 4, "tol": 0.0}
    secant = SublinearNewtonRegressor(**params).fit(X, y)
    newton_or_secant = PoissonLoss.raw_hessian
    monkeypatch.setattr(
        PoissonLoss,
        "raw_hessian",
        lambda self, y, raw, secant=False: newton_or_secant(self, y, raw),
    )
    newton = SublinearNewtonRegressor(**params).fit(X, y)
    assert secant.n_iter_ == newton.n_iter_ == 4
    assert secant.loss_curve_[-1] < newton.loss_curve_[-1]
