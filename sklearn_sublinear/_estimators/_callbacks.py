"""The bridge from a fit to scikit-learn callbacks (scikit-learn >= 1.9)."""

import numpy as np

# Attributes scikit-learn's callback support sets during a fit (>= 1.9).
_CALLBACK_STATE = ("_callback_fit_ctx", "_skl_callbacks_to_teardown")


class _CallbackHooks:
    """Reports a fit to scikit-learn callbacks (scikit-learn >= 1.9).

    The fit is the root task and each Gauss-Newton iteration a subtask, so that
    ``ProgressBar`` advances per iteration and ``ScoringMonitor`` scores the
    network after each accepted step (on the training data given to ``fit``).
    Implements :class:`~sklearn_sublinear._contracts.IterationHooks`.
    """

    def __init__(self, estimator, X, y, sample_weight, max_iter, attributes):
        self.estimator, self.X, self.y = estimator, X, y
        self.metadata = None
        if np.any(sample_weight != 1):
            self.metadata = {"sample_weight": sample_weight}
        self.attributes = attributes
        self.root = estimator._init_callback_context(max_subtasks=max_iter)
        self.root.call_on_fit_task_begin(**self._data())
        self.task = None

    def _data(self):
        return dict(
            estimator=self.estimator, X=self.X, y=self.y, metadata=self.metadata
        )

    def begin(self, iteration):
        self.task = self.root.subcontext(task_name="gauss_newton_iteration")
        self.task.call_on_fit_task_begin(**self._data())

    def end(self, iteration, network):
        if network is None:  # no step accepted: an empty task
            return bool(self.task.call_on_fit_task_end(estimator=self.estimator))
        return bool(
            self.task.call_on_fit_task_end(
                **self._data(),
                reconstruction_attributes=lambda: self.attributes(network),
            )
        )

    def close(self):
        """End the root task (after the estimator's attributes are set)."""
        self.root.call_on_fit_task_end(**self._data(), reconstruction_attributes={})
