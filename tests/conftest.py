"""Small seeded fixtures shared by the tests."""

import numpy as np
import pytest
from scipy.sparse import csr_array
from sklearn.datasets import make_classification, make_regression

from sklearn_sublinear._network import (
    InputTransform,
    TwoLayerNetwork,
    threshold_from_sparsity,
)


def make_network(n_samples=12, n_features=3, n_neurons=40, n_outputs=2, seed=0):
    """Unit-norm rows and a random network whose pre-activations avoid the kink.

    Returns ``(X, network)``; every ``|<w_r, x_i> - b|`` exceeds 1e-3, so that
    finite differences with small steps never cross the kink.
    """
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n_samples, n_features))
    X = InputTransform().fit(X, np.ones(n_samples)).transform(X)
    threshold = threshold_from_sparsity(n_neurons, 0.3)
    for _ in range(1000):
        W = rng.standard_normal((n_neurons, X.shape[1]))
        if np.min(np.abs(X @ W.T - threshold)) > 1e-3:
            break
    else:  # pragma: no cover - depends on the seed only
        raise RuntimeError("no kink-free draw")
    signs = rng.choice([-1.0, 1.0], size=(n_neurons, n_outputs))
    intercept = rng.standard_normal(n_outputs)
    return X, TwoLayerNetwork(W, signs, threshold, intercept)


def brute_force_active(X, network):
    """Dense reference of an index query: all pre-activations above b."""
    Z = X @ network.W.T
    Z[Z <= network.threshold] = 0.0
    return csr_array(Z)


def brute_force_forward(X, W, signs, threshold, intercept):
    """Dense reference of the network output."""
    hidden = np.maximum(X @ W.T - threshold, 0.0)
    return hidden @ signs / np.sqrt(W.shape[0]) + intercept


@pytest.fixture
def small_network():
    """``(X, network)``: 12 unit rows, 40 neurons, 2 outputs, no kink nearby."""
    return make_network()


@pytest.fixture
def network_factory():
    """The :func:`make_network` helper, for tests that need other sizes."""
    return make_network


@pytest.fixture
def reference():
    """Brute-force references: ``active(X, net)`` and ``forward(X, W, a, b, c)``."""
    return {"active": brute_force_active, "forward": brute_force_forward}


@pytest.fixture
def regression_data():
    X, y = make_regression(
        n_samples=60, n_features=4, noise=1.0, random_state=0, n_targets=1
    )
    return X, y


@pytest.fixture
def multioutput_data():
    X, y = make_regression(n_samples=60, n_features=4, random_state=1, n_targets=3)
    return X, y


@pytest.fixture
def classification_data():
    X, y = make_classification(
        n_samples=80,
        n_features=5,
        n_informative=3,
        n_classes=3,
        n_clusters_per_class=1,
        random_state=0,
    )
    return X, y


@pytest.fixture
def binary_data():
    X, y = make_classification(n_samples=80, n_features=5, random_state=2)
    return X, y
