"""Label sets: one logistic output per label, sharing the hidden layer."""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import expit
from sklearn.datasets import make_multilabel_classification
from sklearn.exceptions import DataConversionWarning
from sklearn.metrics import accuracy_score, hamming_loss

from sklearn_sublinear import SublinearNewtonClassifier

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# A fixed alpha: the tests compare training fits of the stopping rule.
SMALL = dict(n_neurons=256, max_iter=8, alpha=1e-3, random_state=0)


@pytest.fixture
def label_sets():
    return make_multilabel_classification(
        n_samples=400, n_features=10, n_classes=4, random_state=0
    )


def test_outputs_follow_mlp_conventions(label_sets):
    X, Y = label_sets
    clf = SublinearNewtonClassifier(**SMALL).fit(X, Y)
    assert_array_equal(clf.classes_, np.arange(4))
    assert clf.n_outputs_ == 4 and clf.out_activation_ == "logistic"
    raw = clf.decision_function(X)
    proba = clf.predict_proba(X)
    pred = clf.predict(X)
    assert raw.shape == proba.shape == pred.shape == (400, 4)
    assert_allclose(proba, expit(raw))
    assert_allclose(clf.predict_log_proba(X), np.log(proba))
    assert_array_equal(pred, (proba > 0.5).astype(int))
    # score() is the subset accuracy, as for MLPClassifier.
    assert clf.score(X, Y) == pytest.approx(accuracy_score(Y, pred))
    assert hamming_loss(Y, pred) < 0.12


def test_labels_share_the_hidden_layer_but_train_like_separate_logits(label_sets):
    # Each label's logit equals that of a binary fit only when the others
    # are absent; with several labels the shared steps differ, but a label
    # set with one column repeated predicts that column identically.
    X, Y = label_sets
    twice = np.column_stack([Y[:, 0], Y[:, 0]])
    proba = SublinearNewtonClassifier(**SMALL).fit(X, twice).predict_proba(X)
    assert not np.allclose(proba[:, 0], proba[:, 1])  # random signs differ
    assert np.mean((proba[:, 0] > 0.5) == (proba[:, 1] > 0.5)) > 0.9


def test_sparse_and_list_label_sets_give_the_same_fit(label_sets):
    X, Y = label_sets[0][:120], label_sets[1][:120]
    dense = SublinearNewtonClassifier(**SMALL).fit(X, Y).predict_proba(X)
    for targets in (sp.csr_matrix(Y), Y.tolist()):
        other = SublinearNewtonClassifier(**SMALL).fit(X, targets)
        assert_allclose(other.predict_proba(X), dense)


def test_early_stopping_uses_the_subset_accuracy(label_sets):
    X, Y = label_sets
    clf = SublinearNewtonClassifier(early_stopping=True, **SMALL).fit(X, Y)
    assert 0 < clf.best_validation_score_ <= 1


def test_column_vector_is_raveled_with_a_warning():
    X, Y = make_multilabel_classification(n_samples=100, n_classes=2, random_state=1)
    with pytest.warns(DataConversionWarning, match="column-vector"):
        clf = SublinearNewtonClassifier(**SMALL).fit(X, Y[:, :1])
    assert clf.predict(X).shape == (100,)


def test_multiclass_multioutput_is_refused():
    rng = np.random.RandomState(0)
    X, Y = rng.standard_normal((50, 3)), rng.randint(0, 3, size=(50, 2))
    with pytest.raises(ValueError, match="MultiOutputClassifier"):
        SublinearNewtonClassifier(**SMALL).fit(X, Y)


def test_warm_start_keeps_the_kind_of_target(label_sets):
    X, Y = label_sets
    clf = SublinearNewtonClassifier(warm_start=True, **SMALL).fit(X, Y)
    with pytest.raises(ValueError, match="label columns"):
        clf.fit(X, Y[:, :3])
    with pytest.raises(ValueError, match="label sets"):
        clf.fit(X, Y[:, 0])
    clf.set_params(max_iter=2).fit(X, Y)
    assert clf.predict(X).shape == Y.shape
