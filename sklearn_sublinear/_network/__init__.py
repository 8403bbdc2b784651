"""Layer 2: the two-layer network, its activations and its losses."""

from ._losses import LOSSES, BinaryLogisticLoss, MultinomialLoss, SquaredLoss
from ._two_layer import (
    InputTransform,
    TwoLayerNetwork,
    threshold_from_sparsity,
    weighted_mean_scale,
)

__all__ = [
    "LOSSES",
    "BinaryLogisticLoss",
    "InputTransform",
    "MultinomialLoss",
    "SquaredLoss",
    "TwoLayerNetwork",
    "threshold_from_sparsity",
    "weighted_mean_scale",
]
