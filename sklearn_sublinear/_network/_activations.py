"""Shifted activations ``sigma_b(z) = phi(z - b)`` and their derivatives.

The network only ever evaluates an activation on pre-activations that are known to
fire (``z > b``), where the shifted ReLU is ``z - b`` and its derivative is 1; the
dense helpers below serve prediction and the tests.
"""

import numpy as np


def shifted_relu(z, threshold, out=None):
    """Return ``max(z - threshold, 0)`` elementwise (in ``out`` if given)."""
    out = np.subtract(z, threshold, out=out)
    return np.maximum(out, 0, out=out)


def shifted_relu_derivative(z, threshold):
    """Return the derivative ``1[z > threshold]`` as floats."""
    return (np.asarray(z) > threshold).astype(np.float64)


ACTIVATIONS = {"shifted_relu": shifted_relu}
DERIVATIVES = {"shifted_relu": shifted_relu_derivative}
