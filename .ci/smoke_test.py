"""Smoke test of an installed sklearn-sublinear, such as a wheel in a fresh venv.

Run it from outside the source tree (``python /path/to/.ci/smoke_test.py``
from another directory), so that ``import sklearn_sublinear`` finds the
installed package. It checks that

- the package is imported from the installed location, not a source tree;
- every compiled loop of the package is there and imports, and every Cython
  source shipped with it has its compiled module;
- small fits and predictions work: a classifier and a regressor, through the
  tree index (exact values of candidate pairs), the Gram's overlap counts and
  the conjugate-gradient sketch, with the same predictions for the tree and
  the dense index and scores well above chance.

The release workflow (cibuildwheel's ``test-command``) and ``.ci/run`` use it.
"""

import importlib
import importlib.machinery
import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits, make_friedman1

import sklearn_sublinear
from sklearn_sublinear import SublinearNewtonClassifier, SublinearNewtonRegressor


def check_installed():
    """The package comes from site-packages (or the like), not from a checkout."""
    package = Path(sklearn_sublinear.__file__).resolve().parent
    checkout = package.parent
    if (checkout / "setup.py").exists() or (checkout / "pyproject.toml").exists():
        sys.exit(f"sklearn_sublinear is imported from a source tree: {package}")
    print(f"sklearn_sublinear {sklearn_sublinear.__version__} from {package}")
    return package


def check_compiled(package):
    """Import every compiled module; every shipped .pyx must have one."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    compiled = sorted(
        path
        for path in package.rglob("*")
        if path.name.endswith(suffixes) and path.is_file()
    )
    if not compiled:
        sys.exit(f"no compiled module in {package}")
    names = set()
    for path in compiled:
        stem = path.name[: -len(next(s for s in suffixes if path.name.endswith(s)))]
        parts = path.relative_to(package.parent).with_name(stem).parts
        module = importlib.import_module(".".join(parts))
        names.add(".".join(parts))
        print(f"  compiled: {module.__name__} ({path.name})")
    for source in package.rglob("*.pyx"):
        parts = source.relative_to(package.parent).with_suffix("").parts
        if ".".join(parts) not in names:
            sys.exit(f"{source.name} has no compiled module in {package}")


def check_fits():
    """Fit and predict on small data with both indexes and both solvers."""
    X, y = load_digits(return_X_y=True)
    X_train, y_train, X_test, y_test = X[:600], y[:600], X[600:], y[600:]
    probas = {}
    for index in ("tree", "dense"):
        clf = SublinearNewtonClassifier(
            n_neurons=2048, index=index, n_jobs=2, random_state=0
        ).fit(X_train, y_train)
        probas[index] = clf.predict_proba(X_test)
        accuracy = clf.score(X_test, y_test)
        print(f"  classifier, index={index!r}: accuracy {accuracy:.3f}")
        if accuracy < 0.8:
            sys.exit(f"classifier accuracy {accuracy:.3f} < 0.8")
    if not np.array_equal(probas["tree"], probas["dense"]):
        sys.exit("the tree and the dense index gave different predictions")

    X, y = make_friedman1(n_samples=800, n_features=8, noise=0.1, random_state=0)
    reg = SublinearNewtonRegressor(solver="cg", random_state=0).fit(X[:600], y[:600])
    r2 = reg.score(X[600:], y[600:])
    print(f"  regressor, solver='cg': R2 {r2:.3f}")
    if reg.solver_ != "cg" or r2 < 0.8:
        sys.exit(f"regressor: solver_={reg.solver_!r}, R2 {r2:.3f} < 0.8")


if __name__ == "__main__":
    check_compiled(check_installed())
    check_fits()
    print("smoke test passed")
