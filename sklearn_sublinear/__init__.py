"""Wide two-layer networks trained by Gauss-Newton in sublinear time.

scikit-learn compatible estimators implementing the method of arXiv 2208.04508,
"Training Overparametrized Neural Networks in Sublinear Time".

Layers, each importing only from the ones below it (and from the shared
``_contracts``, ``_compat`` and ``_threads`` modules):

- layer 4, ``_estimators``: the two estimators; they build the collaborators
  below and make one solver call;
- layer 3, ``_solvers``: the damped Gauss-Newton loop and its sample-space
  systems;
- layer 2, ``_network``: the two-layer network, its inputs and its losses;
- layer 1, ``_tree_index``: the active-set indexes (tree and dense).

``_contracts`` states what the solver requires of the network, the loss, the
index and the systems; ``_compat`` holds every private scikit-learn import;
``_memory`` (imported by the estimators only) bounds a fit's memory.
"""

from ._estimators import SublinearNewtonClassifier, SublinearNewtonRegressor

__version__ = "0.1.0.dev0"

__all__ = ["SublinearNewtonClassifier", "SublinearNewtonRegressor", "__version__"]
