"""Estimator behaviour: meta-estimators, persistence, inputs, determinism."""

import pickle

import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import (
    GridSearchCV,
    RandomizedSearchCV,
    cross_val_score,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_sublinear import (
    SublinearNewtonClassifier,
    SublinearNewtonRegressor,
    __version__,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

SMALL = dict(n_neurons=256, max_iter=8, random_state=0)


def test_version_and_all():
    import sklearn_sublinear

    assert __version__ == "0.1.0.dev0"
    assert all(isinstance(name, str) for name in sklearn_sublinear.__all__)


def test_pipeline_and_cross_val_score(classification_data):
    X, y = classification_data
    pipe = make_pipeline(StandardScaler(), SublinearNewtonClassifier(**SMALL))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and np.all(scores > 0.6)


def test_grid_and_randomized_search(regression_data):
    X, y = regression_data
    grid = GridSearchCV(
        SublinearNewtonRegressor(**SMALL), {"alpha": [1e-3, 1e-1]}, cv=2
    ).fit(X, y)
    assert grid.best_params_["alpha"] in (1e-3, 1e-1)
    rand = RandomizedSearchCV(
        SublinearNewtonRegressor(**SMALL),
        {"sparsity": [0.3, 0.5], "alpha": [1e-3, 1e-2]},
        n_iter=2,
        cv=2,
        random_state=0,
    ).fit(X, y)
    assert hasattr(rand, "best_estimator_")


def test_sample_weight_through_grid_search(classification_data):
    X, y = classification_data
    w = np.random.RandomState(0).randint(1, 3, size=len(y)).astype(float)
    grid = GridSearchCV(
        SublinearNewtonClassifier(**SMALL), {"alpha": [1e-2, 1e-1]}, cv=2
    )
    grid.fit(X, y, sample_weight=w)
    # Weighted fit of the refit estimator equals a direct weighted fit.
    direct = clone(grid.best_estimator_).fit(X, y, sample_weight=w)
    assert_allclose(grid.best_estimator_.predict_proba(X), direct.predict_proba(X))
    unweighted = clone(grid.best_estimator_).fit(X, y)
    assert not np.allclose(unweighted.predict_proba(X), direct.predict_proba(X))


@pytest.mark.parametrize("dump", ["pickle", "joblib"])
def test_persistence_round_trip(dump, classification_data, tmp_path):
    X, y = classification_data
    clf = SublinearNewtonClassifier(**SMALL).fit(X, y)
    if dump == "pickle":
        other = pickle.loads(pickle.dumps(clf))
    else:
        joblib.dump(clf, tmp_path / "model.joblib")
        other = joblib.load(tmp_path / "model.joblib")
    assert_array_equal(other.predict_proba(X), clf.predict_proba(X))
    # The training index is not kept: the pickle is about the size of W.
    assert len(pickle.dumps(clf)) < 2 * clf.coefs_[0].nbytes + 100_000


def test_models_saved_before_the_input_attributes_still_predict(regression_data):
    # input_scaling_, input_ends_ and input_gaps_ came later: a standardized
    # model saved without them predicts as it did.
    X, y = regression_data
    reg = SublinearNewtonRegressor(**SMALL).fit(X, y)
    assert reg.input_scaling_ == "standard" and reg.input_gaps_ is None
    expected = reg.predict(X)
    for name in ("input_scaling_", "input_ends_", "input_gaps_"):
        delattr(reg, name)
    assert_array_equal(pickle.loads(pickle.dumps(reg)).predict(X), expected)


def test_clone_is_unfitted_with_same_params():
    est = SublinearNewtonRegressor(n_neurons=300, alpha=0.3, verbose=0)
    cloned = clone(est)
    assert cloned.get_params() == est.get_params()
    assert not hasattr(cloned, "coefs_")


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_pandas_feature_names(regression_data):
    pd = pytest.importorskip("pandas")
    X, y = regression_data
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    reg = SublinearNewtonRegressor(**SMALL).fit(df, y)
    assert_array_equal(reg.feature_names_in_, df.columns)
    assert_allclose(reg.predict(df), reg.predict(X.copy()))
    with pytest.warns(UserWarning, match="feature names"):
        SublinearNewtonRegressor(**SMALL).fit(X, y).predict(df)


def test_float32_and_float64_inputs(regression_data):
    X, y = regression_data
    a = SublinearNewtonRegressor(**SMALL).fit(X, y)
    b = SublinearNewtonRegressor(**SMALL).fit(X.astype(np.float32), y)
    pred32 = b.predict(X.astype(np.float32))
    assert pred32.dtype == np.float32
    assert a.predict(X).dtype == np.float64
    assert_allclose(a.predict(X), pred32, rtol=1e-3, atol=1e-3 * np.std(y))


def test_multioutput_regression(multioutput_data):
    X, Y = multioutput_data
    reg = SublinearNewtonRegressor(**SMALL).fit(X, Y)
    assert reg.predict(X).shape == Y.shape
    assert reg.score(X, Y) > 0.5
    single = SublinearNewtonRegressor(**SMALL).fit(X, Y[:, 0])
    assert single.predict(X).shape == (len(X),)


def test_multiclass_string_labels(classification_data):
    X, y = classification_data
    labels = np.array(["cat", "dog", "emu"])[y]
    clf = SublinearNewtonClassifier(**SMALL).fit(X, labels)
    assert_array_equal(clf.classes_, ["cat", "dog", "emu"])
    assert set(clf.predict(X)) <= set(clf.classes_)
    assert clf.score(X, labels) > 0.7


@pytest.mark.parametrize("data", ["binary_data", "classification_data"])
def test_predict_proba(data, request):
    X, y = request.getfixturevalue(data)
    clf = SublinearNewtonClassifier(**SMALL).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), len(clf.classes_))
    assert_allclose(proba.sum(axis=1), 1.0)
    assert_allclose(np.exp(clf.predict_log_proba(X)), proba)
    assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X))
    decision = clf.decision_function(X)
    assert decision.shape == ((len(X),) if len(clf.classes_) == 2 else proba.shape)


def test_fitted_attributes(regression_data):
    X, y = regression_data
    reg = SublinearNewtonRegressor(**SMALL).fit(X, y)
    m, d = SMALL["n_neurons"], X.shape[1]
    assert reg.coefs_[0].shape == (d + 1, m) and reg.coefs_[1].shape == (m, 1)
    assert reg.intercepts_[0].shape == (m,) and reg.intercepts_[1].shape == (1,)
    assert reg.n_iter_ == len(reg.loss_curve_) == len(reg.history_["seconds"])
    for key in ("active_per_sample", "changed_neurons", "index_action", "damping"):
        assert len(reg.history_[key]) == reg.n_iter_
    assert reg.validation_scores_ is None


def test_early_stopping_keeps_best_validation_score(classification_data):
    X, y = classification_data
    clf = SublinearNewtonClassifier(
        n_neurons=256,
        max_iter=30,
        early_stopping=True,
        n_iter_no_change=2,
        random_state=0,
    ).fit(X, y)
    assert len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)


def test_convergence_warning_names_tol_and_max_iter(regression_data):
    X, y = regression_data
    with pytest.warns(ConvergenceWarning, match="max_iter=2.*tol"):
        SublinearNewtonRegressor(n_neurons=128, max_iter=2, tol=0.0, alpha=1e-3).fit(
            X, y
        )


def test_cg_and_cholesky_estimators_agree(regression_data, monkeypatch):
    import sklearn_sublinear._solvers._systems as systems

    X, y = regression_data

    def fit_both():
        return [
            SublinearNewtonRegressor(
                **{**SMALL, "max_iter": 4, "alpha": 1e-3}, solver=s
            ).fit(X, y)
            for s in ("cholesky", "cg")
        ]

    # default: CG stops at a CG_RTOL relative residual (inexact Gauss-Newton),
    # which leaves the loss after a step off by up to about CG_RTOL^2 times
    # the loss before it (at most 1/2: the target is standardized)
    fits = fit_both()
    assert fits[0].solver_ == "cholesky" and fits[1].solver_ == "cg"
    assert_allclose(
        fits[0].loss_curve_, fits[1].loss_curve_, rtol=0.05, atol=systems.CG_RTOL**2
    )
    monkeypatch.setattr(systems, "CG_RTOL", 1e-10)
    fits = fit_both()
    assert_allclose(fits[0].loss_curve_, fits[1].loss_curve_, rtol=1e-4)


@pytest.mark.parametrize(
    "Estimator, data",
    [
        (SublinearNewtonRegressor, "regression_data"),
        (SublinearNewtonClassifier, "classification_data"),
    ],
)
def test_default_stopping_treats_integer_weights_as_repeated_rows(
    Estimator, data, request
):
    # The stopping rule sees weighted means only: the same iterations run.
    X, y = request.getfixturevalue(data)
    w = np.random.RandomState(0).randint(1, 4, size=X.shape[0])
    weighted = Estimator(n_neurons=256, random_state=0).fit(X, y, sample_weight=w)
    repeated = Estimator(n_neurons=256, random_state=0).fit(
        np.repeat(X, w, axis=0), np.repeat(y, w)
    )
    assert weighted.n_iter_ == repeated.n_iter_ < weighted.max_iter
    assert_allclose(weighted.loss_curve_, repeated.loss_curve_, rtol=1e-6)
    if Estimator is SublinearNewtonRegressor:
        assert_allclose(weighted.predict(X), repeated.predict(X), rtol=1e-6, atol=1e-6)
    else:
        assert_allclose(
            weighted.predict_proba(X), repeated.predict_proba(X), rtol=1e-6, atol=1e-8
        )


@pytest.mark.parametrize("input_scaling", ["standard", "maxabs"])
@pytest.mark.parametrize("linear_term", [True, False])
@pytest.mark.parametrize("homogeneous", [True, False])
def test_predict_follows_documented_formula(
    regression_data, homogeneous, linear_term, input_scaling
):
    # with "maxabs" the solver scales the linear term's rows by
    # 0.5 / input_norm_mean_; linear_coef_ stays the model's coefficient
    X, y = regression_data
    reg = SublinearNewtonRegressor(
        **SMALL,
        homogeneous=homogeneous,
        linear_term=linear_term,
        input_scaling=input_scaling,
    ).fit(X, y)
    assert reg.homogeneous_ is homogeneous
    assert reg.input_scaling_ == input_scaling
    features = (X - reg.input_mean_) / reg.input_scale_
    U = np.column_stack([features, np.ones(len(X))])
    norms = np.linalg.norm(U, axis=1, keepdims=True)
    # f(u) = sum_r a_r max(<w_r, u> - b ||u||, 0) / c + beta (scaled signs in
    # coefs_[1]); the plain network is the same formula on unit rows u / ||u||.
    c = reg.input_norm_mean_
    if not homogeneous:
        U, c, norms = U / norms, 1.0, np.ones_like(norms)
    hidden = np.maximum(U @ reg.coefs_[0] - reg.threshold_ * norms, 0.0)
    expected = (hidden @ reg.coefs_[1]).ravel() / c + reg.intercepts_[1]
    if linear_term:
        assert reg.linear_coef_.shape == (X.shape[1], 1)
        expected += features @ reg.linear_coef_[:, 0]
    else:
        assert reg.linear_coef_ is None
    assert_allclose(reg.predict(X), expected, rtol=1e-10, atol=1e-10)


def test_linear_term_auto(regression_data, classification_data):
    # the regressor always, the classifier with alpha="auto" only
    X, y = regression_data
    reg = SublinearNewtonRegressor(**SMALL).fit(X, y)
    assert reg.linear_coef_.shape == (X.shape[1], 1)
    assert np.all(np.isfinite(reg.linear_coef_))
    reg = SublinearNewtonRegressor(**SMALL, alpha=1e-3).fit(X, y)
    assert reg.linear_coef_ is not None
    Xc, yc = classification_data
    clf = SublinearNewtonClassifier(**SMALL, alpha=1e-3).fit(Xc, yc)
    assert clf.linear_coef_ is None
    clf = SublinearNewtonClassifier(**SMALL).fit(Xc, yc)
    assert clf.linear_coef_.shape == (Xc.shape[1], 3)
    assert_allclose(clf.predict_proba(Xc).sum(axis=1), 1.0)
    assert clf.score(Xc, yc) > 0.8


def test_linear_term_extrapolates_a_linear_target():
    # A plane from 200 rows in a box, predicted at 20 rows ten times farther
    # out: the linear term carries it, the network alone does not.
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(200, 3))
    beta = np.array([2.0, -1.0, 0.5])
    X_far = 10.0 * rng.uniform(-1, 1, size=(20, 3))
    errors = {}
    for linear_term in (True, False):
        reg = SublinearNewtonRegressor(
            **SMALL, homogeneous=False, linear_term=linear_term
        ).fit(X, X @ beta + 3.0)
        errors[linear_term] = np.max(np.abs(reg.predict(X_far) - (X_far @ beta + 3.0)))
    assert errors[True] < 0.1 * np.max(np.abs(X_far @ beta))
    assert errors[False] > 5 * errors[True]


def test_homogeneous_auto_is_regression_only(regression_data, classification_data):
    X, y = regression_data
    assert SublinearNewtonRegressor(**SMALL).fit(X, y).homogeneous_ is True
    Xc, yc = classification_data
    clf = SublinearNewtonClassifier(**SMALL).fit(Xc, yc)
    assert clf.homogeneous_ is False
    homogeneous = SublinearNewtonClassifier(**SMALL, homogeneous=True).fit(Xc, yc)
    proba = homogeneous.predict_proba(Xc)
    assert_allclose(proba.sum(axis=1), 1.0)
    assert homogeneous.score(Xc, yc) > 0.8
    # Far along a ray, homogeneous outputs grow linearly, plain ones saturate.
    x0 = X[:1] + 1e3 * (X[:1] - X.mean(axis=0))
    x1 = X[:1] + 2e3 * (X[:1] - X.mean(axis=0))
    x2 = X[:1] + 3e3 * (X[:1] - X.mean(axis=0))
    for homogeneous, linear in [(True, True), (False, False)]:
        reg = SublinearNewtonRegressor(
            **SMALL, homogeneous=homogeneous, linear_term=False
        ).fit(X, y)
        p0, p1, p2 = (reg.predict(x)[0] for x in (x0, x1, x2))
        if linear:
            assert p2 - p1 == pytest.approx(p1 - p0, rel=1e-3)
            assert abs(p1 - p0) > 1.0
        else:
            # unit rows converge to a direction: increments shrink like 1/t
            assert abs(p2 - p1) < 0.5 * abs(p1 - p0)
