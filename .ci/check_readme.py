"""Check that README.md's parameter and attribute tables match the estimators.

- The "## Parameters" table lists every parameter of either estimator, with
  the default that ``get_params()`` of a new estimator returns, and nothing
  that is a parameter of neither.
- The "## Attributes" table (plus the classifier's ``classes_``) lists every
  fitted attribute that the estimators' numpydoc "Attributes" sections
  document, and no other.

Run from the root of a checkout with the docs extra installed (numpydoc).
"""

import re
import sys
from pathlib import Path

from numpydoc.docscrape import ClassDoc

from sklearn_sublinear import SublinearNewtonClassifier, SublinearNewtonRegressor

README = Path(__file__).resolve().parent.parent / "README.md"
ESTIMATORS = (SublinearNewtonRegressor, SublinearNewtonClassifier)


def section(text, title):
    """The lines of the ``## title`` section."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    if match is None:
        sys.exit(f"README.md has no '## {title}' section")
    return match.group(1)


def table_rows(body):
    """First cells and second cells of the rows of the first markdown table."""
    rows = []
    for line in body.splitlines():
        if line.startswith("|") and not re.match(r"^\|\s*-", line):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows[1:]  # without the header


def names(cell):
    return re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", cell)


def main():
    text = README.read_text()
    errors = []

    documented = {}
    for row in table_rows(section(text, "Parameters")):
        default = row[1].strip("`") if len(row) > 1 else ""
        for name in names(row[0]):
            documented[name] = default
    for est in ESTIMATORS:
        params = est().get_params()
        for name, value in params.items():
            if name not in documented:
                errors.append(f"parameter {name} of {est.__name__} is not in README")
            elif documented[name] != repr(value).replace("'", '"'):
                errors.append(
                    f"{est.__name__}({name}=...) defaults to {value!r}, README "
                    f"says {documented[name]}"
                )
    every = set().union(*(est().get_params() for est in ESTIMATORS))
    for name in sorted(set(documented) - every):
        errors.append(f"README lists parameter {name}, taken by no estimator")

    attributes_text = section(text, "Attributes")
    listed = {n for row in table_rows(attributes_text) for n in names(row[0])}
    listed |= set(re.findall(r"`([a-z_]+_)`", attributes_text))
    for est in ESTIMATORS:
        doc = {item.name for item in ClassDoc(est)["Attributes"]}
        for name in sorted(doc - listed):
            errors.append(f"attribute {name} of {est.__name__} is not in README")
    every = set().union(
        *({i.name for i in ClassDoc(e)["Attributes"]} for e in ESTIMATORS)
    )
    for name in sorted(listed - every):
        errors.append(f"README lists attribute {name}, documented by no estimator")

    for error in errors:
        print(error)
    if errors:
        sys.exit(f"README.md disagrees with the estimators ({len(errors)} problems)")
    print(
        f"README.md: {len(documented)} parameters and {len(listed)} attributes "
        "match the estimators"
    )


if __name__ == "__main__":
    main()
