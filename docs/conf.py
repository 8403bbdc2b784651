"""Sphinx configuration of the sklearn-sublinear documentation.

Build with ``sphinx-build -W --keep-going -b html docs docs/_build/html``.
Set ``SKLEARN_SUBLINEAR_QUICK=1`` to run the gallery examples on small sizes.
"""

import os
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS / "_ext"))

import sklearn_sublinear  # noqa: E402

# Read the Docs builds with a time limit: run the examples on their small sizes
# there (sphinx-gallery executes them in this process).
if os.environ.get("READTHEDOCS") == "True":
    os.environ.setdefault("SKLEARN_SUBLINEAR_QUICK", "1")

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
    # MathJax 3 copied into _static/mathjax: formulas render without a CDN.
    "sphinx-mathjax-offline",
    "sublinear_docs",
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
    # Reading order, from a first fit to the cluster; examples not listed
    # follow in file-name order (docs/_ext/sublinear_docs.py).
    "within_subsection_order": "sublinear_docs.ReadingOrder",
}
