"""Wide two-layer networks trained by Gauss-Newton in sublinear time.

scikit-learn compatible estimators implementing the method of arXiv 2208.04508,
"Training Overparametrized Neural Networks in Sublinear Time".
"""

from ._estimators import SublinearNewtonClassifier, SublinearNewtonRegressor

__version__ = "0.1.0.dev0"

__all__ = ["SublinearNewtonClassifier", "SublinearNewtonRegressor", "__version__"]
