"""scikit-learn's private helpers are imported in one module only."""

import ast
from pathlib import Path

import sklearn_sublinear
from sklearn_sublinear._compat import threadpool_controller
from sklearn_sublinear._threads import blas_controller

PACKAGE = Path(sklearn_sublinear.__file__).parent


def _private_sklearn_imports(path):
    """``module.name`` of every private scikit-learn module or name imported."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "sklearn"
        ):
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("sklearn")]
        else:
            continue
        found += [n for n in names if any(p.startswith("_") for p in n.split("."))]
    return found


def test_private_imports_only_in_compat():
    offenders = {
        str(path.relative_to(PACKAGE)): names
        for path in PACKAGE.rglob("*.py")
        if path.name != "_compat.py" and (names := _private_sklearn_imports(path))
    }
    assert offenders == {}
    assert _private_sklearn_imports(PACKAGE / "_compat.py")


def test_threadpool_controller_is_made_once():
    assert threadpool_controller() is threadpool_controller()
    assert blas_controller() is blas_controller()
