"""
==========================================
Tuning the network with a grid search
==========================================

The three parameters that matter most are the width ``n_neurons``, the
``sparsity`` (which sets how many neurons fire per sample) and the damping
``alpha`` of the Gauss-Newton step, which also acts as L2 regularization.
Here they are tuned together with :class:`~sklearn.model_selection.GridSearchCV`.
The estimator standardizes its inputs itself, so it is searched directly, with
no scaler in front.
"""

# %%
import os
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split

from sklearn_sublinear import SublinearNewtonClassifier

QUICK = os.environ.get("SKLEARN_SUBLINEAR_QUICK", "0") not in ("", "0")

X, y = load_breast_cancer(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=0
)

# Each fit is capped at 10 Gauss-Newton iterations to keep the search quick;
# the fits that reach the cap would warn about it.
warnings.filterwarnings("ignore", category=ConvergenceWarning)
net = SublinearNewtonClassifier(max_iter=10, random_state=0)

# %%
# The grid
# --------
if QUICK:
    param_grid = {
        "n_neurons": [512, 2048],
        "sparsity": [0.5],
        "alpha": [1e-3, 1e-1],
    }
else:
    param_grid = {
        "n_neurons": [1024, 4096, 16384],
        "sparsity": [0.3, 0.5, 0.7],
        "alpha": [1e-4, 1e-3, 1e-2, 1e-1, 1.0],
    }
search = GridSearchCV(net, param_grid, cv=3, n_jobs=1)
search.fit(X_train, y_train)

print("best parameters:", search.best_params_)
print(f"best cross-validated accuracy: {search.best_score_:.4f}")
print(f"test accuracy of the refitted best model: {search.score(X_test, y_test):.4f}")

# %%
# All results
# -----------
results = pd.DataFrame(search.cv_results_)
columns = [
    "param_n_neurons",
    "param_sparsity",
    "param_alpha",
    "mean_test_score",
    "std_test_score",
    "mean_fit_time",
]
print(results[columns].sort_values("mean_test_score", ascending=False).to_string())

# %%
# Effect of the damping
# ---------------------
# For each width, the mean cross-validated accuracy as a function of ``alpha``
# (at the best sparsity for that width and damping).
fig, ax = plt.subplots(figsize=(6, 4))
for width in param_grid["n_neurons"]:
    rows = results[results["param_n_neurons"] == width]
    best = rows.groupby("param_alpha")["mean_test_score"].max()
    ax.plot(best.index.astype(float), best.to_numpy(), "o-", label=f"{width} neurons")
ax.set_xscale("log")
ax.set_xlabel("alpha (damping)")
ax.set_ylabel("mean CV accuracy")
ax.set_ylim(top=min(1.0, float(np.max(results["mean_test_score"])) + 0.02))
ax.legend()
fig.tight_layout()
plt.show()
