"""
======================================
Regression with several outputs
======================================

:class:`~sklearn_sublinear.SublinearNewtonRegressor` accepts a target of shape
``(n_samples, n_outputs)``. All outputs share the hidden weights and therefore
the sets of firing neurons; each output has its own fixed vector of output
signs. Here the network learns a point on a noisy curve (two outputs) from
its position along the curve and one nuisance feature.
"""

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_sublinear import SublinearNewtonRegressor

QUICK = os.environ.get("SKLEARN_SUBLINEAR_QUICK", "0") not in ("", "0")

rng = np.random.RandomState(0)
n_samples = 600 if QUICK else 2000
t = rng.uniform(-np.pi, np.pi, size=n_samples)
X = np.column_stack([t, rng.normal(size=n_samples)])
Y = np.column_stack([np.sin(2 * t) + 0.5 * t, np.cos(t)])
Y += 0.05 * rng.normal(size=Y.shape)
X_train, X_test, Y_train, Y_test = train_test_split(X, Y, random_state=0)

# %%
# Fit and compare with a linear model
# -----------------------------------
# A smooth, low-noise target rewards more Gauss-Newton iterations than the
# default ``tol`` allows, so ``tol`` is lowered.
# The network standardizes its inputs itself; Ridge gets a scaler.
net = SublinearNewtonRegressor(
    n_neurons=4096, alpha=1e-3, tol=1e-2, max_iter=50, random_state=0
)
net.fit(X_train, Y_train)
ridge = make_pipeline(StandardScaler(), Ridge()).fit(X_train, Y_train)

Y_net = net.predict(X_test)
print("prediction shape:", Y_net.shape)
for name, model in [("SublinearNewtonRegressor", net), ("Ridge", ridge)]:
    Y_pred = model.predict(X_test)
    per_output = r2_score(Y_test, Y_pred, multioutput="raw_values")
    print(f"{name:<26s} R^2 per output: {np.round(per_output, 4)}")

# %%
# Plot the two outputs against the position on the curve
# --------------------------------------------------------
# The predictions also depend on the nuisance feature, hence the spread.
order = np.argsort(X_test[:, 0])
fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), sharex=True)
for k, ax in enumerate(axes):
    ax.plot(X_test[order, 0], Y_test[order, k], ".", alpha=0.4, label="test data")
    ax.plot(X_test[order, 0], Y_net[order, k], ".", label="network")
    ax.set_xlabel("t")
    ax.set_title(f"output {k}")
axes[0].legend()
fig.tight_layout()
plt.show()
