"""Layer 3: training solvers. May import ``_network``, never an estimator."""

from ._base import BaseSolver, check_attrs
from ._gauss_newton import GaussNewton, damped_step
from ._systems import SYSTEMS, CGSystem, CholeskySystem

__all__ = [
    "SYSTEMS",
    "BaseSolver",
    "CGSystem",
    "CholeskySystem",
    "GaussNewton",
    "check_attrs",
    "damped_step",
]
