"""
===========
Quick start
===========

Fit the default :class:`~sklearn_sublinear.SublinearNewtonClassifier` on the
handwritten digits data set and compare its test accuracy and fit time with
scikit-learn's :class:`~sklearn.neural_network.MLPClassifier`.

The network has many neurons but only a few of them fire for a given sample,
so each Gauss-Newton iteration touches a small part of the weights. A handful
of iterations is usually enough.

This script is also the first command of the README's quick start::

    python examples/plot_quick_start.py
"""

# %%
# Data
# ----
# Inputs are standardized in a pipeline: the estimator itself then appends a
# bias coordinate and scales every row to unit length (see the user guide).
import os
import time

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_sublinear import SublinearNewtonClassifier

QUICK = os.environ.get("SKLEARN_SUBLINEAR_QUICK", "0") not in ("", "0")

X, y = load_digits(return_X_y=True)
if QUICK:
    X, y = X[:800], y[:800]
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)
print(f"digits: {X_train.shape[0]} training and {X_test.shape[0]} test samples")


# %%
# Fit both models
# ---------------
# Both run with their default parameters, except that the MLP gets
# ``max_iter=500`` so that it converges.
def fit_and_score(name, model):
    start = time.perf_counter()
    model.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    accuracy = model.score(X_test, y_test)
    print(f"{name:<28s} accuracy {accuracy:.4f}   fit time {seconds:6.2f} s")
    return model, accuracy, seconds


sublinear, acc_s, time_s = fit_and_score(
    "SublinearNewtonClassifier",
    make_pipeline(StandardScaler(), SublinearNewtonClassifier(random_state=0)),
)
mlp, acc_m, time_m = fit_and_score(
    "MLPClassifier(max_iter=500)",
    make_pipeline(StandardScaler(), MLPClassifier(max_iter=500, random_state=0)),
)

# %%
# What happened during training
# -----------------------------
# ``history_`` records one entry per Gauss-Newton iteration: the training
# loss, the wall-clock time and how many neurons fired per sample on average.
clf = sublinear[-1]
history = clf.history_
print(
    f"\n{clf.n_iter_} Gauss-Newton iterations with {clf.n_neurons} neurons; "
    f"about {history['active_per_sample'][-1]:.0f} of them fire per sample"
)
print("iteration      loss   seconds  active/sample  changed neurons  index")
shown = range(clf.n_iter_)
if clf.n_iter_ > 8:
    shown = [*range(4), None, *range(clf.n_iter_ - 3, clf.n_iter_)]
for it in shown:
    if it is None:
        print("      ...")
        continue
    print(
        f"{it + 1:9d} {history['loss'][it]:9.4f} {history['seconds'][it]:9.3f} "
        f"{history['active_per_sample'][it]:14.1f} "
        f"{history['changed_neurons'][it]:16d}  {history['index_action'][it]}"
    )

# %%
# Summary
# -------
print("\nSummary")
print(f"  accuracy: sublinear {acc_s:.4f} vs MLP {acc_m:.4f} ({acc_s - acc_m:+.4f})")
print(f"  fit time: sublinear {time_s:.2f} s vs MLP {time_m:.2f} s", end="")
print(f" ({time_s / time_m:.2f}x)" if time_m > 0 else "")
