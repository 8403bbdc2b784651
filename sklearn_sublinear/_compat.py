"""The one module that imports scikit-learn's private helpers, with fallbacks.

The package supports scikit-learn from 1.6 on. Private helpers may move or
change between releases; every other module imports them from here, so a
change is met in one place. Public scikit-learn API is imported directly.
"""

import threading

from sklearn.utils._param_validation import Interval, StrOptions

try:
    from sklearn.base import _fit_context
except ImportError:  # pragma: no cover - not expected before a major change
    import functools

    def _fit_context(*, prefer_skip_nested_validation):
        """Validate the parameters before ``fit``, as scikit-learn's does."""

        def decorator(fit):
            @functools.wraps(fit)
            def wrapper(estimator, *args, **kwargs):
                estimator._validate_params()
                return fit(estimator, *args, **kwargs)

            return wrapper

        return decorator


try:
    from sklearn.utils.validation import _check_sample_weight
except ImportError:  # pragma: no cover - not expected before a major change
    import numpy as np

    def _check_sample_weight(sample_weight, X, *, dtype, ensure_non_negative):
        """Ones, a broadcast scalar, or a validated 1-D copy of the weights."""
        n = X.shape[0]
        if sample_weight is None:
            return np.ones(n, dtype=dtype)
        sample_weight = np.array(np.broadcast_to(sample_weight, (n,)), dtype=dtype)
        if ensure_non_negative and np.any(sample_weight < 0):
            raise ValueError("Negative values in data passed to sample_weight.")
        return sample_weight


try:
    from sklearn.utils.parallel import _get_threadpool_controller
except ImportError:  # pragma: no cover - scikit-learn < 1.6.1
    from threadpoolctl import ThreadpoolController

    _CONTROLLER = []
    _CONTROLLER_LOCK = threading.Lock()

    def _get_threadpool_controller():
        """One ThreadpoolController for the process, created on first use."""
        with _CONTROLLER_LOCK:
            if not _CONTROLLER:
                _CONTROLLER.append(ThreadpoolController())
            return _CONTROLLER[0]


try:
    from threadpoolctl import OpenBLASController as _OpenBLASController
except ImportError:  # pragma: no cover - threadpoolctl without the class
    _OpenBLASController = None


def release_blas_control():
    """Let the next thread that sets OpenBLAS's thread count be obeyed.

    OpenBLAS built on pthreads has one process-wide thread pool. From
    threadpoolctl 3.8, only the first thread that sets its size may set it
    again until that thread leaves a ``with`` limit, and a limit set from any
    other thread is silently ignored; a limit held outside a ``with`` block
    (the package's shared limit) never gives the control back. The package
    coordinates its own limits under one lock, so it clears the controlling
    thread around each change it makes. Earlier versions have no controlling
    thread and nothing to clear.
    """
    clear = getattr(_OpenBLASController, "clear_controlling_thread", None)
    if clear is not None:
        clear(force=True)


try:
    from sklearn.callback import CallbackSupportMixin
except ImportError:  # scikit-learn < 1.9: no callbacks, nothing to support

    class CallbackSupportMixin:
        """Stand-in for scikit-learn's mixin where callbacks do not exist."""


fit_context = _fit_context
check_sample_weight = _check_sample_weight
threadpool_controller = _get_threadpool_controller

__all__ = [
    "CallbackSupportMixin",
    "Interval",
    "StrOptions",
    "check_sample_weight",
    "fit_context",
    "release_blas_control",
    "threadpool_controller",
]
