"""
===========
Quick start
===========

Fit the default :class:`~sklearn_sublinear.SublinearNewtonClassifier` on the
handwritten digits data set and compare its test accuracy and fit time with
scikit-learn's :class:`~sklearn.neural_network.MLPClassifier`. Then fit a
*wide* network on synthetic data, where the tree index pays off:
``index="auto"`` picks the tree, and the same fit with ``index="dense"`` gives
the same model, more slowly.

The network has many neurons but only a few of them fire for a given sample,
so each Gauss-Newton iteration touches a small part of the weights. A handful
of iterations is usually enough.

This script is also the first command of the README's quick start::

    python examples/plot_quick_start.py
"""

# %%
# Data
# ----
# The estimator standardizes the features itself, appends a bias coordinate
# and scales every row to unit length (see the user guide), so it needs no
# scaler in front. The MLP does: it gets a
# :class:`~sklearn.preprocessing.StandardScaler`.
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_sublinear import SublinearNewtonClassifier, SublinearNewtonRegressor

X, y = load_digits(return_X_y=True)
digits = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
print(f"digits: {len(digits[0])} training and {len(digits[1])} test samples")
results = {}


def fit_and_score(name, model, data):
    X_train, X_test, y_train, y_test = data
    start = time.perf_counter()
    model.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    score = model.score(X_test, y_test)
    results[name] = (score, seconds)
    print(f"{name:<40s} score {score:.4f}   fit time {seconds:6.2f} s")
    return model


# %%
# The default network against the MLP
# ------------------------------------
# Both run with their default parameters, except that the MLP gets
# ``max_iter=500`` so that it converges.
default = fit_and_score(
    "SublinearNewtonClassifier()", SublinearNewtonClassifier(random_state=0), digits
)
mlp = fit_and_score(
    "MLPClassifier(max_iter=500)",
    make_pipeline(StandardScaler(), MLPClassifier(max_iter=500, random_state=0)),
    digits,
)

# %%
# ``history_`` records one entry per Gauss-Newton iteration: the training
# loss, the wall-clock time, how many neurons fired per sample on average and
# what the index did (``"dense"``: the dense index computed every
# pre-activation; ``"update"``: the tree index found the firing neurons).
history = default.history_
print(
    f"\n{default.n_iter_} Gauss-Newton iterations with {default.n_neurons} neurons; "
    f"about {history['active_per_sample'][-1]:.0f} of them fire per sample"
)
print("iteration      loss   seconds  active/sample  changed neurons  index")
for it in range(default.n_iter_):
    print(
        f"{it + 1:9d} {history['loss'][it]:9.4f} {history['seconds'][it]:9.3f} "
        f"{history['active_per_sample'][it]:14.1f} "
        f"{history['changed_neurons'][it]:16d}  {history['index_action'][it]}"
    )

# %%
# A wide network: the tree index against the dense one
# ----------------------------------------------------
# The tree index pays off for wide layers with few firing neurons per sample
# (``n * k`` well below ``m``) on rows that spread out, so that each neuron
# fires on few of them. On 1,000 rows of 64 Gaussian features, a layer of
# ``2**19`` neurons with ``sparsity=0.7`` fires about ``(2**19) ** 0.3``, some
# fifty, neurons per sample at the start. The dense index computes all
# ``n * m`` pre-activations at every iteration; the tree index only
# recomputes the neurons that moved, and its trees prove that the others stay
# silent. ``index="auto"`` (the default) picks the tree here. The dense index
# finds exactly the same firing neurons, so both fits give the same model and
# only the time differs. Building the trees takes one pass over all ``n * m``
# products, as the dense index makes at every iteration, so a whole fit gains
# less than an iteration.
rng = np.random.RandomState(0)
X_wide = rng.normal(size=(1500, 64))
u, v, w = rng.normal(size=(3, 64)) / 8.0
y_wide = np.sin(3 * X_wide @ u) + (X_wide @ v) ** 2 + 0.5 * X_wide @ w
y_wide += 0.1 * rng.normal(size=1500)
synthetic = (X_wide[:1000], X_wide[1000:], y_wide[:1000], y_wide[1000:])
print("\nsynthetic regression: 1000 training and 500 test rows, 64 features")

# A fixed damping floor, alpha=1e-3, runs the stopping rule's usual handful of
# iterations; alpha="auto" (the default) may stop after one or two, which
# leaves the index little to gain over the cost of building it.
WIDE = dict(n_neurons=2**19, sparsity=0.7, alpha=1e-3, random_state=0)
wide = {
    "tree": fit_and_score(
        'n_neurons=2**19, index="auto"', SublinearNewtonRegressor(**WIDE), synthetic
    ),
    "dense": fit_and_score(
        'n_neurons=2**19, index="dense"',
        SublinearNewtonRegressor(**WIDE, index="dense"),
        synthetic,
    ),
}
fit_and_score(
    "MLPRegressor(max_iter=500)",
    make_pipeline(StandardScaler(), MLPRegressor(max_iter=500, random_state=0)),
    synthetic,
)
for name, model in wide.items():
    # "update" is the tree index's action, "dense" the dense index's.
    actions = sorted(set(model.history_["index_action"]))
    seconds = model.history_["seconds"]
    print(
        f"  {name:5s}: index actions {actions}, {model.n_iter_} iterations, "
        f"median {np.median(seconds):.3f} s per iteration"
    )
X_test = synthetic[1]
same = np.array_equal(wide["tree"].predict(X_test), wide["dense"].predict(X_test))
print(f"  identical predictions: {same}")

# %%
# Summary
# -------
# (The scores are accuracy for the classifiers and R2 for the regressors.)
accuracy_s, time_s = results["SublinearNewtonClassifier()"]
accuracy_m, time_m = results["MLPClassifier(max_iter=500)"]
time_tree = results['n_neurons=2**19, index="auto"'][1]
time_dense = results['n_neurons=2**19, index="dense"'][1]
iter_tree = np.median(wide["tree"].history_["seconds"])
iter_dense = np.median(wide["dense"].history_["seconds"])
print("\nSummary")
print(
    f"  digits, default network vs MLP: accuracy {accuracy_s:.4f} vs "
    f"{accuracy_m:.4f}, fit time {time_s:.2f} s vs {time_m:.2f} s"
)
r2_wide = results['n_neurons=2**19, index="auto"'][0]
r2_mlp = results["MLPRegressor(max_iter=500)"][0]
print(f"  synthetic, wide network vs MLP: R2 {r2_wide:.4f} vs {r2_mlp:.4f}")
print(
    f"  wide network, tree vs dense index: {iter_dense / iter_tree:.1f}x faster "
    f"per iteration, {time_dense / time_tree:.1f}x per fit "
    f"({time_tree:.2f} s vs {time_dense:.2f} s), same predictions: {same}"
)
