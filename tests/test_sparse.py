"""Sparse inputs: the same model as dense inputs, computed from the stored entries."""

from itertools import pairwise

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal

from sklearn_sublinear import SublinearNewtonClassifier, SublinearNewtonRegressor
from sklearn_sublinear._network import (
    InputTransform,
    SparseRows,
    TwoLayerNetwork,
    _inputs,
)
from sklearn_sublinear._network._pair_sums import PairSums
from sklearn_sublinear._solvers import _gauss_newton
from sklearn_sublinear._solvers._preconditioners import SketchPreconditioner
from sklearn_sublinear._solvers._systems import CGSystem
from sklearn_sublinear._tree_index import DenseIndex, TreeIndex, exact_preactivations


def _sparse_data(n=200, d=30, density=0.15, seed=0):
    rng = np.random.RandomState(seed)
    X = sp.random(n, d, density=density, random_state=rng, format="csr")
    X.data = rng.exponential(size=X.data.size) + 0.5
    # a column with a large mean and small spread, and an empty column
    X = sp.hstack([X, sp.csr_array(100.0 + rng.rand(n, 1)), sp.csr_array((n, 1))])
    w = rng.randn(X.shape[1])
    y = X @ w / 10 + np.sin(X[:, [0]].toarray().ravel())
    return sp.csr_array(X), y, rng


def _rows(X, seed=0):
    """The SparseRows of X and their dense twin."""
    w = np.random.RandomState(seed).rand(X.shape[0]) + 0.5
    transform = InputTransform().fit(X, w)
    return transform.transform(X), InputTransform().fit(X.toarray(), w)


def test_transform_matches_dense():
    X, _, _ = _sparse_data()
    rows, dense_transform = _rows(X)
    dense = dense_transform.transform(X.toarray())
    assert isinstance(rows, SparseRows)
    # the column of mean / spread ~ 350 loses a few digits to the folded
    # centering (x / sigma - mu / sigma)
    assert_allclose(rows.toarray(), dense, rtol=1e-10, atol=1e-10)
    transform = InputTransform().fit(X, np.ones(X.shape[0]))
    assert_allclose(transform.scale_[-1], 1.0)  # the empty column is constant
    assert_allclose(
        transform.norm_mean_,
        InputTransform().fit(X.toarray(), np.ones(X.shape[0])).norm_mean_,
        rtol=1e-12,
    )


@pytest.mark.parametrize("bias_first", [False, True])
def test_sparse_rows_products_match_dense(bias_first):
    X, _, rng = _sparse_data()
    rows, _ = _rows(X)
    rows = rows.affine().scaled(rng.rand(X.shape[0]) + 0.5) if bias_first else rows
    D = rows.toarray()
    W = rng.randn(50, D.shape[1])
    assert_allclose(rows @ W.T, D @ W.T, rtol=1e-10, atol=1e-10)
    Q = rng.randn(X.shape[0], 3)
    assert_allclose(rows.T @ Q, D.T @ Q, rtol=1e-10, atol=1e-10)
    assert_allclose(rows @ rows.T, D @ D.T, rtol=1e-10, atol=1e-10)
    assert_allclose(rows.squared_norms(), np.sum(D**2, axis=1), rtol=1e-10)
    sub = rows[np.array([5, 3, 3, 0])]
    assert_allclose(sub.toarray(), D[[5, 3, 3, 0]])
    assert_allclose(rows[10:20].toarray(), D[10:20])
    i, r = rng.randint(0, X.shape[0], 500), rng.randint(0, 50, 500)
    values = exact_preactivations(W, rows, i, r)
    assert_allclose(values, np.sum(D[i] * W[r], axis=1), rtol=1e-10, atol=1e-10)
    # one value per pair, whatever the batch
    assert_array_equal(
        values[100:200], exact_preactivations(W, rows, i[100:200], r[100:200])
    )
    bounds = rows.norm_bounds()
    assert np.all(bounds >= np.linalg.norm(D, axis=1))


def test_pair_sums_match_dense():
    X, _, rng = _sparse_data()
    rows, _ = _rows(X)
    D = rows.toarray()
    active = sp.csr_array(sp.random(X.shape[0], 40, density=0.2, random_state=rng))
    U = rng.randn(X.shape[0], 2)
    pairs = PairSums(active)
    V = pairs.neuron_sums(rows, U)
    assert_allclose(V, pairs.neuron_sums(D, U), rtol=1e-10, atol=1e-10)
    assert_allclose(pairs.row_dots(rows, V), pairs.row_dots(D, V), rtol=1e-10)


def test_sketch_preconditioner_matches_dense():
    X, _, rng = _sparse_data()
    rows, _ = _rows(X)
    W = rng.randn(64, rows.shape[1])
    net = TwoLayerNetwork(
        W, np.ones((64, 1)), 0.5, np.zeros(1), linear_coef=np.zeros((X.shape[1], 1))
    )
    active = DenseIndex(rows, 0.5).build(W).query()
    dsqrt = rng.rand(X.shape[0]) + 0.5
    sparse = CGSystem(
        net, active, rows, dsqrt, random_state=0, affine_rows=net.affine_rows(rows)
    )
    D = rows.toarray()
    dense = CGSystem(
        net, active, D, dsqrt, random_state=0, affine_rows=net.affine_rows(D)
    )
    prec = sparse.preconditioner
    assert isinstance(prec, SketchPreconditioner)
    # the sparse rows' sketch hashes its entries: no (m, d) arrays
    assert prec.buckets is None and prec.signs is None
    # the dense rows' sketch stores the same entries, so that dense and
    # sparse fits take the same steps
    twin = dense.preconditioner
    buckets, signs = prec.entries(0, 64)
    assert_array_equal(twin.buckets, buckets)
    assert_array_equal(twin.signs, signs)
    assert_allclose(prec.eigenvalues, twin.eigenvalues, rtol=1e-9)
    assert_allclose(prec.U, twin.U, rtol=1e-7, atol=1e-9)
    Q = rng.randn(X.shape[0], 1)
    assert_allclose(sparse.bmatvec(Q), dense.bmatvec(Q), rtol=1e-10, atol=1e-10)


def test_sketch_of_wide_sparse_affine_rows():
    """A linear term on sparse rows wider than the sketch: its affine rows
    are CountSketched too, ``E Psi`` with ``Psi`` hashed as one more neuron
    of signs +-1, and the sketch keeps 2 s columns."""
    X, _, rng = _sparse_data(n=60, d=150, density=0.05)
    rows, _ = _rows(X)
    m = 16
    net = TwoLayerNetwork(
        rng.randn(m, rows.shape[1]),
        np.ones((m, 1)),
        0.5,
        np.zeros(1),
        linear_coef=np.zeros((X.shape[1], 1)),
    )
    active = DenseIndex(rows, 0.5).build(net.W).query()
    dsqrt = rng.rand(X.shape[0]) + 0.5
    system = CGSystem(
        net, active, rows, dsqrt, random_state=0, affine_rows=net.affine_rows(rows)
    )
    prec = system.preconditioner
    s = prec.columns
    assert s == X.shape[0] < net.affine_rows(rows).shape[1]
    assert prec.affine_width(system) == s
    buckets, signs = prec.entries(m, m + 1, scale=1.0)
    Psi = np.zeros((rows.shape[1], s))
    Psi[np.arange(rows.shape[1]), buckets[0]] = signs[0]
    E = net.affine_rows(rows).toarray()
    Y = np.vstack([chunk for _, chunk in prec.sketch(system)])
    assert Y.shape == (X.shape[0], 2 * s)
    assert_allclose(Y[:, s:], dsqrt[:, None] * (E @ Psi), rtol=1e-10, atol=1e-10)


def test_hashed_sketch_entries():
    """Hashed entries: fixed by the seed, +-1/sqrt(m), in every column about
    equally often, the same whichever neurons are asked for."""
    X, _, _ = _sparse_data()
    rows, _ = _rows(X)

    def draw(seed, m=200):
        prec = SketchPreconditioner.__new__(SketchPreconditioner)
        return prec.draw(np.random.RandomState(seed), 100, m, rows.shape[1], True)

    prec = draw(0)
    buckets, signs = prec.entries(0, 200)
    assert buckets.shape == signs.shape == (200, rows.shape[1])
    assert_array_equal(np.abs(signs), 1.0 / np.sqrt(200))
    assert abs(np.mean(signs > 0) - 0.5) < 0.02
    counts = np.bincount(buckets.ravel(), minlength=100)
    assert counts.size == 100 and buckets.min() >= 0
    expected = buckets.size / 100
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected))
    part_b, part_s = prec.entries(50, 60)
    assert_array_equal(part_b, buckets[50:60])
    assert_array_equal(part_s, signs[50:60])
    assert_array_equal(draw(0).entries(0, 200)[0], buckets)
    assert np.mean(draw(1).entries(0, 200)[0] == buckets) < 0.05


def test_tree_and_dense_index_identical_on_sparse_rows():
    X, _, rng = _sparse_data(n=300)
    rows, _ = _rows(X)
    W = rng.randn(512, rows.shape[1])
    tree = TreeIndex(rows, 1.5, block_size=16).build(W)
    dense = DenseIndex(rows, 1.5).build(W)
    reference = rows.toarray() @ W.T
    for _ in range(3):
        a, b = tree.query(), dense.query()
        assert_array_equal(a.indptr, b.indptr)
        assert_array_equal(a.indices, b.indices)
        assert_array_equal(a.data, b.data)
        expected = sp.csr_array(np.where(reference > 1.5, reference, 0))
        assert_array_equal(a.indices, expected.indices)
        changed = np.sort(rng.choice(512, 60, replace=False))
        W = W.copy()
        W[changed] += 0.3 * rng.randn(60, W.shape[1])
        tree.update(W, changed)
        dense.update(W, changed)
        reference = rows.toarray() @ W.T


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
@pytest.mark.parametrize(
    "Estimator", [SublinearNewtonRegressor, SublinearNewtonClassifier]
)
@pytest.mark.parametrize(
    "fmt, scaling", [("csr_matrix", "standard"), ("csc_array", "maxabs")]
)
def test_sparse_and_dense_fits_agree(Estimator, solver, fmt, scaling):
    X, y, rng = _sparse_data()
    if Estimator is SublinearNewtonClassifier:
        y = np.digitize(y, np.quantile(y, [0.33, 0.66]))
    w = rng.rand(X.shape[0]) * 2
    Xs = getattr(sp, fmt)(X)
    # the same scaling and linear term ("auto" picks them by the input's kind)
    params = dict(
        n_neurons=256,
        solver=solver,
        random_state=0,
        max_iter=8,
        input_scaling=scaling,
        linear_term=scaling == "maxabs",
    )
    dense = Estimator(**params).fit(X.toarray(), y, sample_weight=w)
    sparse = Estimator(**params).fit(Xs, y, sample_weight=w)
    assert sparse.n_iter_ == dense.n_iter_
    assert_allclose(sparse.coefs_[0], dense.coefs_[0], rtol=1e-7, atol=1e-9)
    assert_allclose(sparse.loss_curve_, dense.loss_curve_, rtol=1e-9)
    out = "decision_function" if Estimator is SublinearNewtonClassifier else "predict"
    assert_allclose(
        getattr(sparse, out)(Xs), getattr(dense, out)(X.toarray()), rtol=1e-8, atol=1e-8
    )
    # predictions of dense input by the sparse fit and the other way round
    assert_allclose(
        getattr(sparse, out)(X.toarray()), getattr(dense, out)(Xs), rtol=1e-8, atol=1e-8
    )
    if Estimator is SublinearNewtonClassifier:
        assert_array_equal(sparse.predict(Xs), dense.predict(X.toarray()))
        assert_allclose(
            sparse.predict_proba(Xs), dense.predict_proba(X.toarray()), atol=1e-8
        )


def _unsorted(X):
    """The csr array ``X`` with the entries of every row stored in reverse
    order (unsorted indices, as a product of sparse matrices may give)."""
    X = sp.csr_array(X)
    order = np.concatenate(
        [np.arange(end - 1, start - 1, -1) for start, end in pairwise(X.indptr)]
    )
    return sp.csr_array((X.data[order], X.indices[order], X.indptr), shape=X.shape)


@pytest.mark.parametrize("scaling", ["maxabs", "standard"])
def test_unsorted_sparse_input_is_left_unchanged_and_fits_as_sorted(scaling):
    X, y, _ = _sparse_data()
    unsorted = _unsorted(X)
    assert not unsorted.has_sorted_indices
    arrays = ("data", "indices", "indptr")
    stored = [getattr(unsorted, name).copy() for name in arrays]
    params = dict(n_neurons=256, random_state=0, max_iter=4, input_scaling=scaling)
    fit = SublinearNewtonRegressor(**params).fit(unsorted, y)
    predicted = fit.predict(unsorted)
    # fit and predict keep the caller's arrays as they were
    for name, before in zip(arrays, stored):
        assert_array_equal(getattr(unsorted, name), before)
    assert_array_equal(unsorted.toarray(), X.toarray())
    # the same matrix stored in order: the same fit
    reference = SublinearNewtonRegressor(**params).fit(X, y)
    assert_allclose(fit.loss_curve_, reference.loss_curve_, rtol=1e-12)
    assert_allclose(predicted, reference.predict(X), rtol=1e-10, atol=1e-12)


def test_sparse_fit_does_not_depend_on_n_jobs_or_index():
    X, y, _ = _sparse_data(n=400, d=60)
    fits = [
        SublinearNewtonRegressor(
            n_neurons=2048, index=index, n_jobs=n_jobs, random_state=0, max_iter=5
        ).fit(X, y)
        for index, n_jobs in [("dense", 1), ("dense", 2), ("tree", 1), ("tree", 2)]
    ]
    for fit in fits[1:]:
        assert fit.n_iter_ == fits[0].n_iter_
        assert_array_equal(fit.coefs_[0], fits[0].coefs_[0])
        assert_array_equal(fit.predict(X), fits[0].predict(X))


def test_sparse_early_stopping_and_partial_fit_agree_with_dense():
    X, y, _ = _sparse_data(n=300)
    params = dict(
        n_neurons=256,
        random_state=0,
        early_stopping=True,
        max_iter=6,
        input_scaling="standard",
    )
    dense = SublinearNewtonRegressor(**params).fit(X.toarray(), y)
    sparse = SublinearNewtonRegressor(**params).fit(X, y)
    assert sparse.n_iter_ == dense.n_iter_
    assert_allclose(sparse.validation_scores_, dense.validation_scores_, rtol=1e-8)
    a = SublinearNewtonRegressor(n_neurons=256, random_state=0, input_scaling="maxabs")
    b = SublinearNewtonRegressor(n_neurons=256, random_state=0, input_scaling="maxabs")
    for start in range(0, 300, 100):
        a.partial_fit(X[start : start + 100], y[start : start + 100])
        b.partial_fit(X[start : start + 100].toarray(), y[start : start + 100])
    assert_allclose(a.predict(X), b.predict(X.toarray()), rtol=1e-8, atol=1e-8)


def test_bad_sparse_input_is_refused():
    X, y, _ = _sparse_data()
    est = SublinearNewtonRegressor(n_neurons=64, random_state=0)
    # 64-bit indices (scipy's choice for int64 coordinates) are taken as they
    # are, with the same fit
    big = sp.csr_array(X)
    big.indices = big.indices.astype(np.int64)
    big.indptr = big.indptr.astype(np.int64)
    assert_array_equal(est.fit(big, y).predict(big), est.fit(X, y).predict(X))
    for bad in (np.nan, np.inf):
        Xb = X.copy()
        Xb.data[3] = bad
        with pytest.raises(ValueError, match="NaN|infinity"):
            est.fit(Xb, y)
    est.fit(X, y)
    Xb = X.copy()
    Xb.data[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.predict(Xb)
    with pytest.raises(ValueError, match="features"):
        est.predict(X[:, :5])
    # other formats are converted, as scikit-learn's validation does
    for fmt in (sp.coo_array, sp.lil_matrix, sp.dok_array, sp.bsr_array):
        assert_allclose(est.predict(fmt(X)), est.predict(X))
    # the sparse and dense products sum in different orders
    assert est.score(X, y) == pytest.approx(est.score(X.toarray(), y), rel=1e-12)


def _topic_counts(n_docs=400, n_words=10_000, words_per_doc=20, seed=1):
    """Word counts of three topics over power-law word frequencies, each topic
    raising 200 words tenfold (rare words carry the topics)."""
    rng = np.random.RandomState(seed)
    base = 1.0 / np.arange(1, n_words + 1) ** 1.1
    topics = rng.randint(0, 3, n_docs)
    rows, cols = [], []
    for t in range(3):
        p = base.copy()
        p[rng.choice(n_words, 200, replace=False)] *= 10.0
        docs = np.flatnonzero(topics == t)
        lengths = rng.poisson(words_per_doc, docs.size)
        rows.append(np.repeat(docs, lengths))
        cols.append(rng.choice(n_words, lengths.sum(), p=p / p.sum()))
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    counts = sp.csr_array((np.ones(rows.size), (rows, cols)), shape=(n_docs, n_words))
    counts.sum_duplicates()
    return counts, topics


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_input_scaling_auto_for_sparse_and_dense():
    X, y, rng = _sparse_data()
    w = rng.randint(0, 3, X.shape[0]).astype(float)
    w[0] = 0.0
    X = X.tolil()
    X[0, 1] = 1e6  # a row of weight zero takes no part in the scaling
    X = sp.csr_array(X)
    labels = (y > np.median(y)).astype(int)
    params = dict(n_neurons=64, random_state=0, max_iter=2)
    sparse = SublinearNewtonClassifier(**params).fit(X, labels, sample_weight=w)
    kept = X[w > 0].toarray()
    peak = np.abs(kept).max(axis=0)
    assert_array_equal(sparse.input_mean_, 0.0)
    assert_array_equal(sparse.input_scale_, np.where(peak > 0, peak, 1.0))
    assert sparse.linear_coef_ is not None  # "auto": a linear term on sparse X
    # with a float alpha, none on dense X (the classifier)
    dense = SublinearNewtonClassifier(**params, alpha=1e-3).fit(
        X.toarray(), labels, sample_weight=w
    )
    mean = np.average(kept, axis=0, weights=w[w > 0])
    assert_allclose(dense.input_mean_, mean, rtol=1e-12)
    assert dense.linear_coef_ is None
    none = SublinearNewtonRegressor(input_scaling="none", **params).fit(X, y)
    assert_array_equal(none.input_mean_, 0.0)
    assert_array_equal(none.input_scale_, 1.0)
    # integer weights are repeated rows for the max-abs scaling too
    reps = np.repeat(np.arange(X.shape[0]), w.astype(int))
    repeated = SublinearNewtonClassifier(**params).fit(X[reps], labels[reps])
    assert_array_equal(repeated.input_scale_, sparse.input_scale_)
    # warm starts and partial_fit keep the first fit's scaling and linear term
    sparse.set_params(warm_start=True).fit(X.toarray(), labels)
    assert_array_equal(sparse.input_mean_, 0.0)
    assert sparse.linear_coef_ is not None
    with pytest.raises(ValueError, match="input_scaling"):
        SublinearNewtonClassifier(input_scaling="minmax").fit(X, labels)


def test_default_scaling_of_sparse_text_beats_standardization():
    # tf-idf rows of rare topic words: standardization magnifies the rarest
    # words (the previous default for sparse X); max-abs scaling with a
    # linear term does not
    counts, topics = _topic_counts()
    X = sp.csr_array(counts.log1p())
    X = sp.csr_array(X.multiply(1.0 / np.sqrt(X.multiply(X).sum(axis=1))[:, None]))
    train = np.arange(X.shape[0]) < 267
    scores = {}
    for scaling in ("standard", "auto"):
        clf = SublinearNewtonClassifier(
            n_neurons=256, random_state=0, input_scaling=scaling
        )
        clf.fit(X[train], topics[train])
        scores[scaling] = clf.score(X[~train], topics[~train])
    assert scores["auto"] > scores["standard"] + 0.05


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(
    "scaling, linear_term, uncentered",
    [("auto", "auto", True), ("none", True, True), ("maxabs", False, False)]
    + [("standard", True, False)],
)
def test_linear_term_on_uncentered_rows_is_scaled(
    scaling, linear_term, uncentered, monkeypatch
):
    # A linear term on uncentered rows (max-abs or none): the solver sees its
    # rows divided by the mean row norm, and CG stops on the model decrease;
    # otherwise (standardized rows, or no linear term) neither changes.
    seen = {}
    solve = _gauss_newton.GaussNewton.solve

    def spy(self, network, *args, **kwargs):
        seen.update(scale=network.affine_scale, stop=self.cg_stop)
        return solve(self, network, *args, **kwargs)

    monkeypatch.setattr(_gauss_newton.GaussNewton, "solve", spy)
    X, y, _ = _sparse_data()
    labels = (y > np.median(y)).astype(int)
    clf = SublinearNewtonClassifier(
        n_neurons=64,
        random_state=0,
        max_iter=2,
        input_scaling=scaling,
        linear_term=linear_term,
    ).fit(X, labels)
    if uncentered:
        scale = _inputs.LINEAR_ROW_NORM / clf.input_norm_mean_
        assert seen == {"scale": scale, "stop": "decrease"}
        assert clf.input_norm_mean_ > 1.5  # the rule changes something here
    else:
        assert seen == {"scale": 1.0, "stop": "residual"}


def _starting_loss(capsys):
    """The loss before the first iteration, from a fit's verbose output."""
    out = capsys.readouterr().out
    return float(out.split("Iteration 0: loss=")[1].split(",")[0])


@pytest.mark.parametrize("scaling", ["maxabs", "none", "standard"])
def test_log_loss_fits_on_uncentered_rows_start_from_zero_logits(scaling, capsys):
    X, y, _ = _sparse_data()
    # imbalanced classes: 60%, 30%, 10%
    y = np.digitize(y, np.quantile(y, [0.6, 0.9]))
    priors = np.bincount(y) / y.size
    SublinearNewtonClassifier(
        n_neurons=64, max_iter=1, input_scaling=scaling, verbose=1, random_state=0
    ).fit(X, y)
    start = _starting_loss(capsys)
    # zero logits: the uniform prediction, log(3) per row; standardized rows
    # start from the constant model, the class-prior logits (their entropy)
    expected = np.log(3) if scaling != "standard" else -priors @ np.log(priors)
    assert start == pytest.approx(expected, rel=1e-5)
    # the squared error keeps the constant model on every scaling: the mean
    # of the standardized targets, half their unit variance
    reg = SublinearNewtonRegressor(
        n_neurons=64, max_iter=1, input_scaling=scaling, verbose=1, random_state=0
    )
    reg.fit(X, 5.0 + y)
    start = _starting_loss(capsys)
    assert start == pytest.approx(0.5, rel=1e-5)
