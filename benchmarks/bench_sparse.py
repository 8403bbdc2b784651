"""Sparse inputs: peak memory of a wide sparse fit, and accuracy on text.

Two parts (issue 19, sparse X):

- ``memory``: a text-like 50,000 x 50,000 csr input with 1% stored entries
  (word columns drawn from a power law, tf-idf-like values), a binary
  classification, fitted in a fresh process (``alpha=1e-3``, five steps):
  peak RSS over the process's RSS
  before the input was made, traced peak of the fit, fit time, the fit's
  memory estimate, and the bytes of the input (values, indices, pointers) and
  of the model (``coefs_``). Target: peak < 4x (input + model).
- ``text``: classification of tf-idf rows against a linear model, MLP and
  SVC on the same sparse input and the same repeated stratified folds
  (HistGradientBoosting refuses sparse input and is left out); ours with its
  defaults (max-abs scaling and a linear term on sparse X), with the
  previous defaults for sparse X (standardized, no linear term) and on the
  raw rows (``input_scaling="none"``). Corpora, both
  offline: the docstrings of installed scientific Python packages, labelled
  by the (sub)package documented (scipy.special, .stats, .signal, .linalg,
  .optimize, .interpolate, .ndimage, numpy, scikit-learn; example lines and
  package names removed), and a synthetic bag of words of four topics.
  Target: accuracy >= MLP's.

Usage::

    python benchmarks/bench_sparse.py [--part memory|text|all] [--quick]
        [--rows N] [--neurons M] [--corpora docstrings bag_of_words]
        [--output PATH]

Probes beside them: ours with ``tol=0.01, max_iter=40`` and the linear model with
``C=100``.

Writes ``benchmarks/results/bench_sparse.json`` (``--quick``:
``bench_sparse_quick.json``; one part: ``..._memory.json`` or
``..._text_<corpora>.json``).
"""

import importlib
import inspect
import os
import re
import warnings

import numpy as np
import scipy.sparse as sp
from _common import (
    base_parser,
    current_rss_bytes,
    peak_rss_bytes,
    run_isolated,
    scores_on_splits,
    timed,
    traced_peak,
    write_json,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfTransformer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.neural_network import MLPClassifier
from sklearn.svm import SVC

from sklearn_sublinear import SublinearNewtonClassifier

# The documented (sub)packages of the docstring corpus; scikit-learn's are one
# label.
DOC_GROUPS = {
    "scipy.special": ["scipy.special"],
    "scipy.stats": ["scipy.stats"],
    "scipy.signal": ["scipy.signal"],
    "scipy.linalg": ["scipy.linalg"],
    "scipy.optimize": ["scipy.optimize"],
    "scipy.interpolate": ["scipy.interpolate"],
    "scipy.ndimage": ["scipy.ndimage"],
    "numpy": ["numpy"],
    "sklearn": [
        "sklearn.linear_model",
        "sklearn.metrics",
        "sklearn.preprocessing",
        "sklearn.ensemble",
        "sklearn.cluster",
        "sklearn.decomposition",
        "sklearn.model_selection",
        "sklearn.neighbors",
    ],
}
# Words naming a package, removed from the documents.
PACKAGE_WORDS = re.compile(
    r"\b(scipy|numpy|np|sklearn|scikit|special|stats|signal|linalg|optimize|"
    r"interpolate|ndimage)\b",
    re.IGNORECASE,
)

MODELS = {
    # defaults: max-abs scaling and a linear term on sparse X
    "ours": SublinearNewtonClassifier(random_state=0),
    # the defaults for sparse X before input_scaling (standardized, no
    # linear term), and the raw tf-idf rows
    "ours_standard": SublinearNewtonClassifier(
        random_state=0, input_scaling="standard", linear_term=False
    ),
    "ours_none": SublinearNewtonClassifier(random_state=0, input_scaling="none"),
    # a probe: the defaults with a longer fit (the stopping rule's tol)
    "ours_tol_0.01": SublinearNewtonClassifier(random_state=0, tol=0.01, max_iter=40),
    "logistic": LogisticRegression(C=10.0, max_iter=2000),
    # a probe: the linear peer with weaker regularization
    "logistic_c100": LogisticRegression(C=100.0, max_iter=2000),
    "mlp": MLPClassifier(random_state=0),
    "svc": SVC(C=10.0),
}


def _prose_lines(doc):
    """The lines of ``doc`` outside its examples: a ``>>>`` line and the
    lines after it up to the next blank line (their printed output, which
    may be random: the corpus must be the same in every process)."""
    in_example = False
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped.startswith(">>>"):
            in_example = True
        elif not stripped:
            in_example = False
        if not in_example:
            yield line


def docstring_corpus():
    """``(documents, labels)``: one docstring per public object, deduplicated."""
    seen, docs, labels = set(), [], []
    for label, modules in DOC_GROUPS.items():
        for module_name in modules:
            module = importlib.import_module(module_name)
            for name in sorted(dir(module)):
                obj = getattr(module, name, None)
                if name.startswith("_") or obj is None or inspect.ismodule(obj):
                    continue
                doc = inspect.getdoc(obj)
                if not doc:
                    continue
                prose = "\n".join(_prose_lines(doc))
                prose = PACKAGE_WORDS.sub(" ", prose)
                if len(prose) < 200 or prose in seen:
                    continue
                seen.add(prose)
                docs.append(prose)
                labels.append(label)
    return docs, np.array(labels)


def bag_of_words(n_docs, n_words, words_per_doc=80, n_topics=4, seed=0):
    """Counts of a synthetic corpus: power-law word frequencies, each topic
    raising its own 200 words tenfold; ``(counts csr, topics)``."""
    rng = np.random.RandomState(seed)
    base = 1.0 / np.arange(1, n_words + 1) ** 1.1
    topics = rng.randint(0, n_topics, n_docs)
    rows, cols = [], []
    for t in range(n_topics):
        p = base.copy()
        p[rng.choice(n_words, 200, replace=False)] *= 10.0
        p /= p.sum()
        docs = np.flatnonzero(topics == t)
        lengths = rng.poisson(words_per_doc, docs.size)
        rows.append(np.repeat(docs, lengths))
        cols.append(rng.choice(n_words, lengths.sum(), p=p))
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    counts = sp.csr_array(
        (np.ones(rows.size), (rows, cols)), shape=(n_docs, n_words), dtype=np.float64
    )
    counts.sum_duplicates()
    # 32-bit indices, as a vectorizer makes them (SVC refuses 64-bit ones)
    counts.indices = counts.indices.astype(np.int32)
    counts.indptr = counts.indptr.astype(np.int32)
    return counts, topics


def wide_input(n_rows, n_columns, density, seed=0):
    """Text-like csr input with ``density`` stored entries and a binary target.

    Made by blocks of rows, so that making it takes little more memory than
    the result.
    """
    rng = np.random.RandomState(seed)
    per_row = int(round(1.1 * density * n_columns))
    order = rng.permutation(n_columns).astype(np.int32)
    cols = np.empty(n_rows * per_row, dtype=np.int32)
    step = 2000
    for r0 in range(0, n_rows, step):
        r1 = min(r0 + step, n_rows)
        # word ranks of density ~ rank^(-1/2), shuffled; repeats within a row
        # are summed (about 10% of the draws)
        ranks = (n_columns * rng.rand((r1 - r0) * per_row) ** 2).astype(np.int64)
        cols[r0 * per_row : r1 * per_row] = order[ranks]
    data = np.empty(cols.size)
    for p0 in range(0, cols.size, step * per_row):
        p1 = min(p0 + step * per_row, cols.size)
        data[p0:p1] = rng.exponential(size=p1 - p0)
    indptr = np.arange(0, n_rows * per_row + 1, per_row, dtype=np.int32)
    X = sp.csr_array((data, cols, indptr), shape=(n_rows, n_columns))
    X.sum_duplicates()
    np.log1p(X.data, out=X.data)
    w = rng.standard_normal(n_columns) * (rng.rand(n_columns) < 0.02)
    score = X @ w
    y = (score + 0.1 * rng.standard_normal(n_rows) > np.median(score)).astype(int)
    return X, y


def _memory_run(n_rows, n_columns, density, n_neurons, max_iter, verbose=0):
    """Fit the wide input in this process; return the figures (for run_isolated).

    ``verbose``: the fit's, and the baseline and input sizes printed before
    the fit (so that a run stopped before its end can be read from its
    output and the process's peak RSS).
    """
    baseline = current_rss_bytes()
    X, y = wide_input(n_rows, n_columns, density)
    input_bytes = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    made = peak_rss_bytes() - baseline
    if verbose:
        print(
            f"pid {os.getpid()} baseline RSS {baseline} B, input {input_bytes} B, "
            f"peak RSS after making it {made} B over the baseline",
            flush=True,
        )
    # alpha fixed, so that every run takes its max_iter steps (the memory of
    # the steps is what is measured; alpha="auto" may stop before any)
    clf = SublinearNewtonClassifier(
        n_neurons=n_neurons,
        alpha=1e-3,
        max_iter=max_iter,
        random_state=0,
        n_jobs=2,
        verbose=verbose,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        seconds, (traced, _) = timed(traced_peak, clf.fit, X, y)
    model_bytes = sum(c.nbytes for c in clf.coefs_) + sum(
        c.nbytes for c in clf.intercepts_
    )
    peak = peak_rss_bytes() - baseline
    budget = input_bytes + model_bytes
    return {
        "n_rows": n_rows,
        "n_columns": n_columns,
        "stored_entries": int(X.nnz),
        "density": X.nnz / (n_rows * n_columns),
        "n_neurons": n_neurons,
        "n_iter": clf.n_iter_,
        "solver": clf.solver_,
        "cg_iterations_per_step": [
            None if k is None else int(k) for k in clf.history_["inner_iterations"]
        ],
        "linear_term": clf.linear_coef_ is not None,
        "fit_seconds": seconds,
        "train_accuracy": float(clf.score(X, y)),
        "input_bytes": int(input_bytes),
        "model_bytes": int(model_bytes),
        "peak_rss_over_baseline_bytes": int(peak),
        "peak_rss_of_making_the_input_bytes": int(made),
        "traced_peak_of_fit_bytes": int(traced),
        "memory_estimate_bytes": int(clf.memory_estimate_),
        "peak_over_input_plus_model": peak / budget,
        "traced_plus_input_over_input_plus_model": (traced + input_bytes) / budget,
        "peak_over_estimate": traced / clf.memory_estimate_,
    }


def corpus(name, quick):
    """``(tf-idf csr, labels)`` of the corpus ``name``."""
    if name == "docstrings":
        docs, labels = docstring_corpus()
        X = TfidfVectorizer(sublinear_tf=True, min_df=2).fit_transform(docs)
        return sp.csr_array(X), labels
    counts, topics = bag_of_words(4000 if quick else 12000, 20000)
    return sp.csr_array(
        TfidfTransformer(sublinear_tf=True).fit_transform(counts)
    ), topics


def text_part(quick, corpora):
    folds, repeats = (3, 1) if quick else (5, 2)
    results = {}
    for name in corpora:
        Xt, yt = corpus(name, quick)
        splits = RepeatedStratifiedKFold(
            n_splits=folds, n_repeats=repeats, random_state=0
        ).split(np.zeros(yt.size), yt)
        # no scaler: the rows are tf-idf, and ours scales them itself
        per_split, means = scores_on_splits(
            MODELS, Xt, yt, splits, {"accuracy": accuracy_score}, scale=False
        )
        results[name] = {
            "shape": list(Xt.shape),
            "stored_entries": int(Xt.nnz),
            "classes": int(np.unique(yt).size),
            "folds": folds,
            "repeats": repeats,
            "per_split": per_split,
            "means": means,
            "ours_minus_mlp": means["ours"]["accuracy"] - means["mlp"]["accuracy"],
        }
        print(f"{name} {Xt.shape} nnz={Xt.nnz}", flush=True)
        for key, values in means.items():
            print(
                f"  {key:14s} accuracy {values['accuracy']:.4f}"
                f"  fit {values['fit_time']:.2f} s"
            )
    return results


def main():
    parser = base_parser(__doc__)
    parser.add_argument("--part", choices=["memory", "text", "all"], default="all")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--neurons", type=int, default=512)
    parser.add_argument("--corpora", nargs="+", default=["docstrings", "bag_of_words"])
    parser.add_argument(
        "--verbose", type=int, default=0, help="verbose of the memory part's fit"
    )
    args = parser.parse_args()
    payload = {}
    if args.part in ("memory", "all"):
        n = args.rows or (10_000 if args.quick else 50_000)
        figures = run_isolated(
            _memory_run, n, 50_000, 0.01, args.neurons, 5, verbose=args.verbose
        )
        print({k: v for k, v in figures.items()})
        payload["memory"] = figures
    if args.part in ("text", "all"):
        payload["text"] = text_part(args.quick, args.corpora)
    name = "bench_sparse_quick" if args.quick else "bench_sparse"
    if args.part != "all":
        name += f"_{args.part}"
    if args.part == "text":
        name += "_" + "_".join(args.corpora)
    print("wrote", write_json(name, payload, args.output))


if __name__ == "__main__":
    main()
