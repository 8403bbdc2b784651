"""class_weight of the classifier: weights per class, times sample_weight."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import make_classification, make_multilabel_classification
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.utils.class_weight import compute_sample_weight

from sklearn_sublinear import SublinearNewtonClassifier

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

SMALL = dict(n_neurons=256, max_iter=8, random_state=0)


def _imbalanced(n_samples=600, random_state=0):
    """Two noisy classes, 10% minority."""
    return make_classification(
        n_samples=n_samples,
        n_features=8,
        n_informative=4,
        weights=[0.9, 0.1],
        flip_y=0.05,
        class_sep=0.7,
        random_state=random_state,
    )


@pytest.mark.parametrize("n_classes", [2, 3])
def test_dict_class_weight_is_sample_weight(n_classes):
    X, y = make_classification(
        n_samples=150, n_classes=n_classes, n_informative=4, random_state=0
    )
    class_weight = {0: 3.0, 1: 0.5}  # class 2, if any, weighs 1
    reference = np.array([class_weight.get(c, 1.0) for c in y])
    rng = np.random.RandomState(0)
    sample_weight = rng.randint(1, 4, size=y.size).astype(float)

    by_class = SublinearNewtonClassifier(class_weight=class_weight, **SMALL)
    by_class.fit(X, y, sample_weight=sample_weight)
    by_sample = SublinearNewtonClassifier(**SMALL)
    by_sample.fit(X, y, sample_weight=sample_weight * reference)
    assert_allclose(by_class.decision_function(X), by_sample.decision_function(X))


def test_balanced_class_weight_matches_compute_sample_weight():
    X, y = _imbalanced(n_samples=200)
    y = np.where(y == 1, "rare", "common")  # labels of any type
    balanced = SublinearNewtonClassifier(class_weight="balanced", **SMALL).fit(X, y)
    reference = SublinearNewtonClassifier(**SMALL).fit(
        X, y, sample_weight=compute_sample_weight("balanced", y)
    )
    assert_allclose(balanced.predict_proba(X), reference.predict_proba(X))
    # The weights do change the fit.
    plain = SublinearNewtonClassifier(**SMALL).fit(X, y)
    assert not np.allclose(balanced.predict_proba(X), plain.predict_proba(X))


def test_balanced_raises_balanced_accuracy_on_imbalanced_data():
    # Repeated stratified splits of a 10%-minority problem: weighting the
    # classes trades majority accuracy for minority recall.
    X, y = _imbalanced()
    assert 0.08 < np.mean(y == 1) < 0.15
    splits = StratifiedShuffleSplit(n_splits=5, test_size=0.3, random_state=0)
    gains = []
    for train, test in splits.split(X, y):
        scores = []
        for class_weight in (None, "balanced"):
            clf = SublinearNewtonClassifier(class_weight=class_weight, **SMALL)
            clf.fit(X[train], y[train])
            scores.append(balanced_accuracy_score(y[test], clf.predict(X[test])))
        gains.append(scores[1] - scores[0])
    assert np.mean(gains) > 0.02
    assert min(gains) > 0


def test_class_weight_with_early_stopping_weights_the_validation_score():
    X, y = _imbalanced(n_samples=300)
    clf = SublinearNewtonClassifier(
        class_weight="balanced", early_stopping=True, **SMALL
    ).fit(X, y)
    assert clf.best_validation_score_ == max(clf.validation_scores_)


@pytest.mark.parametrize(
    "class_weight, match",
    [
        ("balance", "class_weight"),
        (0.5, "class_weight"),
        ([{0: 1, 1: 2}], "list of dicts is for label sets"),
    ],
)
def test_invalid_class_weight(class_weight, match):
    X, y = _imbalanced(n_samples=60)
    with pytest.raises(ValueError, match=match):
        SublinearNewtonClassifier(class_weight=class_weight, **SMALL).fit(X, y)


def test_class_weight_of_label_sets():
    X, Y = make_multilabel_classification(n_samples=80, n_classes=3, random_state=0)
    per_label = [{0: 1.0, 1: 2.0}, {0: 1.0, 1: 1.0}, {0: 3.0, 1: 1.0}]
    by_class = SublinearNewtonClassifier(class_weight=per_label, **SMALL).fit(X, Y)
    by_sample = SublinearNewtonClassifier(**SMALL).fit(
        X, Y, sample_weight=compute_sample_weight(per_label, Y)
    )
    assert_allclose(by_class.predict_proba(X), by_sample.predict_proba(X))
