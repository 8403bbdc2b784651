"""
=================================================
Time per iteration against width: tree vs dense
=================================================

With ``sparsity=alpha`` about ``m ** (1 - alpha)`` of the ``m`` neurons fire
for each sample. The dense index finds them by computing all ``n * m``
pre-activations at every Gauss-Newton iteration, so its cost grows linearly
with the width. The tree index keeps per-sample max-trees over blocks of
neurons and only recomputes the neurons that a step moved, so its cost grows
more slowly, as long as ``n * k`` stays well below ``m``.

Both indexes return exactly the same firing neurons, so the two fits are the
same model; only the time differs. The time of each iteration is read from
``history_["seconds"]``. The sizes here are small so that the example runs in
seconds; with few samples ``n * k`` is far below ``m`` at every width shown,
so the tree should be faster throughout, by more as the width grows. The
lines printed below come from the same run as the plot, and the last one
counts the widths at which the tree was faster in that run. See
:doc:`/benchmarks` for the measurements at large widths, where the per-sample
work of more rows moves the crossover.
"""

# %%
import os
import warnings
from collections import Counter

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sklearn_sublinear import SublinearNewtonRegressor

QUICK = os.environ.get("SKLEARN_SUBLINEAR_QUICK", "0") not in ("", "0")
# Every fit runs a fixed number of iterations (tol=0), on purpose.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

rng = np.random.RandomState(0)
n_samples, n_features = (100, 16) if QUICK else (300, 32)
X = rng.normal(size=(n_samples, n_features))
y = np.sin(X[:, 0]) + 0.5 * X[:, 1] * X[:, 2] + 0.1 * rng.normal(size=n_samples)

widths = 2 ** np.arange(12, 18) if QUICK else 2 ** np.arange(12, 20)
sparsity = 0.8
max_iter = 4 if QUICK else 6

# %%
# Fit with both indexes at every width
# ------------------------------------
# The first iteration builds the index from scratch, so the per-iteration time
# is the median over the later iterations.
seconds = {"tree": [], "dense": []}
for m in widths:
    preds = {}
    for index in ("tree", "dense"):
        est = SublinearNewtonRegressor(
            n_neurons=int(m),
            sparsity=sparsity,
            index=index,
            max_iter=max_iter,
            tol=0.0,
            random_state=0,
        )
        est.fit(X, y)
        per_iter = np.asarray(est.history_["seconds"], dtype=float)
        seconds[index].append(
            np.median(per_iter[1:] if per_iter.size > 1 else per_iter)
        )
        preds[index] = est.predict(X)
        if index == "tree":
            actions = Counter(est.history_["index_action"])
    same = np.allclose(preds["tree"], preds["dense"], rtol=1e-5, atol=1e-8)
    print(
        f"m={int(m):7d}  active/sample {est.history_['active_per_sample'][-1]:7.1f}  "
        f"tree {seconds['tree'][-1] * 1e3:8.1f} ms  "
        f"dense {seconds['dense'][-1] * 1e3:8.1f} ms  same predictions: {same}  "
        f"tree actions: {dict(actions)}"
    )

# %%
# Log-log plot
# ------------
# A slope of 1 means time proportional to the width.
fig, ax = plt.subplots(figsize=(6, 4))
for index, marker in [("tree", "o-"), ("dense", "s-")]:
    ax.loglog(widths, seconds[index], marker, base=2, label=f'index="{index}"')
    slope = np.polyfit(np.log(widths), np.log(seconds[index]), 1)[0]
    print(f'index="{index}": log-log slope {slope:.2f}')
faster = [int(m) for m, t, d in zip(widths, seconds["tree"], seconds["dense"]) if t < d]
print(
    f"the tree was faster at {len(faster)} of {len(widths)} widths; at m={widths[-1]} "
    f"{seconds['dense'][-1] / seconds['tree'][-1]:.1f}x faster than dense"
)
ax.set_xlabel("n_neurons (m)")
ax.set_ylabel("seconds per Gauss-Newton iteration")
ax.set_title(f"n={n_samples}, d={n_features}, sparsity={sparsity}")
ax.legend()
fig.tight_layout()
plt.show()
