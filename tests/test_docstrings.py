"""numpydoc validation of the public estimators' docstrings."""

import inspect

import pytest

import sklearn_sublinear
from sklearn_sublinear import SublinearNewtonClassifier, SublinearNewtonRegressor

numpydoc_validate = pytest.importorskip("numpydoc.validate")

ESTIMATORS = [SublinearNewtonClassifier, SublinearNewtonRegressor]

# Checks that are not enforced, with the reason:
IGNORED = {
    "ES01",  # extended summary: optional
    "SA01",  # "See Also" section: optional on methods
    "EX01",  # "Examples" section: required on classes only (checked below)
    "GL01",  # summary may start on the line of the opening quotes
    "GL02",  # closing quotes on their own line: cosmetic
    "RT02",  # return type given as a name is fine ("self : object")
    "PR09",  # parameter descriptions may end with a code block or a list
    "RT05",  # same for return descriptions
    "YD01",  # no generators in the public API
}


def _public_methods(cls):
    """Public methods defined in this package (inherited scikit-learn ones are
    documented, and validated, by scikit-learn)."""
    for name, member in inspect.getmembers(cls):
        if name.startswith("_") or not callable(member):
            continue
        func = inspect.unwrap(member)
        module = getattr(func, "__module__", "") or ""
        if module.startswith("sklearn_sublinear"):
            yield name


def _cases():
    for cls in ESTIMATORS:
        yield pytest.param(cls, None, id=cls.__name__)
        for name in _public_methods(cls):
            yield pytest.param(cls, name, id=f"{cls.__name__}.{name}")


def _qualname(cls, method):
    name = f"sklearn_sublinear.{cls.__name__}"
    return name if method is None else f"{name}.{method}"


@pytest.mark.parametrize("cls, method", list(_cases()))
def test_numpydoc(cls, method):
    result = numpydoc_validate.validate(_qualname(cls, method))
    errors = [
        f"{code}: {message}"
        for code, message in result["errors"]
        if code not in IGNORED
    ]
    assert not errors, f"{_qualname(cls, method)}:\n" + "\n".join(errors)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_class_docstring_sections(cls):
    """The class docstrings carry every section a user looks for."""
    doc = inspect.getdoc(cls)
    for section in ("Parameters", "Attributes", "See Also", "Examples"):
        assert f"\n{section}\n" in doc, f"{cls.__name__} lacks a {section} section"


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_documented_parameters_match_signature(cls):
    """Every __init__ parameter is documented, in signature order, and no more."""
    from numpydoc.docscrape import ClassDoc

    documented = [p.name for p in ClassDoc(cls)["Parameters"]]
    signature = list(inspect.signature(cls).parameters)
    assert documented == signature


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_documented_attributes_exist_after_fit(cls):
    """Every attribute listed in the docstring exists on a fitted estimator."""
    import numpy as np
    from numpydoc.docscrape import ClassDoc

    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    est = cls(n_neurons=128, max_iter=2, random_state=0).fit(X, y)
    # Attributes set only in some situations say "only" in their description,
    # in scikit-learn's wording ("Defined only when X has feature names ...").
    for attr in ClassDoc(cls)["Attributes"]:
        name = attr.name.split(":")[0].strip()
        if "only" in " ".join(attr.desc).lower():
            continue
        assert hasattr(est, name), f"{cls.__name__} has no fitted attribute {name}"


def test_all_lists_strings():
    assert all(isinstance(name, str) for name in sklearn_sublinear.__all__)
    assert {"SublinearNewtonClassifier", "SublinearNewtonRegressor"} <= set(
        sklearn_sublinear.__all__
    )
