"""Time per Gauss-Newton iteration against the width, tree index vs dense.

Setting (DESIGN.md section 3): n=1000 unit-norm rows in d=64 with a smooth
nonlinear target, ``SublinearNewtonRegressor(sparsity=0.7)`` with
``n_neurons = 2**14 .. 2**20``, ``index="tree"`` and ``index="dense"`` fitted
one after the other for every width (same seed, so identical weights), each
in a fresh process so that it has its own peak RSS. Per fit:

- median seconds per iteration after the first (``history_["seconds"]``);
- the per-phase breakdown of those iterations (query, index update/rebuild,
  Gram, solve, implicit step, forward, weight update) from
  ``_common.PhaseProfiler``;
- peak RSS above the process's RSS before fitting, and the index's own bytes;
- the loss curve and predictions on 200 held-out rows, compared between the
  two paths (relative difference).

and, per width and index kind, again in a fresh process, the index's own peak
(``_common.index_memory_profile``): bytes held plus the largest traced
transient over build, query, a fit-like update and two queries, on the fit's
initial index (same rows, weights and threshold).

Then the log-log slopes of time per iteration against ``m``, the dense/tree
ratio at the largest width, and the targets: tree slope <= 0.5, dense ~1,
ratio >= 5, identical curves and predictions (<= 1e-5), tree index bytes below
the dense path's peak RSS, tree index peak below the dense index's peak.

Usage::

    python benchmarks/bench_width_scaling.py            # m = 2**14 .. 2**20
    python benchmarks/bench_width_scaling.py --quick    # small sizes, < 1 min
    python benchmarks/bench_width_scaling.py --min-log2m 14 --max-log2m 18

Writes ``benchmarks/results/bench_width_scaling.json`` and, with matplotlib,
``bench_width_scaling.png`` (time per iteration, phases, memory).
"""

import argparse
import json
import time
import warnings
from statistics import median

import numpy as np
from _common import (
    GIB,
    PhaseProfiler,
    current_rss_bytes,
    index_memory_profile,
    index_problem,
    loglog_slope,
    peak_rss_bytes,
    pyplot,
    relative_difference,
    run_isolated,
    save_figure,
    unit_norm_regression,
    write_json,
)

PHASES = PhaseProfiler.PHASES + ("weight_update",)


def fit_one(n_neurons, index, n, d, sparsity, max_iter, n_jobs, seed, alpha="auto"):
    """Fit one configuration (run in a fresh process); return its measurements."""
    from sklearn.exceptions import ConvergenceWarning

    from sklearn_sublinear import SublinearNewtonRegressor

    X, y = unit_norm_regression(n + 200, d, random_state=seed)
    X_test, X = X[n:], X[:n]
    y = y[:n]
    est = SublinearNewtonRegressor(
        n_neurons,
        sparsity=sparsity,
        index=index,
        alpha=alpha,
        max_iter=max_iter,
        tol=0.0,
        n_jobs=n_jobs,
        random_state=seed,
    )
    rss_before = current_rss_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with PhaseProfiler() as profiler:
            t0 = time.perf_counter()
            est.fit(X, y)
            fit_seconds = time.perf_counter() - t0
    peak = peak_rss_bytes()
    history = est.history_
    phases = profiler.per_iteration(history["seconds"])
    later = phases[1:] if len(phases) > 1 else phases
    return {
        "n_neurons": n_neurons,
        "index": index,
        "fit_seconds": fit_seconds,
        "build_seconds": sum(profiler.iterations[0].values()),
        "seconds": history["seconds"],
        "median_seconds": median(history["seconds"][1:] or history["seconds"]),
        "loss": history["loss"],
        "active_per_sample": history["active_per_sample"],
        "changed_neurons": history["changed_neurons"],
        "index_action": history["index_action"],
        "damping_tries": history.get("damping_tries"),
        "phases": phases,
        "median_phases": {p: median(r[p] for r in later) for p in PHASES},
        "peak_rss_above_start": peak - rss_before,
        "peak_rss": peak,
        "index_nbytes": profiler.index.nbytes if profiler.index is not None else 0,
        "predictions": est.predict(X_test),
        "train_r2": est.score(X, y),
    }


def index_peaks_one(n_neurons, index, n, d, sparsity, n_jobs, seed):
    """Index peak of one kind on the fit's initial index (run in a fresh process)."""
    X, W, threshold = index_problem(n, d, n_neurons, sparsity=sparsity, seed=seed)
    profile = index_memory_profile(index, X, W, threshold, n_jobs=n_jobs)
    return {"n_neurons": n_neurons, "index": index, **profile}


def _print_peaks(p):
    mib = 2.0**20
    print(
        f"{p['n_neurons']:>8d} {p['index']:>5s} index peak {p['total'] / mib:7.1f} MiB"
        f" = held {p['held'] / mib:6.1f} + transient {p['transient'] / mib:6.1f}"
        f" (returned matrix {p['result_bytes'] / mib:.1f}, estimate"
        f" {p['estimate'] / mib:.1f}; {p['firing_per_sample']:.0f} firing per"
        " sample after the step)",
        flush=True,
    )


def _without_solve(run):
    return max(sum(v for p, v in run["median_phases"].items() if p != "solve"), 1e-6)


def _print_row(r):
    ph = r["median_phases"]
    print(
        f"{r['n_neurons']:>8d} {r['index']:>5s} {r['median_seconds']:8.3f} "
        + " ".join(f"{ph[p]:7.3f}" for p in PHASES)
        + f" {r['peak_rss_above_start'] / GIB:7.2f} {r['index_nbytes'] / GIB:7.3f}"
        f" {np.mean(r['active_per_sample']):7.1f}"
        f" {np.mean(r['changed_neurons']) / r['n_neurons']:6.2f}"
        f" {','.join(sorted(set(r['index_action'])))}",
        flush=True,
    )


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, < 1 min")
    parser.add_argument("--min-log2m", type=int, default=14)
    parser.add_argument("--max-log2m", type=int, default=20)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--sparsity", type=float, default=0.7)
    parser.add_argument("--max-iter", type=int, default=6)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--alpha",
        type=float,
        default=None,
        help='a float alpha (default: the estimator\'s, "auto"); a float keeps the '
        'iterations comparable with versions before alpha="auto"',
    )
    parser.add_argument("--output", default=None)
    parser.add_argument(
        "--from-json", default=None, help="re-summarize the runs of a result file"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.min_log2m, args.max_log2m = 12, 15
        args.n, args.max_iter = 300, 4
    return args


def _load(args):
    """The runs, index peaks and settings of a result file, printed again."""
    with open(args.from_json) as f:
        saved = json.load(f)
    runs = saved["runs"]
    for r in runs:
        _print_row(r)
    peaks = saved.get("index_peaks", [])
    for p in peaks:
        _print_peaks(p)
    args = argparse.Namespace(**{**saved["settings"], "output": args.output})
    return args, sorted({r["n_neurons"] for r in runs}), runs, peaks


def _measure(args):
    """Fit and index-peak runs at every width, each in a fresh process."""
    widths = [2**k for k in range(args.min_log2m, args.max_log2m + 1)]
    print(
        f"n={args.n} d={args.d} sparsity={args.sparsity} "
        f"max_iter={args.max_iter} n_jobs={args.n_jobs}; "
        "seconds are medians over iterations 2.."
    )
    runs, peaks = [], []
    problem = (args.n, args.d, args.sparsity)
    for m in widths:
        for index in ("tree", "dense"):
            fit_args = (*problem, args.max_iter, args.n_jobs, args.seed)
            if args.alpha is not None:
                fit_args += (args.alpha,)
            runs.append(run_isolated(fit_one, m, index, *fit_args))
            _print_row(runs[-1])
    for m in widths:
        for index in ("tree", "dense"):
            peak_args = (*problem, args.n_jobs, args.seed)
            peaks.append(run_isolated(index_peaks_one, m, index, *peak_args))
            _print_peaks(peaks[-1])
    return args, widths, runs, peaks


def _compare(widths, by, peak_by):
    """One row per width: tree against dense, in time, agreement and memory."""
    comparison = []
    for m in widths:
        t, dn = by[(m, "tree")], by[(m, "dense")]
        # index peaks: held + largest transient (None for older result files)
        index_peaks = {}
        for kind in ("tree", "dense"):
            p = peak_by.get((m, kind), {})
            for key in ("held", "transient", "total"):
                index_peaks[f"{kind}_index_{key}_bytes"] = p.get(key)
        comparison.append(
            {
                "n_neurons": m,
                "tree_seconds": t["median_seconds"],
                "dense_seconds": dn["median_seconds"],
                "speedup": dn["median_seconds"] / t["median_seconds"],
                "speedup_without_solve": _without_solve(dn) / _without_solve(t),
                "loss_rel_diff": relative_difference(t["loss"], dn["loss"]),
                "pred_rel_diff": relative_difference(
                    t["predictions"], dn["predictions"]
                ),
                "tree_index_nbytes": t["index_nbytes"],
                "tree_peak_rss_above_start": t["peak_rss_above_start"],
                "dense_peak_rss_above_start": dn["peak_rss_above_start"],
                **index_peaks,
            }
        )
    return comparison


def _slopes(widths, by):
    slopes = {
        kind: loglog_slope(widths, [by[(m, kind)]["median_seconds"] for m in widths])
        for kind in ("tree", "dense")
    }
    # The m-dependent part: iteration time without the n x n solve (constant
    # in m, and very noisy on a loaded machine), and the index alone.
    for kind in ("tree", "dense"):
        for label, parts in (
            ("without_solve", [p for p in PHASES if p != "solve"]),
            ("index_only", ["query", "update", "rebuild"]),
        ):
            slopes[f"{kind}_{label}"] = loglog_slope(
                widths,
                [
                    max(sum(by[(m, kind)]["median_phases"][p] for p in parts), 1e-6)
                    for m in widths
                ],
            )
    return slopes


def _targets(comparison, slopes):
    last = comparison[-1]
    return {
        "tree_slope_le_0.5": slopes["tree"] <= 0.5,
        "dense_slope_about_1": 0.75 <= slopes["dense"] <= 1.25,
        "speedup_ge_5_at_max_m": last["speedup"] >= 5,
        "speedup_without_solve_ge_5_at_max_m": last["speedup_without_solve"] >= 5,
        "identical_loss_and_predictions": all(
            c["loss_rel_diff"] <= 1e-5 and c["pred_rel_diff"] <= 1e-5
            for c in comparison
        ),
        "tree_index_below_dense_peak_at_max_m": last["tree_index_nbytes"]
        < last["dense_peak_rss_above_start"],
        # None when not measured (result files from before the index peaks)
        "tree_index_peak_below_dense_index_peak_at_max_m": (
            None
            if last["tree_index_total_bytes"] is None
            else last["tree_index_total_bytes"] < last["dense_index_total_bytes"]
        ),
    }


def _print_summary(comparison, slopes, targets):
    print(
        f"\n{'m':>8s} {'tree s':>8s} {'dense s':>8s} {'ratio':>6s} {'r-solv':>6s} "
        f"{'loss rd':>9s} {'pred rd':>9s} {'treeIdx':>8s} {'treePk':>7s} "
        f"{'densePk':>7s} {'treeIPk':>7s} {'dnsIPk':>7s}"
    )
    for c in comparison:
        print(
            f"{c['n_neurons']:>8d} {c['tree_seconds']:8.3f} {c['dense_seconds']:8.3f}"
            f" {c['speedup']:6.2f} {c['speedup_without_solve']:6.2f}"
            f" {c['loss_rel_diff']:9.2e} {c['pred_rel_diff']:9.2e}"
            f" {c['tree_index_nbytes'] / GIB:8.3f}"
            f" {c['tree_peak_rss_above_start'] / GIB:7.2f}"
            f" {c['dense_peak_rss_above_start'] / GIB:7.2f}"
            + "".join(
                f" {c[f'{k}_index_total_bytes'] / GIB:7.3f}"
                if c[f"{k}_index_total_bytes"] is not None
                else f" {'-':>7s}"
                for k in ("tree", "dense")
            )
        )
    print("log-log slopes: " + ", ".join(f"{k} {v:.3f}" for k, v in slopes.items()))
    for name, ok in targets.items():
        print(f"  {name}: {'n/a' if ok is None else 'PASS' if ok else 'MISS'}")


def _plot(widths, by, comparison, slopes, output):
    """Time and memory against the width, and the phases at the widest."""
    plt = pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for kind, style in (("tree", "o-"), ("dense", "s--")):
        axes[0].loglog(
            widths,
            [by[(m, kind)]["median_seconds"] for m in widths],
            style,
            base=2,
            label=f"{kind} (slope {slopes[kind]:.2f})",
        )
        axes[2].loglog(
            widths,
            [max(by[(m, kind)]["peak_rss_above_start"], 1) / GIB for m in widths],
            style,
            base=2,
            label=f"{kind} peak RSS",
        )
    axes[2].loglog(
        widths,
        [max(by[(m, "tree")]["index_nbytes"], 1) / GIB for m in widths],
        "^:",
        base=2,
        label="tree index bytes",
    )
    for kind, style in (("tree", "v-."), ("dense", "d-.")):
        key = f"{kind}_index_total_bytes"
        if all(c[key] is not None for c in comparison):
            axes[2].loglog(
                widths,
                [max(c[key], 1) / GIB for c in comparison],
                style,
                base=2,
                label=f"{kind} index peak",
            )
    axes[0].set(xlabel="n_neurons m", ylabel="s / iteration", title="Time")
    axes[2].set(xlabel="n_neurons m", ylabel="GiB", title="Memory")
    m = widths[-1]
    bottom = np.zeros(2)
    for p in PHASES:
        vals = np.array([by[(m, k)]["median_phases"][p] for k in ("tree", "dense")])
        axes[1].bar(["tree", "dense"], vals, bottom=bottom, label=p)
        bottom += vals
    axes[1].set(ylabel="s / iteration", title=f"Phases at m={m}")
    for ax in axes:
        ax.legend(fontsize=7)
    print(f"wrote {save_figure(fig, 'bench_width_scaling', output)}")


def main(argv=None):
    args = _parse(argv)
    print(
        f"{'m':>8s} {'index':>5s} {'s/iter':>8s} "
        + " ".join(f"{p[:7]:>7s}" for p in PHASES)
        + f" {'peakGiB':>7s} {'idxGiB':>7s} {'k':>7s} {'chg':>6s} action"
    )
    args, widths, runs, peaks = _load(args) if args.from_json else _measure(args)
    by = {(r["n_neurons"], r["index"]): r for r in runs}
    peak_by = {(p["n_neurons"], p["index"]): p for p in peaks}
    widths = [m for m in widths if (m, "tree") in by and (m, "dense") in by]
    comparison = _compare(widths, by, peak_by)
    slopes = _slopes(widths, by)
    targets = _targets(comparison, slopes)
    _print_summary(comparison, slopes, targets)
    path = write_json(
        "bench_width_scaling",
        {
            "settings": vars(args),
            "runs": runs,
            "index_peaks": peaks,
            "comparison": comparison,
            "slopes": slopes,
            "targets": targets,
        },
        args.output,
    )
    print(f"wrote {path}")
    _plot(widths, by, comparison, slopes, args.output)


if __name__ == "__main__":
    main()
