"""Sphinx helpers of the sklearn-sublinear documentation.

- :class:`ReadingOrder` orders the gallery from a first fit to a cluster.
- The benchmarks page includes ``gen_modules/benchmark_results.inc``, written
  here from ``benchmarks/results/``: a table for each JSON file of results
  (with the date and versions of its run), the figures, and the raw files as
  downloads. Nothing is shown that a benchmark run did not write.
- The build warns (an error under ``-W``) when an example's optional
  dependency is missing, instead of showing an example that only prints that
  it could not run.
"""

import importlib.util
import json
import math
import re
import shutil
from pathlib import Path

from sphinx.util import logging

DOCS = Path(__file__).resolve().parent.parent
ROOT = DOCS.parent
RESULTS = ROOT / "benchmarks" / "results"
OUT = DOCS / "gen_modules"

logger = logging.getLogger(__name__)

# The gallery in reading order; examples not listed follow by file name.
READING_ORDER = [
    "plot_quick_start.py",
    "plot_grid_search.py",
    "plot_learning_curve.py",
    "plot_predict_proba.py",
    "plot_multioutput_regression.py",
    "plot_width_scaling.py",
    "plot_dask_grid_search.py",
]

# Modules that examples need beyond the docs extra's own: name -> example.
EXAMPLE_MODULES = {"distributed": "plot_dask_grid_search.py"}


class ReadingOrder:
    """Sort key of sphinx-gallery's ``within_subsection_order``.

    Parameters
    ----------
    src_dir : str
        The gallery's source folder (unused; sphinx-gallery passes it).
    """

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        name = Path(filename).name
        if name in READING_ORDER:
            return (READING_ORDER.index(name), name)
        return (len(READING_ORDER), name)

    def __repr__(self):
        return f"{type(self).__name__}()"


# -- benchmark tables ----------------------------------------------------------
def _fmt(value, digits=4):
    """A cell: numbers to ``digits`` significant digits, booleans as yes/no."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.{digits - 1}e}"
        return f"{value:.{digits}g}"
    return str(value).replace("|", "/")


def _table(header, rows, title=None):
    """RST list-table lines."""
    lines = [f".. list-table:: {title or ''}".rstrip(), "   :header-rows: 1", ""]
    for row in [header, *rows]:
        cells = [_fmt(c) if not isinstance(c, str) else c for c in row]
        lines.append(f"   * - {cells[0] or ' '}")
        lines += [f"     - {c or ' '}" for c in cells[1:]]
    return lines + [""]


def _environment(data):
    """One line saying when and with what a result file was written."""
    env = data.get("environment") or {}
    versions = data.get("versions") or {}
    date = env.get("date_utc") or data.get("date") or "date not recorded"
    date = str(date)[:16].replace("T", " ")
    parts = [f"run {date}"]
    for key in ("numpy", "scipy", "scikit-learn", "sklearn"):
        value = env.get(key) or versions.get(key)
        if value:
            parts.append(f"{key.replace('sklearn', 'scikit-learn')} {value}")
    if env.get("cpu_count"):
        parts.append(f"{env['cpu_count']} cores")
    argv = env.get("argv")
    if argv:
        parts.append("``" + " ".join(argv) + "``")
    return ", ".join(parts)


def _mib(nbytes):
    return None if nbytes is None else nbytes / 2**20


def _width_scaling(data):
    runs = {(r["n_neurons"], r["index"]): r for r in data["runs"]}
    rows = []
    for c in data.get("comparison", []):
        m = c["n_neurons"]
        tree, dense = runs.get((m, "tree"), {}), runs.get((m, "dense"), {})
        rows.append(
            [
                f"2^{int(round(math.log2(m)))}",
                c["tree_seconds"],
                c["dense_seconds"],
                f"{c['speedup']:.2f}x",
                tree.get("fit_seconds"),
                dense.get("fit_seconds"),
                (tree.get("active_per_sample") or [None])[-1],
                c["pred_rel_diff"] == 0 and c["loss_rel_diff"] == 0,
            ]
        )
    s = data.get("settings", {})
    caption = (
        f"Seconds per Gauss-Newton iteration (median after the first) and per "
        f"whole fit, n={s.get('n')}, d={s.get('d')}, sparsity={s.get('sparsity')}, "
        f"n_jobs={s.get('n_jobs')}"
    )
    header = [
        "m",
        "tree s/iter",
        "dense s/iter",
        "speed-up",
        "tree fit s",
        "dense fit s",
        "firing/sample (end)",
        "identical",
    ]
    lines = _table(header, rows, caption)
    slopes = data.get("slopes") or {}
    if slopes:
        lines += [
            f"Log-log slope of the time per iteration over m: tree "
            f"{slopes.get('tree', float('nan')):.2f}, dense "
            f"{slopes.get('dense', float('nan')):.2f}.",
            "",
        ]
    return lines


def _index(data):
    rows = [
        [
            f"2^{int(round(math.log2(r['m'])))}",
            r.get("tree_build_s"),
            r.get("tree_query_cold_s"),
            r.get("update_query_fit_s"),
            r.get("next_query_fit_s"),
            r.get("dense_query_s"),
            _mib(r.get("tree_bytes")),
            _mib(r.get("tree_index_total_bytes")),
            _mib(r.get("dense_index_total_bytes")),
        ]
        for r in data["results"]
    ]
    a = data.get("args", {})
    caption = (
        f"Index alone, seconds and MiB, n={a.get('n')}, d={a.get('d')}, "
        f"block_size={a.get('block_size')}"
    )
    header = [
        "m",
        "tree build",
        "tree first query",
        "query after a fit-like step",
        "next query",
        "dense query",
        "trees MiB",
        "tree peak MiB",
        "dense peak MiB",
    ]
    return _table(header, rows, caption)


def _real_data(data):
    rows = data["rows"]
    models = [("ours", "ours")]
    for key, name in [
        ("mlp", "MLP"),
        ("svm", "SVC/SVR"),
        ("kernel_ridge", "KernelRidge"),
        ("hgb", "HistGB"),
    ]:
        if any(f"{key}_score" in r for r in rows):
            models.append((key, name))
    header = ["data set", "n x d"]
    header += [f"{name} score" for _, name in models]
    header += [f"{name} fit s" for _, name in models]
    table = []
    for r in rows:
        cells = [r["dataset"], f"{r['n_samples']} x {r['n_features']}"]
        cells += [r.get(f"{key}_score") for key, _ in models]
        cells += [r.get(f"{key}_fit_time") for key, _ in models]
        table.append(cells)
    summary = data.get("summary", {})
    caption = "Cross-validated score (accuracy or R2) and fit seconds per fold"
    lines = _table(header, table, caption)
    if "total_time_ratio" in summary:
        lines += [
            f"Summed fit time, ours against MLP: {summary['total_time_ratio']:.2f}x.",
            "",
        ]
    return lines


def _scale(data):
    rows = [
        [
            r["problem"],
            r["model"],
            r["n_train"],
            r.get("n_features"),
            r.get("fit_seconds"),
            r.get("test_r2"),
            _mib(r.get("peak_rss")),
            r.get("solver", ""),
        ]
        for r in data["runs"]
    ]
    header = ["problem", "model", "rows", "features", "fit s", "test R2"]
    header += ["peak RSS MiB", "solver"]
    return _table(header, rows, "Fits in n")


def _convergence(data):
    rows = [
        [
            r["dataset"],
            r["model"],
            len(r.get("loss", [])),
            (r.get("loss") or [None])[-1],
            r.get("fit_seconds"),
            r.get("train_r2"),
            r.get("test_r2"),
        ]
        for r in data["runs"]
    ]
    header = ["data set", "model", "points", "final loss", "fit s"]
    header += ["train R2", "test R2"]
    return _table(header, rows, "Training loss curves")


def _preconditioners(data):
    rows = []
    for case in data["cases"]:
        for name, res in case["results"].items():
            its = "/".join(str(int(i)) for i in res.get("iterations", []))
            totals = res.get("total_seconds", [])
            rows.append(
                [
                    f"{case['problem']} ({case['n_samples']:,} rows)",
                    name,
                    res.get("setup_seconds"),
                    its,
                    totals[0] if totals else None,
                ]
            )
    lam = "/".join(f"{f}x" for f in data["cases"][0].get("lam_factors", []))
    header = ["problem", "preconditioner", "setup s"]
    header += [f"CG iterations at damping {lam}", "total s at the fit's damping"]
    return _table(header, rows, "Conjugate-gradient preconditioners")


def _generic(data):
    """A table of the scalar fields of the first list of records found."""
    for key in ("rows", "runs", "results", "cases"):
        records = data.get(key)
        if isinstance(records, list) and records and isinstance(records[0], dict):
            break
    else:
        return []
    columns = [
        k
        for k, v in records[0].items()
        if isinstance(v, (str, int, float, bool)) or v is None
    ][:10]
    if not columns:
        return []
    rows = [[r.get(k) for k in columns] for r in records]
    return _table(columns, rows)


RENDERERS = {
    "bench_width_scaling": _width_scaling,
    "bench_index": _index,
    "bench_real_data": _real_data,
    "bench_scale": _scale,
    "bench_convergence": _convergence,
    "bench_preconditioners": _preconditioners,
}


def _renderer(stem):
    if stem in RENDERERS:
        return RENDERERS[stem]
    if stem.startswith("bench_real_data"):
        return _real_data
    return _generic


def write_benchmark_results():
    """Write ``gen_modules/benchmark_results.inc`` and ``benchmark_scripts.inc``."""
    OUT.mkdir(exist_ok=True)
    copy_dir = OUT / "benchmark_results"
    if copy_dir.exists():
        shutil.rmtree(copy_dir)
    copy_dir.mkdir()
    files = sorted(RESULTS.iterdir()) if RESULTS.is_dir() else []

    def copy(path):
        shutil.copy(path, copy_dir / path.name)
        return f"/gen_modules/benchmark_results/{path.name}"

    lines = []
    figures = {f.stem: f for f in files if f.suffix in (".png", ".svg")}
    for path in [f for f in files if f.suffix == ".json"]:
        data = {}
        try:
            data = json.loads(path.read_text())
            table = _renderer(path.stem)(data)
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            logger.warning(f"benchmark results {path.name}: no table ({exc!r})")
            table = []
        title = f"``{path.name}``"
        lines += [title, "~" * len(title), ""]
        lines += [_environment(data) + ".", ""] if isinstance(data, dict) else []
        lines += table
        figure = figures.pop(path.stem, None)
        if figure is not None:
            lines += [f".. figure:: {copy(figure)}", "   :width: 90%", ""]
        lines += [f"Raw results: :download:`{path.name} <{copy(path)}>`.", ""]
    for figure in figures.values():
        title = f"``{figure.name}``"
        lines += [title, "~" * len(title), ""]
        lines += [f".. figure:: {copy(figure)}", "   :width: 90%", ""]
    if not lines:
        lines = [
            "No results are stored in ``benchmarks/results/`` in this checkout.",
            "Run the scripts as shown above, then rebuild the documentation.",
            "",
        ]
    (OUT / "benchmark_results.inc").write_text("\n".join(lines))

    scripts = []
    for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        match = re.search(r'^\s*(?:"""|\'\'\')\s*(.+)', script.read_text(), re.M)
        summary = match.group(1).strip() if match else ""
        scripts.append(f"- ``benchmarks/{script.name}``: {summary}".rstrip(": "))
    if not scripts:
        scripts = ["- (no benchmark scripts in this checkout)"]
    (OUT / "benchmark_scripts.inc").write_text("\n".join(scripts) + "\n")


def _check_example_modules(app, config):
    for module, example in EXAMPLE_MODULES.items():
        if importlib.util.find_spec(module) is None:
            logger.warning(
                f"{module} is not installed, so {example} cannot show its "
                f'result: install the docs extra (pip install -e ".[docs]")'
            )


def setup(app):
    """Connect the checks and write the benchmark includes."""
    app.connect("config-inited", _check_example_modules)
    write_benchmark_results()
    return {"parallel_read_safe": True, "parallel_write_safe": True}
