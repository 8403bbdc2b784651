"""Fits next to a busy CPU.

The same fit on an idle machine and next to another process that
runs BLAS matrix products on all the machine's cores (numpy's default
threads), at ``n_jobs`` None, 1 and 2. Target (issue 21): a busy fit takes
at most 2.5x its idle time. The reference condition ``"no limit"`` runs the
same code with the library's BLAS limits switched off (a fit on BLAS's own
threads). Nested parallelism (grid searches under joblib's backends) is
measured by ``bench_nested.py``.

Fit: ``SublinearNewtonRegressor(n_neurons=512, random_state=0)`` on 2,000 x 8
rows (``solver="auto"`` picks CG), median of ``--repeats`` fits after one
warm-up fit. Timings are wall-clock; other processes on the machine add noise
(run under the benchmark lock).

Usage::

    python benchmarks/bench_busy_cpu.py            # 7 repeats
    python benchmarks/bench_busy_cpu.py --quick    # 3 repeats

Writes ``benchmarks/results/bench_busy_cpu.json``.
"""

import contextlib
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np
from _common import base_parser, write_json

BUSY = """
import numpy as np
a = np.random.RandomState(0).standard_normal((1500, 1500))
while True:
    a = a @ a
    a /= np.abs(a).max()
"""


def _data(n_samples=2000, n_features=8):
    rng = np.random.RandomState(0)
    X = rng.standard_normal((n_samples, n_features))
    return X, np.sin(X[:, 0]) + X[:, 1] * X[:, 2] + 0.1 * rng.standard_normal(n_samples)


def _fit_seconds(n_jobs, repeats):
    from sklearn_sublinear import SublinearNewtonRegressor

    X, y = _data()
    times = []
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        SublinearNewtonRegressor(n_neurons=512, random_state=0, n_jobs=n_jobs).fit(X, y)
        times.append(time.perf_counter() - t0)
    return times[1:]


@contextlib.contextmanager
def _busy():
    proc = subprocess.Popen([sys.executable, "-c", BUSY])
    try:
        time.sleep(1.0)
        yield
    finally:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def _no_blas_limit():
    """The library's BLAS limits replaced by no-ops (reference condition)."""
    patched = [
        module
        for name, module in list(sys.modules.items())
        if name.startswith("sklearn_sublinear")
        and hasattr(module, "one_blas_thread")
        and callable(module.one_blas_thread)
    ]
    saved = [module.one_blas_thread for module in patched]
    for module in patched:
        module.one_blas_thread = contextlib.nullcontext
    try:
        yield
    finally:
        for module, original in zip(patched, saved):
            module.one_blas_thread = original


def busy_cpu(repeats):
    import sklearn_sublinear  # noqa: F401  (the modules to patch)
    import sklearn_sublinear._solvers  # noqa: F401

    rows = []
    for limits in ("library", "no limit"):
        guard = _no_blas_limit() if limits == "no limit" else contextlib.nullcontext()
        with guard:
            for n_jobs in (None, 1, 2):
                idle = statistics.median(_fit_seconds(n_jobs, repeats))
                with _busy():
                    busy = statistics.median(_fit_seconds(n_jobs, repeats))
                row = {
                    "limits": limits,
                    "n_jobs": n_jobs,
                    "idle_s": idle,
                    "busy_s": busy,
                    "ratio": busy / idle,
                }
                print(
                    f"{limits:9s} n_jobs={n_jobs!s:4s} idle {idle:.3f} s, "
                    f"busy {busy:.3f} s, ratio {busy / idle:.2f}",
                    flush=True,
                )
                rows.append(row)
    return rows


def main():
    parser = base_parser(__doc__)
    args = parser.parse_args()
    repeats = args.repeats or (3 if args.quick else 7)
    warnings.simplefilter("ignore")
    payload = {"repeats": repeats, "rows": busy_cpu(repeats)}
    target = max(r["ratio"] for r in payload["rows"] if r["limits"] == "library")
    payload["target"] = {"busy_over_idle_max": target, "goal": 2.5}
    print(f"largest busy/idle ratio with the library's limits: {target:.2f} (<= 2.5)")
    path = write_json("bench_busy_cpu", payload, args.output)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
