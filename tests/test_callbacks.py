"""scikit-learn callbacks (scikit-learn >= 1.9): one subtask per iteration."""

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_friedman1

from sklearn_sublinear import SublinearNewtonClassifier, SublinearNewtonRegressor

callback = pytest.importorskip("sklearn.callback")

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

SMALL = dict(n_neurons=256, random_state=0)


class Recorder:
    """A FitCallback that records the tasks and may stop the fit."""

    def __init__(self, stop_after=None):
        self.stop_after = stop_after
        self.events = []

    def setup(self, estimator, context):
        self.events.append(("setup", None))

    def on_fit_task_begin(self, estimator, context, *, X=None, y=None):
        self.events.append(("begin", context.task_name))

    def on_fit_task_end(self, estimator, context, *, fitted_estimator=None, X=None):
        self.events.append(("end", context.task_name))
        if fitted_estimator is not None and X is not None:
            self.events.append(("predict", fitted_estimator.predict(X[:3])))
        ends = [e for e in self.events if e == ("end", "gauss_newton_iteration")]
        return self.stop_after is not None and len(ends) >= self.stop_after

    def teardown(self, estimator, context):
        self.events.append(("teardown", None))


def test_scoring_monitor_scores_every_iteration():
    X, y = make_friedman1(n_samples=300, random_state=0)
    monitor = callback.ScoringMonitor(scoring="r2")
    reg = SublinearNewtonRegressor(max_iter=6, **SMALL).set_callbacks(monitor)
    reg.fit(X, y)
    rows = monitor.get_logs().data
    iterations = [r for r in rows if r["task_name"] == "gauss_newton_iteration"]
    assert len(iterations) == reg.n_iter_
    # The last iteration's network is the fitted one.
    assert iterations[-1]["r2"] == pytest.approx(reg.score(X, y))
    assert [r for r in rows if r["task_name"] == "fit"][0]["r2"] == pytest.approx(
        reg.score(X, y)
    )


def test_tasks_are_nested_and_torn_down():
    X, y = make_classification(n_samples=200, random_state=0)
    recorder = Recorder()
    clf = SublinearNewtonClassifier(max_iter=4, **SMALL).set_callbacks(recorder)
    clf.fit(X, y)
    kinds = [kind for kind, _ in recorder.events if kind != "predict"]
    assert kinds[:2] == ["setup", "begin"] and kinds[-2:] == ["end", "teardown"]
    iteration_ends = recorder.events.count(("end", "gauss_newton_iteration"))
    assert iteration_ends == recorder.events.count(("begin", "gauss_newton_iteration"))
    assert iteration_ends == clf.n_iter_
    # Each iteration's estimator predicts with the weights of that iteration.
    final = [v for kind, v in recorder.events if kind == "predict"][-1]
    np.testing.assert_array_equal(final, clf.predict(X[:3]))


def test_a_callback_can_stop_the_fit(recwarn):
    X, y = make_friedman1(n_samples=200, random_state=0)
    reg = SublinearNewtonRegressor(max_iter=10, tol=0, **SMALL)
    reg.set_callbacks(Recorder(stop_after=2)).fit(X, y)
    assert reg.n_iter_ == 2
    # Stopped on request: no ConvergenceWarning about max_iter.
    assert not [w for w in recwarn if "max_iter" in str(w.message)]


def test_partial_fit_reports_one_iteration_per_call():
    X, y = make_friedman1(n_samples=200, random_state=0)
    recorder = Recorder()
    reg = SublinearNewtonRegressor(**SMALL).set_callbacks(recorder)
    reg.partial_fit(X[:100], y[:100]).partial_fit(X[100:], y[100:])
    assert recorder.events.count(("end", "gauss_newton_iteration")) == 2
    assert recorder.events.count(("teardown", None)) == 2


def test_progress_bar_runs():
    pytest.importorskip("rich")
    X, y = make_friedman1(n_samples=100, random_state=0)
    reg = SublinearNewtonRegressor(max_iter=3, **SMALL)
    reg.set_callbacks(callback.ProgressBar()).fit(X, y)
    assert reg.n_iter_ >= 1


def test_verbose_early_stopping_names_the_kept_iteration(capsys):
    X, y = make_friedman1(n_samples=300, random_state=0)
    reg = SublinearNewtonRegressor(early_stopping=True, verbose=1, **SMALL).fit(X, y)
    out = capsys.readouterr().out
    assert out.count("validation score=") == reg.n_iter_ + 1
    best = int(np.argmax(reg.validation_scores_)) + 1
    assert f"Kept the weights of iteration {best} " in out


class Failing(Recorder):
    def on_fit_task_begin(self, estimator, context, *, X=None, y=None):
        super().on_fit_task_begin(estimator, context, X=X, y=y)
        if context.task_name == "gauss_newton_iteration":
            raise RuntimeError("callback failure")


def test_a_failed_fit_tears_the_callbacks_down_and_keeps_no_state():
    X, y = make_friedman1(n_samples=100, random_state=0)
    failing = Failing()
    reg = SublinearNewtonRegressor(**SMALL).set_callbacks(failing)
    with pytest.raises(RuntimeError, match="callback failure"):
        reg.fit(X, y)
    assert failing.events[-1] == ("teardown", None)
    assert not hasattr(reg, "coefs_") and not hasattr(reg, "_callback_fit_ctx")
