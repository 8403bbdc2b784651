"""Build of the compiled kernels; the package metadata is in pyproject.toml."""

from Cython.Build import cythonize
from setuptools import Extension, setup

# Plain IEEE arithmetic (no -ffast-math): the sums keep their written order,
# which the exact pre-activations of both indexes rely on to agree bit for bit.
EXTENSIONS = [
    Extension(
        "sklearn_sublinear._tree_index._pair_dots",
        ["sklearn_sublinear/_tree_index/_pair_dots.pyx"],
    ),
    Extension(
        "sklearn_sublinear._network._pair_counts",
        ["sklearn_sublinear/_network/_pair_counts.pyx"],
    ),
    Extension(
        "sklearn_sublinear._network._gram_products",
        ["sklearn_sublinear/_network/_gram_products.pyx"],
    ),
    Extension(
        "sklearn_sublinear._solvers._count_sketch",
        ["sklearn_sublinear/_solvers/_count_sketch.pyx"],
    ),
]

setup(
    ext_modules=cythonize(
        EXTENSIONS,
        compiler_directives={
            "language_level": "3",
            "boundscheck": False,
            "wraparound": False,
            "initializedcheck": False,
        },
    )
)
