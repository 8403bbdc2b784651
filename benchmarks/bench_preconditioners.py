"""Preconditioners of the matrix-free CG solver on the systems of real fits.

Setting: ``SublinearNewtonRegressor(solver="cg", max_iter=2, random_state=0)``
is fitted on (a) 20,000 rows of the ``diamonds`` table and (b) 100,000 rows of
``make_friedman1(n_features=16)``, the problems of ``bench_scale.py`` (same
loader and split). The sample-space system of its last Gauss-Newton iteration
(active sets, curvatures, right-hand side) is recorded, and every preconditioner
of ``CGSystem`` (``_other_preconditioners.PRECONDITIONERS``: ``none``,
``nystrom``, ``sketch``, ``block_jacobi``) is built on it and solves it at the dampings
``lam = f * lam_fit``, ``f = 1, 10, 100``, where ``lam_fit`` is the damping the
fit used for that system: the solver's floor, ``alpha = 1e-3`` times the trace
of ``D^(1/2) J J^T D^(1/2)``, lowered for large total sample weights (see
``_gauss_newton.py``), where the damping sits after accepted steps; larger
ones follow rejected steps. The ratio ``lam_fit / trace`` is printed.

Per preconditioner: setup seconds (``CGSystem`` construction, including the
operator shared by all), CG iterations to ``CG_RTOL``, seconds per solve and
total = setup + solve, medians over ``--repeats`` (2) runs that cycle through
the preconditioners side by side (the machine may be loaded), and the peak memory
allocated during setup and one solve (``tracemalloc``, a separate untimed run).
Ratios are totals over ``nystrom``'s, the former default.

Usage::

    python benchmarks/bench_preconditioners.py            # 5-6 min on 2 cores
    python benchmarks/bench_preconditioners.py --quick    # 3,000 / 10,000 rows, < 1 min

Writes ``benchmarks/results/bench_preconditioners.json``.
"""

import argparse
import contextlib
import time
import warnings

import numpy as np
from _common import traced_peak, write_json
from _other_preconditioners import DEFAULT, PRECONDITIONERS
from bench_scale import _problem

FACTORS = (1, 10, 100)
MIB = 2.0**20


@contextlib.contextmanager
def recorded_systems():
    """Record every CG system of the fits run inside the block.

    Yields a list that receives ``[network, active, X, dsqrt, rhs, damping]``
    per system: copies of what ``GaussNewton`` passes to ``CGSystem``, and its
    first right-hand side and damping.
    """
    from sklearn_sublinear._network import TwoLayerNetwork
    from sklearn_sublinear._solvers import _systems

    records = []
    base = _systems.SYSTEMS["cg"]

    class Recorder(base):
        def __init__(self, network, active, X, dsqrt, **kwargs):
            super().__init__(network, active, X, dsqrt, **kwargs)
            snapshot = TwoLayerNetwork(
                network.W.copy(),
                network.signs,
                network.threshold,
                network.intercept.copy(),
                norm_scale=network.norm_scale,
            )
            self._record = [snapshot, active.copy(), X, dsqrt.copy(), None, None]
            records.append(self._record)

        def solve(self, lam, R):
            if self._record[4] is None:
                self._record[4:] = R.copy(), lam
            return super().solve(lam, R)

    _systems.SYSTEMS["cg"] = Recorder
    try:
        yield records
    finally:
        _systems.SYSTEMS["cg"] = base


def fit_system(problem, n_train):
    """The last CG system of a 2-iteration fit on ``problem``."""
    from sklearn.exceptions import ConvergenceWarning

    from sklearn_sublinear import SublinearNewtonRegressor

    X, y, _, _ = _problem(problem, n_train, 0)
    est = SublinearNewtonRegressor(solver="cg", max_iter=2, random_state=0)
    with recorded_systems() as records, warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    return records[-1]


def run_once(record, name, lams):
    """Setup seconds, then (iterations, seconds) per damping."""
    from sklearn_sublinear._solvers._systems import CGSystem

    network, active, X, dsqrt, R, _ = record
    t0 = time.perf_counter()
    system = CGSystem(
        network, active, X, dsqrt, random_state=0, preconditioner=PRECONDITIONERS[name]
    )
    setup = time.perf_counter() - t0
    solves = []
    for lam in lams:
        t0 = time.perf_counter()
        system.solve(lam, R)
        solves.append((system.last_info["cg_iterations"], time.perf_counter() - t0))
    return setup, solves


def _print_case(results):
    base = results["nystrom"]["total_seconds"]
    header = " ".join(f"{'lam*' + str(f):>26s}" for f in FACTORS)
    print(f"{'':>13s} {'setup s':>8s} {'MiB':>6s} {header}")
    print(
        f"{'':>13s} {'':>8s} {'':>6s} "
        + " ".join(
            f"{'it':>4s} {'solve':>6s} {'total':>6s} {'/nys':>6s}" for _ in FACTORS
        )
    )
    for name, r in results.items():
        cells = " ".join(
            f"{it:4.0f} {s:6.2f} {t:6.2f} {t / b:6.2f}"
            for it, s, t, b in zip(
                r["iterations"], r["solve_seconds"], r["total_seconds"], base
            )
        )
        print(
            f"{name:>13s} {r['setup_seconds']:8.2f} "
            f"{r['peak_traced_bytes'] / MIB:6.0f} {cells}",
            flush=True,
        )


def run_case(problem, n_train, names, repeats):
    """Every preconditioner on one recorded system, at every damping factor."""
    t0 = time.perf_counter()
    record = fit_system(problem, n_train)
    network, active, X, dsqrt, _, lam_fit = record
    trace = float(dsqrt**2 @ network.gram_diagonal(active, X))
    lams = [f * lam_fit for f in FACTORS]
    print(
        f"\n{problem}: n={X.shape[0]}, d={X.shape[1]}, "
        f"active pairs={active.nnz}, damping of the fit "
        f"{lam_fit:.3g} = {lam_fit / trace:.3g} trace "
        f"(system recorded in {time.perf_counter() - t0:.1f} s)"
    )
    runs = {name: [] for name in names}
    for _ in range(repeats):
        for name in names:
            runs[name].append(run_once(record, name, lams))
    results = {}
    for name in names:
        setup = float(np.median([r[0] for r in runs[name]]))
        its = np.median([[s[0] for s in r[1]] for r in runs[name]], axis=0)
        secs = np.median([[s[1] for s in r[1]] for r in runs[name]], axis=0)
        # Memory does not depend on the iterations: the cheapest damping.
        peak, _ = traced_peak(run_once, record, name, lams[-1:])
        results[name] = {
            "setup_seconds": setup,
            "iterations": its.tolist(),
            "solve_seconds": secs.tolist(),
            "total_seconds": (setup + secs).tolist(),
            "peak_traced_bytes": peak,
            "raw": runs[name],
        }
    _print_case(results)
    return {
        "problem": problem,
        "n_samples": X.shape[0],
        "n_inputs": X.shape[1],
        "active_pairs": int(active.nnz),
        "lams": lams,
        "lam_over_trace": lam_fit / trace,
        "lam_factors": FACTORS,
        "results": results,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, < 1 min")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per case")
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    sizes = {"diamonds": 20_000, "friedman1_16": 100_000}
    if args.quick:
        sizes = {"diamonds": 3_000, "friedman1_16": 10_000}
    repeats = args.repeats
    names = list(PRECONDITIONERS)
    cases = [run_case(problem, n, names, repeats) for problem, n in sizes.items()]

    # Totals over the problems: at the fit's damping (one solve per accepted
    # iteration) and over all dampings.
    summary = {}
    for name in names:
        floor = sum(c["results"][name]["total_seconds"][0] for c in cases)
        every = sum(sum(c["results"][name]["total_seconds"]) for c in cases)
        summary[name] = {"total_at_floor": floor, "total_all_dampings": every}
    print(f"\n{'':>13s} {'sum floor s':>12s} {'sum all s':>10s}")
    for name, s in summary.items():
        print(
            f"{name:>13s} {s['total_at_floor']:12.2f} {s['total_all_dampings']:10.2f}"
        )
    fastest = min(summary, key=lambda k: summary[k]["total_at_floor"])
    print(f"fastest at the floor: {fastest}; default: {DEFAULT}")
    path = write_json(
        "bench_preconditioners",
        {
            "settings": {**vars(args), "repeats": repeats},
            "sizes": sizes,
            "cases": cases,
            "summary": summary,
            "fastest_at_floor": fastest,
            "default": DEFAULT,
        },
        args.output,
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
