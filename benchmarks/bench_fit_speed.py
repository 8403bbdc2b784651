"""Fit time of the conjugate gradient path, this tree against another, side by side.

Issue 17 (speed): the Gauss-Newton fits whose time is mostly the conjugate
gradient's Gram products and the index queries, each in a fresh process, for
this source tree and, with ``--before PATH``, for another source tree with
its compiled kernels built in place (``python setup.py build_ext --inplace``
in a ``git archive`` of the older commit), run round by round in alternation,
so that both see the same machine load. Cases:

- ``rows_100k``: ``y = sin(x0) + x1 x2 + 0.1 noise``, 100,000 x 16
  (``bench_scale.py --rows``' problem), ``n_jobs=2``;
- ``<table>``: the first 3-fold split of a real table of
  ``bench_real_tables.py`` (its preprocessing and pipeline), BLAS and
  OpenMP on one thread (``--threads 1`` there), default ``n_jobs``.

Every fit uses the defaults with ``random_state=0``. Reported per case and
version: the fit seconds of every round and their median, the ratio of the
medians (after / before), the Gauss-Newton and CG iterations, and whether the
two versions' loss curves are equal bit for bit.

Usage::

    python benchmarks/bench_fit_speed.py --before /tmp/before --repeats 3
    python benchmarks/bench_fit_speed.py --quick      # DoctorContacts only

Writes ``benchmarks/results/bench_fit_speed.json`` (or ``--output``).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from _common import base_parser, write_json

HERE = Path(__file__).resolve().parent
CASES = ("rows_100k", "DoctorContacts", "VietNamI", "diamonds", "PSID", "Car")


def _fit_case(case):
    """Fit one case in this process; return its measurements."""
    from threadpoolctl import threadpool_limits

    from sklearn_sublinear import SublinearNewtonRegressor

    if case == "rows_100k":
        from bench_scale import sin_product

        X, y = sin_product(100_000, random_state=0)
        model = SublinearNewtonRegressor(n_jobs=2, random_state=0)
        fitted = model
    else:
        from bench_real_tables import load_table, make_models
        from sklearn.model_selection import KFold, StratifiedKFold

        threadpool_limits(1)
        X, y, task = load_table(case, max_rows=20000)
        splitter = StratifiedKFold if task == "classification" else KFold
        train, _ = next(iter(splitter(3, shuffle=True, random_state=0).split(X, y)))
        X, y = X[train], y[train]
        model = make_models(task, {}, ["ours"])["ours"]
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    seconds = time.perf_counter() - t0
    if case != "rows_100k":
        fitted = model.regressor_[-1] if hasattr(model, "regressor_") else model[-1]
    history = fitted.history_
    return {
        "seconds": seconds,
        "n_iter": len(history["loss"]),
        "cg_iterations": [int(v) for v in history["inner_iterations"]],
        "loss": [float(v) for v in history["loss"]],
    }


def _run(case, source):
    """One fit of ``case`` in a fresh process, importing the package from
    ``source`` (None: this tree's)."""
    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(source), str(HERE)])
    proc = subprocess.run(
        [sys.executable, __file__, "--one", case],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=HERE,
    )
    return json.loads(proc.stdout.splitlines()[-1])


def run(cases, repeats, before=None):
    versions = {"after": None} | ({"before": before} if before else {})
    done = {(c, v): [] for c in cases for v in versions}
    for r in range(repeats):
        for case in cases:
            # alternate which version runs first
            order = list(versions) if r % 2 == 0 else list(versions)[::-1]
            for version in order:
                done[case, version].append(_run(case, versions[version]))
                print(
                    f"round {r + 1}: {case:15s} {version:6s} "
                    f"{done[case, version][-1]['seconds']:7.2f} s",
                    flush=True,
                )
    rows = []
    for case in cases:
        row = {"case": case}
        for version in versions:
            fits = done[case, version]
            row[version] = {
                "seconds": [f["seconds"] for f in fits],
                "median_s": statistics.median(f["seconds"] for f in fits),
                "n_iter": fits[0]["n_iter"],
                "cg_iterations": fits[0]["cg_iterations"],
                "loss": fits[0]["loss"],
            }
        if before:
            row["ratio"] = row["after"]["median_s"] / row["before"]["median_s"]
            row["same_loss_curve"] = row["after"]["loss"] == row["before"]["loss"]
        rows.append(row)
    return rows


def main():
    parser = base_parser(__doc__)
    parser.add_argument("--before", default=None, metavar="PATH")
    parser.add_argument("--cases", default=None, help="comma-separated subset")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # one fit, printed as JSON, for run()
        print(json.dumps(_fit_case(args.one)))
        return
    cases = args.cases.split(",") if args.cases else list(CASES)
    if args.quick:
        cases = ["DoctorContacts"]
    repeats = args.repeats or (1 if args.quick else 3)
    rows = run(cases, repeats, args.before)
    total = {}
    for version in ("after", "before"):
        if version in rows[0]:
            total[version] = float(np.sum([r[version]["median_s"] for r in rows]))
            print(f"{version}: summed medians {total[version]:.2f} s")
    for r in rows:
        extra = ""
        if "ratio" in r:
            extra = (
                f" before {r['before']['median_s']:7.2f} s ratio {r['ratio']:.3f}"
                f" same loss curve {r['same_loss_curve']}"
            )
        print(f"{r['case']:15s} after {r['after']['median_s']:7.2f} s{extra}")
    payload = {"repeats": repeats, "before": args.before, "rows": rows}
    payload["summed_medians"] = total
    path = write_json("bench_fit_speed", payload, args.output)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
