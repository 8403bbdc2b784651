"""The shifted ReLU ``sigma_b(z) = max(z - b, 0)``.

The network only ever evaluates an activation on pre-activations that are known to
fire (``z > b``), where the shifted ReLU is ``z - b`` and its derivative is 1; the
dense function below serves prediction.
"""

import numpy as np


def shifted_relu(z, threshold, out=None):
    """Return ``max(z - threshold, 0)`` elementwise (in ``out`` if given)."""
    out = np.subtract(z, threshold, out=out)
    return np.maximum(out, 0, out=out)
