"""Training loss per iteration and per second: Gauss-Newton vs MLP adam/lbfgs.

On the same data, side by side in one process:

- ours: ``SublinearNewtonRegressor`` with default parameters except
  ``max_iter`` (30) and ``tol=0`` (no early stop, to see the whole curve);
  ``history_["loss"]`` against the cumulated ``history_["seconds"]``;
- ``MLPRegressor(solver="adam", max_iter=500)``: ``loss_curve_`` per epoch,
  timed at every epoch;
- ``MLPRegressor(solver="lbfgs", max_iter=500)``: the loss at every
  function evaluation of L-BFGS, timed.

Targets are standardized (zero mean, unit variance) for every model, and MLP
gets standardized features, so every loss is half the mean squared error of
standardized targets; MLP's adds its small L2 penalty (``alpha=1e-4``). The
final training and test R2 of each model are reported too.

Data: the unit-norm synthetic regression of ``bench_width_scaling.py``
(n=1000, d=64, 200 test rows) and scikit-learn's diabetes (442 rows, 25% test).

Usage::

    python benchmarks/bench_convergence.py
    python benchmarks/bench_convergence.py --quick
    python benchmarks/bench_convergence.py --from-json PATH.json   # redraw only

Writes ``benchmarks/results/bench_convergence.json`` and, with matplotlib,
``bench_convergence.png`` (loss vs iteration and vs seconds, log scale).
"""

import argparse
import json
import time
import warnings

import numpy as np
from _common import pyplot, save_figure, unit_norm_regression, write_json
from sklearn.datasets import load_diabetes
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor
from sklearn.preprocessing import StandardScaler

from sklearn_sublinear import SublinearNewtonRegressor


class _TimedMLP(MLPRegressor):
    """MLPRegressor that timestamps its training losses.

    adam: one point per epoch (the hook scikit-learn calls after each epoch);
    lbfgs: one point per loss evaluation. Only used for measurement.
    """

    def fit(self, X, y):
        self.trace_ = []
        self._t0 = time.perf_counter()
        return super().fit(X, y)

    def _update_no_improvement_count(self, *args, **kwargs):
        self.trace_.append((time.perf_counter() - self._t0, self.loss_curve_[-1]))
        return super()._update_no_improvement_count(*args, **kwargs)

    def _loss_grad_lbfgs(self, *args, **kwargs):
        loss, grad = super()._loss_grad_lbfgs(*args, **kwargs)
        self.trace_.append((time.perf_counter() - self._t0, float(loss)))
        return loss, grad


def _datasets(quick):
    X, y = unit_norm_regression(1200 if not quick else 500, 64, random_state=0)
    n = X.shape[0] - 200
    yield "unit_norm_synthetic", X[:n], y[:n], X[n:], y[n:]
    X, y = load_diabetes(return_X_y=True)
    X, X_test, y, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    yield "diabetes", X, y, X_test, y_test


def run(name, X, y, X_test, y_test, max_iter, mlp_max_iter):
    y_scaler = StandardScaler().fit(y[:, None])
    ys = y_scaler.transform(y[:, None]).ravel()
    ys_test = y_scaler.transform(y_test[:, None]).ravel()
    x_scaler = StandardScaler().fit(X)
    Xs, Xs_test = x_scaler.transform(X), x_scaler.transform(X_test)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0 = time.perf_counter()
        ours = SublinearNewtonRegressor(
            max_iter=max_iter, tol=0.0, n_jobs=2, random_state=0
        ).fit(X, ys)
        fit_seconds = time.perf_counter() - t0
        out.append(
            {
                "model": "sublinear_gauss_newton",
                "fit_seconds": fit_seconds,
                "loss": ours.history_["loss"],
                "seconds": np.cumsum(ours.history_["seconds"]).tolist(),
                "train_r2": r2_score(ys, ours.predict(X)),
                "test_r2": r2_score(ys_test, ours.predict(X_test)),
            }
        )
        for solver in ("adam", "lbfgs"):
            mlp = _TimedMLP(solver=solver, max_iter=mlp_max_iter, random_state=0)
            t0 = time.perf_counter()
            mlp.fit(Xs, ys)
            fit_seconds = time.perf_counter() - t0
            seconds, loss = zip(*mlp.trace_) if mlp.trace_ else ((), ())
            out.append(
                {
                    "model": f"mlp_{solver}",
                    "fit_seconds": fit_seconds,
                    "loss": list(loss),
                    "seconds": list(seconds),
                    "train_r2": r2_score(ys, mlp.predict(Xs)),
                    "test_r2": r2_score(ys_test, mlp.predict(Xs_test)),
                }
            )
    for r in out:
        r["dataset"] = name
        r["n_train"] = X.shape[0]
        print(
            f"{name:>20s} {r['model']:>23s} {len(r['loss']):>6d} "
            f"{r['loss'][-1] if r['loss'] else float('nan'):10.4g} "
            f"{r['fit_seconds']:8.2f} {r['train_r2']:8.4f} {r['test_r2']:8.4f}",
            flush=True,
        )
    # Seconds to reach within 1% of the lowest loss any model reached.
    best = min(min(r["loss"]) for r in out if r["loss"])
    for r in out:
        reach = [s for s, v in zip(r["seconds"], r["loss"]) if v <= 1.01 * best + 1e-12]
        r["seconds_to_best_1pct"] = reach[0] if reach else None
    return out


def plot(results, output=None):
    """Loss per step and per second, one row of two panels per data set."""
    plt = pyplot()
    if plt is None:
        return
    names = list(dict.fromkeys(r["dataset"] for r in results))
    fig, axes = plt.subplots(
        len(names), 2, figsize=(11, 3.8 * len(names)), layout="constrained"
    )
    axes = np.atleast_2d(axes)
    for row, name in zip(axes, names):
        for r in (r for r in results if r["dataset"] == name):
            steps = np.arange(1, len(r["loss"]) + 1)
            row[0].loglog(steps, r["loss"], label=r["model"])
            row[1].loglog(r["seconds"], r["loss"], label=r["model"])
        row[0].set(
            xlabel="iteration / epoch / evaluation",
            ylabel="training loss",
            title=f"{name}: per step",
        )
        row[1].set(
            xlabel="seconds", ylabel="training loss", title=f"{name}: per second"
        )
        row[0].legend(fontsize=7)
    print(f"wrote {save_figure(fig, 'bench_convergence', output)}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, < 1 min")
    parser.add_argument("--max-iter", type=int, default=30)
    parser.add_argument("--output", default=None)
    parser.add_argument(
        "--from-json", default=None, help="only redraw the figure of a results file"
    )
    args = parser.parse_args(argv)
    if args.from_json:
        with open(args.from_json) as f:
            plot(json.load(f)["runs"], args.output)
        return
    max_iter, mlp_max_iter = args.max_iter, 500
    if args.quick:
        max_iter, mlp_max_iter = 10, 100
    print(
        f"{'dataset':>20s} {'model':>23s} {'points':>6s} {'final loss':>10s} "
        f"{'fit s':>8s} {'train R2':>8s} {'test R2':>8s}"
    )
    results = []
    for data in _datasets(args.quick):
        results += run(*data, max_iter, mlp_max_iter)
    path = write_json(
        "bench_convergence", {"settings": vars(args), "runs": results}, args.output
    )
    print(f"wrote {path}")
    plot(results, args.output)


if __name__ == "__main__":
    main()
