"""Tree index vs dense brute force: build, query, update, memory.

Setting: n=1000 unit-norm rows in d=64, W ~ N(0, I), b = Phi^-1(1 - m**-0.7),
m = 2**14 .. 2**20. For each m, side by side in one run (medians of
``--repeat`` runs): dense query (float32 matmul + threshold + exact values),
tree build, tree query (cold, after the build, and warm), and updates
followed by the next two queries (the first also tightens the leaves the
changed neurons dominated), against the dense recompute. Moves:
``Δw_r = c sum_i c_i x_i`` over 3 random samples with ``c_i ~ N(0, 1)``:
"small" (``c = 1/sqrt(m)``) and "large" (``c = 1/4``) on a random 5% of the
neurons, and "fit", the large move on the neurons that fire on some sample,
as a Gauss-Newton step moves them. Memory: the tree's bytes held, the dense
index's query peak (tracemalloc), the plain dense path's ``n m`` float32
pre-activations, and each index's peak over build, query, a fit-like update
and two queries (``_common.index_memory_profile``, ``--memory-n-jobs``
threads): held bytes plus the largest traced transient, compared at the
largest m.

Usage::

    python benchmarks/bench_index.py [--max-log2m 20] [--quick] [--repeat 3]

Writes benchmarks/results/bench_index.json and prints a table.
"""

import argparse
import json
import pathlib
import time
import tracemalloc
from statistics import NormalDist, median

import numpy as np
import scipy.sparse as sp
from _common import index_memory_profile

from sklearn_sublinear._tree_index import DenseIndex, TreeIndex


def _timed(func, repeat):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = func()
        times.append(time.perf_counter() - t0)
    return median(times), out


def _move(rng, X, changed, scale):
    n = X.shape[0]
    m_changed = changed.size
    per = 3
    rows = rng.integers(0, n, size=(m_changed, per)).ravel()
    cols = np.repeat(np.arange(m_changed), per)
    vals = rng.standard_normal(m_changed * per) * scale
    coef = sp.csr_array((vals, (cols, rows)), shape=(m_changed, n))
    coef.sum_duplicates()
    return coef


def run(n, d, log2ms, repeat, fraction, block_size, memory_n_jobs=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    results = []
    for log2m in log2ms:
        m = 2**log2m
        b = NormalDist().inv_cdf(1 - m**-0.7)
        W = rng.standard_normal((m, d))
        row = {"n": n, "d": d, "m": m, "threshold": b, "block_size": block_size}

        dense = DenseIndex(X, b).build(W)
        row["dense_query_s"], ref = _timed(dense.query, repeat)
        tracemalloc.start()
        dense.query()
        row["dense_peak_bytes"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        row["dense_full_bytes"] = 4 * n * m
        row["nnz"] = int(ref.nnz)

        tree = TreeIndex(X, b, block_size=block_size)
        row["tree_build_s"], _ = _timed(lambda: tree.build(W), repeat)
        t0 = time.perf_counter()
        act = tree.query()
        row["tree_query_cold_s"] = time.perf_counter() - t0
        row["tree_query_s"], act = _timed(tree.query, repeat)
        assert (act != ref).nnz == 0
        row["tree_bytes"] = tree.nbytes
        row["tree_estimate_bytes"] = TreeIndex.estimate_nbytes(n, d, m)

        k = max(1, int(fraction * m))
        fired = np.unique(ref.indices)
        row["fired_fraction"] = fired.size / m
        for move, scale in (("small", 1 / np.sqrt(m)), ("large", 0.25), ("fit", 0.25)):
            tree = TreeIndex(X, b, block_size=block_size).build(W)
            tree.query()
            if move == "fit":
                changed = fired
            else:
                changed = np.sort(rng.choice(m, size=k, replace=False))
            coef = _move(rng, X, changed, scale)
            W2 = W.copy()
            W2[changed] += coef @ X
            t0 = time.perf_counter()
            tree.update(W2, changed)
            row[f"update_{move}_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            act = tree.query()
            row[f"update_query_{move}_s"] = time.perf_counter() - t0
            row[f"next_query_{move}_s"], act = _timed(tree.query, repeat)
            dense.update(W2, changed)
            row[f"dense_recompute_{move}_s"], ref2 = _timed(dense.query, repeat)
            assert (act != ref2).nnz == 0
        rebuild_s, _ = _timed(tree.rebuild, 1)
        row["tree_rebuild_s"] = rebuild_s
        del dense, ref, act, ref2, W2
        for kind in ("tree", "dense"):
            p = index_memory_profile(
                kind, X, W, b, n_jobs=memory_n_jobs, block_size=block_size
            )
            for key in ("held", "transient", "total"):
                row[f"{kind}_index_{key}_bytes"] = p[key]
        results.append(row)
        _print_row(row)
    return results


def _print_row(r):
    mib = 2.0**20
    peak, full = r["dense_peak_bytes"] / mib, r["dense_full_bytes"] / mib
    print(
        f"m=2^{int(np.log2(r['m']))} nnz={r['nnz']} | dense q {r['dense_query_s']:.3f}s"
        f" peak {peak:.0f}MiB (full {full:.0f})"
        f" | tree build {r['tree_build_s']:.3f}s q cold {r['tree_query_cold_s']:.3f}s"
        f" q {r['tree_query_s']:.3f}s mem {r['tree_bytes'] / mib:.0f}MiB"
    )
    print(
        "    index peaks (held + transient): "
        + ", ".join(
            f"{kind} {r[f'{kind}_index_total_bytes'] / mib:.1f}MiB"
            f" = {r[f'{kind}_index_held_bytes'] / mib:.1f}"
            f" + {r[f'{kind}_index_transient_bytes'] / mib:.1f}"
            for kind in ("tree", "dense")
        )
    )
    for key in ("small", "large", "fit"):
        upd = r[f"update_{key}_s"]
        q = r[f"update_query_{key}_s"]
        q2 = r[f"next_query_{key}_s"]
        dn = r[f"dense_recompute_{key}_s"]
        print(
            f"    {key:5s}: tree update {upd:.3f}s + query {q:.3f}s (next {q2:.3f}s)"
            f" vs dense {dn:.3f}s -> x{dn / max(upd + q, 1e-9):.1f}"
            f" (next x{dn / max(q2, 1e-9):.1f})"
        )
    print(flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-log2m", type=int, default=14)
    parser.add_argument("--max-log2m", type=int, default=20)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--fraction", type=float, default=0.05)
    parser.add_argument("--block-size", type=int, default=128)
    parser.add_argument(
        "--memory-n-jobs", type=int, default=2, help="threads of the index peaks"
    )
    parser.add_argument(
        "--quick", action="store_true", help="n=200, m up to 2^16, one repeat"
    )
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    if args.quick:
        args.n, args.max_log2m, args.repeat = 200, min(args.max_log2m, 16), 1
    log2ms = range(args.min_log2m, args.max_log2m + 1)
    results = run(
        args.n,
        args.d,
        log2ms,
        args.repeat,
        args.fraction,
        args.block_size,
        args.memory_n_jobs,
    )
    last = results[-1]
    checks = {
        "tree_index_peak_below_dense_index_peak_at_max_m": last[
            "tree_index_total_bytes"
        ]
        < last["dense_index_total_bytes"],
    }
    for name, ok in checks.items():
        print(f"  {name}: {'PASS' if ok else 'MISS'}")
    out = (
        pathlib.Path(args.output)
        if args.output
        else (pathlib.Path(__file__).parent / "results" / "bench_index.json")
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"args": vars(args), "results": results, "checks": checks}, indent=1)
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
