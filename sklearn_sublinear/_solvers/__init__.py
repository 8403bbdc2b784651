"""Layer 3: training solvers. May import ``_network``, never an estimator.

- ``_base``: :class:`BaseSolver`, which checks its collaborators against the
  protocols of ``sklearn_sublinear._contracts`` before solving, and
  :class:`MemoryLimitReached`, the memory guard's refusal;
- ``_gauss_newton``: :class:`GaussNewton`, the damped Gauss-Newton loop;
- ``_stopping``: :class:`StoppingRule`, the patience test of the loop;
- ``_systems``: the sample-space systems (Cholesky, conjugate gradient);
- ``_preconditioners``: the conjugate gradient's preconditioner.
"""

from ._base import BaseSolver, MemoryLimitReached
from ._gauss_newton import GaussNewton, damped_step
from ._stopping import StoppingRule
from ._systems import SYSTEMS, CGSystem, CholeskySystem

__all__ = [
    "SYSTEMS",
    "BaseSolver",
    "CGSystem",
    "CholeskySystem",
    "GaussNewton",
    "MemoryLimitReached",
    "StoppingRule",
    "damped_step",
]
