"""Nested parallelism: a grid search over the estimator, in parallel.

``GridSearchCV(n_jobs=2, refit=False)`` over 4 values of ``alpha`` x 2 folds
(8 fits) under joblib's ``threading`` and ``loky`` backends, with the
estimator's own ``n_jobs`` None, 1 and 2, against the sequential search
(``GridSearchCV(n_jobs=1)``, estimator ``n_jobs=None``) in the same run.
Two data sets: 2,000 x 8 rows (``solver="auto"`` picks CG) and 1,200 x 8 rows
(Cholesky, whose factorization is the largest BLAS call of a fit).

A fit runs BLAS on one thread and its fan-outs share the cores with the
fits running beside it (issue 21). ``--compare PYTHON`` runs the same cases
with another interpreter (e.g. the venv of a checkout before the change),
alternating with this one round by round, as condition ``"compare"``.
In-process runs record the BLAS thread counts that the fits' Gauss-Newton
loops started with (``blas_threads_seen``; loky's fits run in workers).

Timings are wall-clock medians of ``--repeats`` rounds after one warm-up
search per backend; run under the benchmark lock.

Usage::

    python benchmarks/bench_nested.py            # 3 rounds, both data sets
    python benchmarks/bench_nested.py --quick    # 1 round, CG data set only
    python benchmarks/bench_nested.py --compare ../main/.venv/bin/python

Writes ``benchmarks/results/bench_nested.json``.
"""

import argparse
import contextlib
import json
import statistics
import subprocess
import time
import warnings

import numpy as np
from _common import base_parser, write_json

DATASETS = {"cg": 2000, "cholesky": 1200}


def _data(n_samples, n_features=8):
    rng = np.random.RandomState(0)
    X = rng.standard_normal((n_samples, n_features))
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2] + 0.1 * rng.standard_normal(n_samples)
    return X, y


def _blas_threads():
    from threadpoolctl import threadpool_info

    return sorted(
        {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}
    )


@contextlib.contextmanager
def _recording(seen):
    """Record BLAS's thread counts as each fit's Gauss-Newton loop starts."""
    from sklearn_sublinear._solvers import _gauss_newton

    original = _gauss_newton.GaussNewton.run

    def run(self, *args, **kwargs):
        seen.append(tuple(_blas_threads()))
        return original(self, *args, **kwargs)

    _gauss_newton.GaussNewton.run = run
    try:
        yield
    finally:
        _gauss_newton.GaussNewton.run = original


def _search(X, y, search_jobs, estimator_jobs, backend):
    from joblib import parallel_config
    from sklearn.model_selection import GridSearchCV

    from sklearn_sublinear import SublinearNewtonRegressor

    search = GridSearchCV(
        SublinearNewtonRegressor(n_neurons=512, random_state=0, n_jobs=estimator_jobs),
        {"alpha": [1e-4, 1e-3, 1e-2, 1e-1]},
        cv=2,
        n_jobs=search_jobs,
        refit=False,
    )
    t0 = time.perf_counter()
    with parallel_config(backend=backend):
        search.fit(X, y)
    return time.perf_counter() - t0


CASES = [("loky", 1, None)] + [
    (backend, 2, jobs) for backend in ("threading", "loky") for jobs in (None, 1, 2)
]


def _round(datasets):
    """One search per case and data set: ``{case key: (seconds, seen)}``.

    The sequential search runs first, after a warm-up in the main thread only:
    a fit in another thread must not change what the main thread's fits see.
    """
    out = {}
    for name in datasets:
        X, y = _data(DATASETS[name])
        for i, (backend, search_jobs, estimator_jobs) in enumerate(CASES):
            if i == 0:
                _search(X, y, 1, None, backend)
            if i == 1:  # warm-up of the backends (imports, loky workers)
                for warm in ("threading", "loky"):
                    _search(X, y, 2, None, warm)
            seen = []
            with _recording(seen):
                seconds = _search(X, y, search_jobs, estimator_jobs, backend)
            key = f"{name}/{backend}/{search_jobs}/{estimator_jobs}"
            out[key] = (seconds, sorted(set(seen)))
    return out


def _compare_round(python, datasets):
    proc = subprocess.run(
        [python, __file__, "--round-json", *datasets],
        capture_output=True,
        text=True,
        check=True,
    )
    return {k: tuple(v) for k, v in json.loads(proc.stdout.splitlines()[-1]).items()}


def run(datasets, repeats, compare=None):
    conditions = ["library"] + (["compare"] if compare else [])
    rounds = {c: [] for c in conditions}
    for r in range(repeats):
        rounds["library"].append(_round(datasets))
        if compare:
            rounds["compare"].append(_compare_round(compare, datasets))
        print(f"round {r + 1} of {repeats} done", flush=True)
    rows = []
    for condition in conditions:
        for name in datasets:
            sequential = None
            for backend, search_jobs, estimator_jobs in CASES:
                key = f"{name}/{backend}/{search_jobs}/{estimator_jobs}"
                times = [done[key][0] for done in rounds[condition]]
                seen = sorted(
                    {tuple(t) for done in rounds[condition] for t in done[key][1]}
                )
                median = statistics.median(times)
                if search_jobs == 1:
                    sequential = median
                row = {
                    "condition": condition,
                    "dataset": name,
                    "n_samples": DATASETS[name],
                    "backend": backend if search_jobs > 1 else "sequential",
                    "search_n_jobs": search_jobs,
                    "estimator_n_jobs": estimator_jobs,
                    "seconds": times,
                    "median_s": median,
                    "over_sequential": median / sequential,
                    "blas_threads_seen": seen,
                }
                rows.append(row)
    for row in rows:
        _print_row(row)
    return rows


def _print_row(row):
    print(
        f"{row['condition']:8s} {row['dataset']:8s} {row['backend']:10s} "
        f"estimator n_jobs={row['estimator_n_jobs']!s:4s} {row['median_s']:6.2f} s "
        f"({row['over_sequential']:.2f}x sequential) "
        f"BLAS threads {row['blas_threads_seen']}",
        flush=True,
    )


def main():
    parser = base_parser(__doc__)
    parser.add_argument("--compare", default=None, metavar="PYTHON")
    parser.add_argument("--round-json", nargs="+", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if args.round_json:  # one round for --compare, printed as JSON
        print(json.dumps(_round(args.round_json)))
        return
    repeats = args.repeats or (1 if args.quick else 3)
    datasets = ["cg"] if args.quick else list(DATASETS)
    payload = {"repeats": repeats, "blas_threads_at_start": _blas_threads()}
    if args.compare:
        payload["compare_python"] = args.compare
    payload["rows"] = run(datasets, repeats, args.compare)
    path = write_json("bench_nested", payload, args.output)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
