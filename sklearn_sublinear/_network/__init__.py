"""Layer 2: the two-layer network, its inputs and its losses.

May import ``_tree_index`` (it does not need to) and the shared helpers
(``_threads``), never a solver or an estimator. Modules:

- ``_inputs``: weighted standardization and unit-length rows (:class:`InputTransform`),
  sparse inputs kept sparse (:class:`SparseRows`, from the index layer, which
  computes with them);
- ``_two_layer``: :class:`TwoLayerNetwork`, its forward passes, steps and Gram;
- ``_overlaps``: the overlap counts ``|S_i & S_j|`` of the Gram and their cost model;
- ``_pair_sums``: compiled sums over the firing pairs (matrix-free Gram, steps);
- ``_sparse``: 0/1 patterns and row blocks of csr arrays for threaded products;
- ``_activations``: the shifted ReLU;
- ``_losses``: squared, log and Poisson losses, differentiated w.r.t. the
  network output.
"""

from .._tree_index._sparse_rows import SparseRows, is_sparse_rows
from ._inputs import InputTransform, weighted_mean_scale
from ._losses import (
    LOSSES,
    BinaryLogisticLoss,
    MultinomialLoss,
    PoissonLoss,
    SquaredLoss,
)
from ._two_layer import (
    TwoLayerNetwork,
    bias_coordinate,
    squared_row_norms,
    threshold_from_sparsity,
)

__all__ = [
    "LOSSES",
    "BinaryLogisticLoss",
    "InputTransform",
    "MultinomialLoss",
    "PoissonLoss",
    "SparseRows",
    "SquaredLoss",
    "TwoLayerNetwork",
    "bias_coordinate",
    "is_sparse_rows",
    "squared_row_norms",
    "threshold_from_sparsity",
    "weighted_mean_scale",
]
