"""
===========================================
Class probabilities and decision function
===========================================

:class:`~sklearn_sublinear.SublinearNewtonClassifier` minimizes the log loss,
so its :meth:`~sklearn_sublinear.SublinearNewtonClassifier.predict_proba`
returns probabilities (a sigmoid for two classes, a softmax for more) of the
raw network output given by
:meth:`~sklearn_sublinear.SublinearNewtonClassifier.decision_function`.
This example draws the probability of one class over the plane for a
two-dimensional problem and checks calibration on held-out data.
"""

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.datasets import make_moons
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split

from sklearn_sublinear import SublinearNewtonClassifier

QUICK = os.environ.get("SKLEARN_SUBLINEAR_QUICK", "0") not in ("", "0")

X, y = make_moons(n_samples=400 if QUICK else 1500, noise=0.25, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

clf = SublinearNewtonClassifier(n_neurons=2048, alpha=1e-2, random_state=0)
clf.fit(X_train, y_train)

proba = clf.predict_proba(X_test)
print("classes:", clf.classes_)
print("first rows of predict_proba:\n", np.round(proba[:5], 3))
print("rows sum to one:", np.allclose(proba.sum(axis=1), 1.0))
print(f"test accuracy {clf.score(X_test, y_test):.4f}")
print(f"test log loss {log_loss(y_test, proba):.4f}")

# The decision function is the raw output; its sign gives the predicted class.
decision = clf.decision_function(X_test)
agree = np.array_equal(clf.classes_[(decision > 0).astype(int)], clf.predict(X_test))
print("decision_function > 0 agrees with predict:", agree)

# %%
# Probability over the plane
# --------------------------
xx, yy = np.meshgrid(
    np.linspace(X[:, 0].min() - 0.5, X[:, 0].max() + 0.5, 150),
    np.linspace(X[:, 1].min() - 0.5, X[:, 1].max() + 0.5, 150),
)
grid_proba = clf.predict_proba(np.c_[xx.ravel(), yy.ravel()])[:, 1].reshape(xx.shape)

fig, ax = plt.subplots(figsize=(5.5, 4))
contour = ax.contourf(xx, yy, grid_proba, levels=20, cmap="RdBu_r", alpha=0.8)
ax.scatter(X_test[:, 0], X_test[:, 1], c=y_test, cmap="RdBu_r", edgecolor="k")
fig.colorbar(contour, ax=ax, label="P(class 1)")
ax.set_title("predict_proba on the plane (test points)")
fig.tight_layout()
plt.show()

# %%
# Calibration on the test set
# ---------------------------
# Binned predicted probabilities against the observed fraction of positives.
frac_pos, mean_pred = calibration_curve(y_test, proba[:, 1], n_bins=8)
fig, ax = plt.subplots(figsize=(4.5, 4))
ax.plot([0, 1], [0, 1], "k:", label="perfectly calibrated")
ax.plot(mean_pred, frac_pos, "o-", label="network")
ax.set_xlabel("mean predicted probability")
ax.set_ylabel("fraction of positives")
ax.set_title("Calibration")
ax.legend()
fig.tight_layout()
plt.show()
