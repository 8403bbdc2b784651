"""Collection settings for the doctests of the package (``--doctest-modules``)."""

import importlib.util

# sklearn_sublinear.dask needs the dask extra; without it, its module is not
# collected (tests/test_dask.py skips itself).
collect_ignore = []
if importlib.util.find_spec("distributed") is None:
    collect_ignore.append("sklearn_sublinear/dask.py")
