"""The memory guard against measured peaks, and fits under address-space limits.

Every configuration runs in a fresh process (``spawn``), so that its peak RSS
(``ru_maxrss``) is its own. Data: ``n x 8`` Gaussian rows, regression targets
``sin(X B)`` with ``n_outputs`` columns, or a classifier with ``n_outputs``
classes.

1. Estimate: the fit runs with ``memory_limit=None`` (no refusal); the peak
   RSS growth over the process's RSS just before ``fit`` is compared with
   ``memory_estimate_`` (the largest estimate of the guard: before fitting,
   and after every index query). Target (issue 21): growth <= 1.5x the
   estimate. ``start`` is the estimate made before fitting (with the budget
   for the growth of the firing pairs); ``growth`` the firing pairs after
   training over those expected at initialization.
2. Given limit: the fit runs again with ``memory_limit`` set to its own
   estimate before fitting (the tightest limit it is admitted under). Target:
   peak RSS growth <= 1.2x that limit, or a refusal (ValueError) once the
   firing pairs outgrow it: before any step was accepted, the fit raises;
   after, it stops with a ConvergenceWarning and keeps its accepted steps
   (``stopped_by_limit`` holds the message).
3. RLIMIT_AS: each configuration under address-space limits of 2, 4 and 8 GiB
   (``resource.setrlimit`` in the child, default ``memory_limit="auto"``,
   ``max_iter=1``). Target: it fits, or is refused with a ValueError in under
   a second; never a MemoryError or a crash in mid-fit.

4. Rows (``--rows N [N ...]``): the default regressor (``n_jobs=2``) on the
   rows of ``bench_scale.py --rows`` (``y = sin(x0) + x1 x2 + noise``, 16
   features), ``--max-iter`` iterations, each size in a fresh process with
   ``tracemalloc`` on: the peak RSS growth against the estimate before
   fitting and the largest estimate, the traced peak, the RSS the fit adds
   beyond it (``untraced_bytes``) and the firing pairs per row. Target:
   growth <= the estimate before fitting; the default limit admits the
   fit. Two iterations reach the peak of a fit (the second step's query,
   beside the first step's pairs).

Usage::

    python benchmarks/bench_memory.py            # full grid (about an hour)
    python benchmarks/bench_memory.py --quick    # six small configurations
    python benchmarks/bench_memory.py --configs 6 7 8 --merge   # a subset of
        # the full grid (indices into FULL + RLIMIT_ONLY), replacing those rows
        # in the results file and keeping the others
    python benchmarks/bench_memory.py --modes estimate   # without the runs
        # under their own estimate as memory_limit (--modes alone: RLIMIT_AS
        # runs only)
    python benchmarks/bench_memory.py --rows 1000000 2000000 --max-iter 2 \
        --output benchmarks/results/bench_memory_rows.json
    python benchmarks/bench_memory.py --rows 1000000 --estimate-only   # the
        # estimate before fitting only (no fit, no lock needed)

Each row records the commit it ran on (``commit``).

Writes ``benchmarks/results/bench_memory.json``.
"""

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
from _common import (
    GIB,
    RESULTS,
    current_commit,
    current_rss_bytes,
    peak_rss_bytes,
    run_isolated,
    write_json,
)

# (n_samples, n_neurons, sparsity, n_outputs, solver, kind)
QUICK = [
    (3000, 1536, 0.5, 1, "cholesky", "regressor"),
    (3000, 1536, 0.2, 10, "cholesky", "regressor"),
    (3000, 2**14, 0.7, 1, "cg", "regressor"),
    (3000, 2**18, 0.7, 1, "cg", "regressor"),
    (6000, 1536, 0.5, 100, "cg", "classifier"),
    (10000, 2**14, 0.5, 10, "cg", "regressor"),
]
FULL = QUICK + [
    (3000, 2**18, 0.7, 1, "cg", "classifier"),
    (10000, 1536, 0.7, 1, "cg", "classifier"),
    (10000, 2**20, 0.7, 1, "cg", "regressor"),
    (30000, 1536, 0.5, 1, "cg", "regressor"),
    (50000, 2**14, 0.5, 1, "cg", "regressor"),
    (100000, 1536, 0.5, 1, "cg", "regressor"),
    (3000, 2**14, 0.5, 100, "cg", "regressor"),
    (6000, 1536, 0.5, 10, "cholesky", "regressor"),
    (3000, 1536, 0.5, 100, "cholesky", "classifier"),
]
# Refused under every limit here (about 16 GiB): run under RLIMIT_AS only.
RLIMIT_ONLY = [(50000, 2**16, 0.2, 1, "cg", "regressor")]
RLIMITS = [2 * 2**30, 4 * 2**30, 8 * 2**30]
MODES = ("estimate", "given")


def _problem(n_samples, n_outputs, kind, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n_samples, 8))
    if kind == "classifier":
        # n_outputs classes, two for a binary classifier (one output)
        centers = rng.standard_normal((max(n_outputs, 2), 8))
        y = np.argmin(((X[:, None, :] - centers[None]) ** 2).sum(axis=2), axis=1)
        return X, y
    Y = np.sin(X @ rng.standard_normal((8, n_outputs)))
    return X, Y[:, 0] if n_outputs == 1 else Y


def _estimator(config, **params):
    from sklearn_sublinear import SublinearNewtonClassifier, SublinearNewtonRegressor

    n, m, sparsity, _, solver, kind = config
    regressor = kind != "classifier"
    cls = SublinearNewtonRegressor if regressor else SublinearNewtonClassifier
    return cls(n_neurons=m, sparsity=sparsity, solver=solver, random_state=0, **params)


def _start_estimate(est, X, y):
    """The guard's estimate before fitting (recorded by a spy on its check)."""
    from sklearn_sublinear import _memory

    seen = []
    check = _memory.MemoryGuard.check

    def spy(guard, parts, **kwargs):
        seen.append(dict(parts))
        raise _Stop

    _memory.MemoryGuard.check = spy
    try:
        est.fit(X, y)
    except _Stop:
        pass
    finally:
        _memory.MemoryGuard.check = check
    return seen[0]


class _Stop(Exception):
    pass


def measure(config, max_iter, limit_mode):
    """One configuration in this (fresh) process."""
    from scipy.stats import norm

    warnings.simplefilter("ignore")
    n, m, sparsity, n_outputs, solver, kind = config
    X, y = _problem(n, n_outputs, kind)
    est = _estimator(config, max_iter=max_iter, memory_limit=None)
    start = _start_estimate(est, X, y)
    if limit_mode == "given":
        est.set_params(memory_limit=sum(start.values()))
    rss0 = current_rss_bytes()
    t0 = time.perf_counter()
    outcome = "fit"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            est.fit(X, y)
        except ValueError as exc:
            outcome = f"refused: {exc}"
    # a refusal after an accepted step stops the fit and keeps its steps
    stopped = [w for w in caught if "The fit stopped at iteration" in str(w.message)]
    seconds = time.perf_counter() - t0
    peak = peak_rss_bytes() - rss0
    row = {
        "config": config,
        "outcome": outcome,
        "seconds": seconds,
        "peak_growth_bytes": peak,
        "start_parts": start,
        "start_bytes": sum(start.values()),
        "stopped_by_limit": str(stopped[0].message) if stopped else None,
    }
    if outcome == "fit":
        per_sample = max(est.history_["active_per_sample"], default=0.0)
        expected = m * norm.sf(est.threshold_)
        row.update(
            estimate_bytes=est.memory_estimate_,
            peak_over_estimate=peak / est.memory_estimate_,
            pairs=per_sample * n,
            pair_growth=per_sample / expected,
        )
    return row


def measure_rows(n, max_iter):
    """The default regressor on ``n`` rows of ``bench_scale.sin_product`` in
    this (fresh) process."""
    import tracemalloc

    from bench_scale import sin_product

    from sklearn_sublinear import SublinearNewtonRegressor, _memory
    from sklearn_sublinear._memory import available_memory

    warnings.simplefilter("ignore")
    X, y = sin_product(n)
    totals = []
    check = _memory.MemoryGuard.check

    def spy(guard, parts, **kwargs):
        totals.append(dict(parts))
        return check(guard, parts, **kwargs)

    _memory.MemoryGuard.check = spy
    limit, source = available_memory()
    est = SublinearNewtonRegressor(
        n_jobs=2, random_state=0, max_iter=max_iter, memory_limit=None
    )
    rss0 = current_rss_bytes()
    tracemalloc.start()
    t0 = time.perf_counter()
    est.fit(X, y)
    seconds = time.perf_counter() - t0
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    peak = peak_rss_bytes() - rss0
    start = sum(totals[0].values())
    return {
        "n": n,
        "max_iter": max_iter,
        "seconds": seconds,
        "peak_growth_bytes": peak,
        "traced_peak_bytes": traced,
        "untraced_bytes": peak - traced,
        "start_parts": totals[0],
        "start_bytes": start,
        "estimate_bytes": est.memory_estimate_,
        "peak_over_start": peak / start,
        "peak_over_estimate": peak / est.memory_estimate_,
        "default_limit_bytes": limit,
        "default_limit_source": source,
        "admitted": limit is None or start <= limit,
        "active_per_sample": est.history_["active_per_sample"],
        "inner_iterations": est.history_["inner_iterations"],
    }


def estimate_rows(n, max_iter):
    """The estimate before fitting of :func:`measure_rows`'s fit (no fit)."""
    from bench_scale import sin_product

    from sklearn_sublinear import SublinearNewtonRegressor
    from sklearn_sublinear._memory import available_memory

    X, y = sin_product(n)
    limit, source = available_memory()
    est = SublinearNewtonRegressor(n_jobs=2, random_state=0, max_iter=max_iter)
    start = _start_estimate(est, X, y)
    return {
        "n": n,
        "start_parts": start,
        "start_bytes": sum(start.values()),
        "default_limit_bytes": limit,
        "default_limit_source": source,
        "admitted": limit is None or sum(start.values()) <= limit,
    }


def rows_part(args):
    """``--rows``: each size in a fresh process; write the results."""
    commit = current_commit()
    rows = []
    for n in args.rows:
        if args.estimate_only:
            row = run_isolated(estimate_rows, n, args.max_iter)
            row["commit"] = commit
            rows.append(row)
            print(f"{n} rows: estimate {row['start_bytes'] / GIB:.3f} GiB", flush=True)
            write_json("bench_memory_rows", {"rows": rows}, args.output)
            continue
        row = run_isolated(measure_rows, n, args.max_iter)
        row["commit"] = commit
        rows.append(row)
        print(
            f"{n} rows: peak +{row['peak_growth_bytes'] / GIB:.3f} GiB (traced "
            f"{row['traced_peak_bytes'] / GIB:.3f}), estimate before fitting "
            f"{row['start_bytes'] / GIB:.3f} GiB (ratio {row['peak_over_start']:.2f}), "
            f"largest {row['estimate_bytes'] / GIB:.3f}, admitted {row['admitted']}, "
            f"pairs per row {[round(a, 1) for a in row['active_per_sample']]}, "
            f"{row['seconds']:.0f} s",
            flush=True,
        )
        write_json(
            "bench_memory_rows",
            {"max_iter": args.max_iter, "rows": rows},
            args.output,
        )


def under_rlimit(config, rlimit, max_iter):
    """One configuration under ``RLIMIT_AS = rlimit`` (call in a fresh process)."""
    import resource

    warnings.simplefilter("ignore")
    resource.setrlimit(resource.RLIMIT_AS, (rlimit, rlimit))
    n, _, _, n_outputs, _, kind = config
    try:
        X, y = _problem(n, n_outputs, kind)
        est = _estimator(config, max_iter=max_iter)
    except MemoryError:
        return {"outcome": "no room for the data", "seconds": 0.0}
    t0 = time.perf_counter()
    try:
        est.fit(X, y)
        outcome = "fit"
    except ValueError as exc:
        outcome = "refused" if "Fitting needs about" in str(exc) else f"error: {exc}"
        message = str(exc)
    except MemoryError:
        outcome, message = "MemoryError", ""
    else:
        message = ""
    return {
        "outcome": outcome,
        "seconds": time.perf_counter() - t0,
        "message": message[:300],
    }


def _isolated_rlimit(config, rlimit, max_iter):
    try:
        return run_isolated(under_rlimit, config, rlimit, max_iter)
    except Exception as exc:  # the child died (e.g. killed or crashed)
        return {"outcome": f"crash: {type(exc).__name__}", "seconds": None}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--max-iter", type=int, default=5)
    parser.add_argument("--skip-rlimit", action="store_true")
    parser.add_argument("--output", default=None)
    parser.add_argument("--configs", type=int, nargs="+", default=None)
    parser.add_argument("--merge", action="store_true")
    parser.add_argument(
        "--modes", nargs="*", default=["estimate", "given"], choices=MODES
    )
    parser.add_argument("--rows", type=int, nargs="+", default=None)
    parser.add_argument("--estimate-only", action="store_true")
    args = parser.parse_args()
    if args.rows:
        rows_part(args)
        return
    configs = QUICK if args.quick else FULL
    rlimit_configs = configs + RLIMIT_ONLY
    if args.configs is not None:
        rlimit_configs = [rlimit_configs[i] for i in args.configs]
        configs = [c for c in rlimit_configs if c in configs]
    kept, kept_rlimit = _kept(args, rlimit_configs) if args.merge else ([], [])
    commit = current_commit()
    rows = []
    for config in configs:
        for mode in args.modes:
            row = run_isolated(measure, config, args.max_iter, mode)
            row.update(mode=mode, commit=commit, max_iter=args.max_iter)
            rows.append(row)
            # saved as it goes: a run stopped early keeps its rows
            _save(kept + rows, list(kept_rlimit), args)
            ratio = row.get("peak_over_estimate")
            print(
                f"{mode:8s} {config}: {row['outcome'][:60]}, "
                f"peak +{row['peak_growth_bytes'] / GIB:.3f} GiB, start estimate "
                f"{row['start_bytes'] / GIB:.3f} GiB"
                + (
                    f", largest {row['estimate_bytes'] / GIB:.3f} GiB, "
                    f"ratio {ratio:.2f}, pair growth {row['pair_growth']:.1f}"
                    if ratio is not None
                    else ""
                )
                + f", {row['seconds']:.1f} s",
                flush=True,
            )
    rows = kept + rows
    rlimit_rows = list(kept_rlimit)
    _save(rows, rlimit_rows, args)
    if not args.skip_rlimit:
        for config in rlimit_configs:
            for rlimit in RLIMITS:
                row = _isolated_rlimit(config, rlimit, 1)
                row.update(config=config, rlimit=rlimit, commit=commit)
                rlimit_rows.append(row)
                _save(rows, rlimit_rows, args)
                seconds = row["seconds"]
                print(
                    f"RLIMIT_AS {rlimit / GIB:.0f} GiB {config}: {row['outcome']}"
                    + ("" if seconds is None else f" in {seconds:.2f} s"),
                    flush=True,
                )
    print(_save(rows, rlimit_rows, args))


def _kept(args, configs):
    """The rows of the results file that this run does not measure again."""
    path = Path(args.output) if args.output else RESULTS / "bench_memory.json"
    if not path.exists():
        return [], []
    old = json.loads(path.read_text())
    rerun = [list(c) for c in configs]
    runs = [
        r
        for r in old.get("runs", [])
        if r["config"] not in rerun or r["mode"] not in args.modes
    ]
    rlimit = [
        r for r in old.get("rlimit", []) if r["config"] not in rerun or args.skip_rlimit
    ]
    return runs, rlimit


def _save(rows, rlimit_rows, args):
    """Write the results so far (a run stopped early keeps them); return the
    summary."""
    estimate = [r for r in rows if r["mode"] == "estimate" and "estimate_bytes" in r]
    given = [r for r in rows if r["mode"] == "given"]
    summary = {
        "peak_over_estimate_max": max(
            (r["peak_over_estimate"] for r in estimate), default=None
        ),
        "peak_over_given_limit_max": max(
            (
                r["peak_growth_bytes"] / r["start_bytes"]
                for r in given
                if r["outcome"] == "fit"
            ),
            default=None,
        ),
        "given_limit_refused_mid_fit": sum(r["outcome"] != "fit" for r in given),
        "given_limit_stopped_early": sum(
            bool(r.get("stopped_by_limit")) for r in given
        ),
        "pair_growth_max": max((r["pair_growth"] for r in estimate), default=None),
        "rlimit_memory_errors": sum(
            r["outcome"] not in ("fit", "refused", "no room for the data")
            for r in rlimit_rows
        ),
        "rlimit_refusal_seconds_max": max(
            (r["seconds"] for r in rlimit_rows if r["outcome"] == "refused"),
            default=None,
        ),
        "targets": {
            "peak_over_estimate": 1.5,
            "peak_over_given_limit": 1.2,
            "refusal_seconds": 1.0,
        },
    }
    write_json(
        "bench_memory",
        {"max_iter": args.max_iter, "runs": rows, "rlimit": rlimit_rows, **summary},
        args.output,
    )
    return summary


if __name__ == "__main__":
    main()
