"""scikit-learn API compliance of both estimators."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_sublinear import SublinearNewtonClassifier, SublinearNewtonRegressor

# Small networks keep the checks fast; the defaults are exercised elsewhere.
ESTIMATORS = [
    SublinearNewtonRegressor(n_neurons=256, max_iter=20),
    SublinearNewtonClassifier(n_neurons=256, max_iter=20),
]

EXPECTED_FAILED_CHECKS = {}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
