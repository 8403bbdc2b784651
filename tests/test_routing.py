"""sample_weight reaches fit through metadata routing (Pipeline, GridSearchCV)."""

import numpy as np
import pytest
from sklearn import config_context
from sklearn.metrics import accuracy_score, make_scorer, r2_score
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_sublinear import SublinearNewtonClassifier, SublinearNewtonRegressor

# Fits are capped at a few iterations on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

PARAMS = dict(n_neurons=256, sparsity=0.5, alpha=1e-2, max_iter=3, random_state=0)


def _data(kind, n=60, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 4))
    if kind == "classifier":
        y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    else:
        y = X[:, 0] - X[:, 1] ** 2 + 0.1 * rng.normal(size=n)
    return X, y


ESTIMATORS = {
    "classifier": SublinearNewtonClassifier,
    "regressor": SublinearNewtonRegressor,
}


def _output(model, X):
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)
    return model.predict(X)


@pytest.mark.parametrize("kind", ESTIMATORS)
def test_pipeline_routes_sample_weight(kind):
    X, y = _data(kind)
    rng = np.random.RandomState(1)
    weights = rng.uniform(0.1, 3.0, size=len(y))
    with config_context(enable_metadata_routing=True):
        est = ESTIMATORS[kind](**PARAMS).set_fit_request(sample_weight=True)
        # The scaler does not request sample_weight: it must not receive it.
        scaler = StandardScaler().set_fit_request(sample_weight=False)
        weighted = Pipeline([("scale", scaler), ("net", est)])
        weighted.fit(X, y, sample_weight=weights)
        unweighted = Pipeline(
            [
                ("scale", StandardScaler().set_fit_request(sample_weight=False)),
                ("net", ESTIMATORS[kind](**PARAMS).set_fit_request(sample_weight=True)),
            ]
        ).fit(X, y)

        # The same weights passed directly to the estimator give the same model.
        Xs = StandardScaler().fit_transform(X)
        direct = ESTIMATORS[kind](**PARAMS).fit(Xs, y, sample_weight=weights)

    out_w, out_u = _output(weighted, X), _output(unweighted, X)
    assert not np.allclose(out_w, out_u), "sample_weight did not reach fit"
    np.testing.assert_allclose(out_w, _output(direct, Xs), rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("kind", ESTIMATORS)
def test_zero_weights_equal_dropping_rows(kind):
    X, y = _data(kind, n=80)
    weights = np.ones(len(y))
    weights[::4] = 0.0
    keep = weights > 0
    with config_context(enable_metadata_routing=True):
        make = lambda: Pipeline(  # noqa: E731
            [
                ("scale", StandardScaler().set_fit_request(sample_weight=True)),
                ("net", ESTIMATORS[kind](**PARAMS).set_fit_request(sample_weight=True)),
            ]
        )
        zeroed = make().fit(X, y, sample_weight=weights)
        dropped = make().fit(X[keep], y[keep])
    np.testing.assert_allclose(
        _output(zeroed, X), _output(dropped, X), rtol=1e-6, atol=1e-8
    )


@pytest.mark.parametrize("kind", ESTIMATORS)
def test_grid_search_routes_sample_weight(kind):
    X, y = _data(kind, n=90)
    weights = np.where(np.arange(len(y)) % 3 == 0, 5.0, 0.5)
    grid = {"net__alpha": [1e-2, 1.0]}
    cv = KFold(n_splits=3, shuffle=True, random_state=0)

    def search(**fit_params):
        # Weights go to fit only: the scores of both searches are unweighted.
        metric = accuracy_score if kind == "classifier" else r2_score
        scorer = make_scorer(metric).set_score_request(sample_weight=False)
        pipe = Pipeline(
            [
                ("scale", StandardScaler().set_fit_request(sample_weight=False)),
                ("net", ESTIMATORS[kind](**PARAMS).set_fit_request(sample_weight=True)),
            ]
        )
        search = GridSearchCV(pipe, grid, scoring=scorer, cv=cv, error_score="raise")
        return search.fit(X, y, **fit_params)

    with config_context(enable_metadata_routing=True):
        weighted = search(sample_weight=weights)
        unweighted = search()
        # Run again with the same weights: deterministic given random_state.
        again = search(sample_weight=weights)

    w_scores = weighted.cv_results_["mean_test_score"]
    u_scores = unweighted.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(w_scores)) and np.all(np.isfinite(u_scores))
    assert not np.allclose(w_scores, u_scores), "sample_weight did not reach fit"
    np.testing.assert_array_equal(w_scores, again.cv_results_["mean_test_score"])
    # The refitted best model was fitted with the weights too.
    with config_context(enable_metadata_routing=True):
        refit = Pipeline(
            [
                ("scale", StandardScaler().set_fit_request(sample_weight=False)),
                ("net", ESTIMATORS[kind](**PARAMS).set_fit_request(sample_weight=True)),
            ]
        ).set_params(**weighted.best_params_)
        refit.fit(X, y, sample_weight=weights)
    np.testing.assert_allclose(
        _output(weighted.best_estimator_, X), _output(refit, X), rtol=1e-7, atol=1e-10
    )


def test_unrequested_sample_weight_raises():
    """Under routing, weights passed without a request are an error, not ignored."""
    X, y = _data("regressor")
    with config_context(enable_metadata_routing=True):
        pipe = Pipeline([("net", SublinearNewtonRegressor(**PARAMS))])
        with pytest.raises(ValueError, match="sample_weight"):
            pipe.fit(X, y, sample_weight=np.ones(len(y)))
