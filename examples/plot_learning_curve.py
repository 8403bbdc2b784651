"""
=======================================
Cross-validation and a learning curve
=======================================

:func:`~sklearn.model_selection.cross_validate` reports the score and the fit
time of each fold; :func:`~sklearn.model_selection.learning_curve` shows how
the score grows with the number of training samples. The estimator works with
both like any scikit-learn estimator.
"""

# %%
import os
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold, cross_validate, learning_curve

from sklearn_sublinear import SublinearNewtonClassifier

QUICK = os.environ.get("SKLEARN_SUBLINEAR_QUICK", "0") not in ("", "0")

X, y = load_digits(return_X_y=True)
if QUICK:
    X, y = X[:600], y[:600]

# A capped number of Gauss-Newton iterations keeps the many fits quick; the
# fits that reach the cap would warn about it.
warnings.filterwarnings("ignore", category=ConvergenceWarning)
model = SublinearNewtonClassifier(
    n_neurons=512 if QUICK else 2048, max_iter=10 if QUICK else 30, random_state=0
)
cv = StratifiedKFold(n_splits=3 if QUICK else 5, shuffle=True, random_state=0)

# %%
# Cross-validation
# ----------------
scores = cross_validate(model, X, y, cv=cv, return_train_score=True)
for fold, (train, test, sec) in enumerate(
    zip(scores["train_score"], scores["test_score"], scores["fit_time"])
):
    print(f"fold {fold}: train {train:.4f}  test {test:.4f}  fit {sec:.2f} s")
print(
    f"mean test accuracy {scores['test_score'].mean():.4f} "
    f"+/- {scores['test_score'].std():.4f}"
)

# %%
# Learning curve
# --------------
train_sizes = np.linspace(0.2, 1.0, 3 if QUICK else 6)
sizes, train_scores, test_scores = learning_curve(
    model, X, y, cv=cv, train_sizes=train_sizes
)

fig, ax = plt.subplots(figsize=(6, 4))
for scores_, label in [(train_scores, "training"), (test_scores, "validation")]:
    mean, std = scores_.mean(axis=1), scores_.std(axis=1)
    ax.plot(sizes, mean, "o-", label=label)
    ax.fill_between(sizes, mean - std, mean + std, alpha=0.2)
ax.set_xlabel("number of training samples")
ax.set_ylabel("accuracy")
ax.set_title("Learning curve on digits")
ax.legend()
fig.tight_layout()
plt.show()
