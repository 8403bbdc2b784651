"""Sphinx configuration of the sklearn-sublinear documentation.

Build with ``sphinx-build -W --keep-going -b html docs docs/_build/html``.
Set ``SKLEARN_SUBLINEAR_QUICK=1`` to run the gallery examples on small sizes.
"""

import re
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

import sklearn_sublinear  # noqa: E402

# -- Project information ---------------------------------------------------
project = "sklearn-sublinear"
author = "The sklearn-sublinear developers"
copyright = "2026, The sklearn-sublinear developers"
release = sklearn_sublinear.__version__
version = re.sub(r"(\d+\.\d+)\..*", r"\1", release)

# -- General configuration -------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
source_suffix = {".rst": "restructuredtext"}
root_doc = "index"
default_role = "literal"

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": True}
autodoc_typehints = "none"

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# Cross-references to numpy, scipy and scikit-learn are written as plain text:
# the build runs without network access, so no intersphinx inventories.
numpydoc_xref_param_type = False

# -- HTML output -----------------------------------------------------------
try:
    import pydata_sphinx_theme  # noqa: F401

    html_theme = "pydata_sphinx_theme"
    html_theme_options = {
        "navigation_with_keys": False,
        "show_toc_level": 2,
        "secondary_sidebar_items": ["page-toc"],
    }
except ImportError:  # pragma: no cover - fallback theme shipped with Sphinx
    html_theme = "alabaster"
    html_theme_options = {}
html_title = f"sklearn-sublinear {release}"
html_static_path = ["_static"]
html_show_sourcelink = False

# -- Gallery of examples ---------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "doc_module": ("sklearn_sublinear",),
    "backreferences_dir": "gen_modules/backreferences",
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "remove_config_comments": True,
    "download_all_examples": False,
    "plot_gallery": "True",
}


# -- Benchmark results -----------------------------------------------------
# docs/benchmarks.rst includes gen_modules/benchmark_results.inc, written here
# from whatever benchmarks/results/ holds: tables (.rst, .csv, .txt), figures
# (.png, .svg) and raw JSON (as downloads). Nothing is shown that was not
# produced by a benchmark run.
def _write_benchmark_results():
    results = ROOT / "benchmarks" / "results"
    out_dir = DOCS / "gen_modules"
    # Copies of the result files, referenced from the source root ("/...").
    copy_dir = out_dir / "benchmark_results"
    out_dir.mkdir(exist_ok=True)
    if copy_dir.exists():
        shutil.rmtree(copy_dir)
    copy_dir.mkdir()
    files = sorted(results.iterdir()) if results.is_dir() else []

    def copy(path, suffix=None):
        # .rst tables are copied as .inc so that Sphinx does not read them as
        # documents of their own.
        name = path.stem + (suffix or path.suffix)
        shutil.copy(path, copy_dir / name)
        return f"/gen_modules/benchmark_results/{name}"

    lines = []
    for table in [f for f in files if f.suffix in (".rst", ".csv", ".txt")]:
        title = table.stem.replace("_", " ")
        lines += [title, "~" * len(title), ""]
        if table.suffix == ".rst":
            lines += [f".. include:: {copy(table, '.inc')}", ""]
        elif table.suffix == ".csv":
            # csv-table resolves its path from the directory of this .inc file.
            name = copy(table).rsplit("/", 1)[1]
            lines += [".. csv-table::", f"   :file: benchmark_results/{name}"]
            lines += ["   :header-rows: 1", ""]
        else:
            lines += [f".. literalinclude:: {copy(table)}", "   :language: none", ""]
    for figure in [f for f in files if f.suffix in (".png", ".svg")]:
        lines += [f".. figure:: {copy(figure)}", "   :width: 90%", ""]
        lines += [f"   ``benchmarks/results/{figure.name}``", ""]
    raw = [f for f in files if f.suffix == ".json"]
    if raw:
        lines += ["Raw results (JSON):", ""]
        lines += [f"- :download:`{f.name} <{copy(f)}>`" for f in raw]
        lines += [""]
    if not lines:
        lines = [
            "No results are stored in ``benchmarks/results/`` in this checkout. Run",
            "the scripts as shown above, then rebuild the documentation to show",
            "their tables and figures here.",
            "",
        ]
    (out_dir / "benchmark_results.inc").write_text("\n".join(lines))

    # A list of the benchmark scripts with the first line of their docstring.
    scripts = []
    for script in sorted((ROOT / "benchmarks").glob("*.py")):
        match = re.search(r'^\s*(?:"""|\'\'\')\s*(.+)', script.read_text(), re.M)
        summary = match.group(1).strip() if match else ""
        scripts.append(f"- ``benchmarks/{script.name}``: {summary}".rstrip(": "))
    if not scripts:
        scripts = ["- (no benchmark scripts in this checkout)"]
    (out_dir / "benchmark_scripts.inc").write_text("\n".join(scripts) + "\n")


_write_benchmark_results()
