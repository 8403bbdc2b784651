"""Layer 4, the scikit-learn estimators: wide two-layer shifted-ReLU networks
trained by Gauss-Newton over an index of firing neurons (arXiv 2208.04508).

May import every lower layer (``_solvers``, ``_network``, ``_tree_index``).
Inside, imports flow one way: ``_callbacks`` <- ``_base`` <- ``_docstrings``
<- ``_regressor``, ``_classifier``."""

from ._base import BaseSublinearNewton
from ._classifier import SublinearNewtonClassifier
from ._regressor import SublinearNewtonRegressor

__all__ = [
    "BaseSublinearNewton",
    "SublinearNewtonClassifier",
    "SublinearNewtonRegressor",
]
