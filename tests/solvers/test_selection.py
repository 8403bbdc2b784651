"""alpha="auto": the damping chosen by GCV against brute-force refits."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from sklearn_sublinear import SublinearNewtonClassifier, SublinearNewtonRegressor
from sklearn_sublinear._network import LOSSES
from sklearn_sublinear._solvers import GaussNewton
from sklearn_sublinear._solvers._gauss_newton import DAMPING_REFERENCE_WEIGHT
from sklearn_sublinear._solvers._selection import (
    GCV_RELATIVE_DAMPINGS,
    DampingChoice,
    KrylovChoice,
    Lanczos,
    earlier_dof,
    gcv_scores,
)
from sklearn_sublinear._tree_index import DenseIndex

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def refit_gcv(A, z, damping, total_weight):
    """GCV of the ridge fit ``min ||z - A t||^2 + damping ||t||^2`` by refits in
    parameter space: the fitted values of ``z`` and, for ``trace(H)``, of
    every unit vector (all right-hand sides of one solve)."""
    n, p = A.shape
    targets = np.column_stack([z, np.eye(n)])
    fitted = A @ np.linalg.solve(A.T @ A + damping * np.eye(p), A.T @ targets)
    residual = np.sum((z - fitted[:, 0]) ** 2)
    dof = np.trace(fitted[:, 1:])
    return residual / (1.0 - dof / total_weight) ** 2


def test_gcv_scores_match_refits():
    rng = np.random.RandomState(0)
    A = rng.standard_normal((15, 6))
    z = rng.standard_normal(15)
    eigenvalues, V = np.linalg.eigh(A @ A.T)
    dampings = np.array([1e-3, 0.1, 1.0, 10.0])
    scores = gcv_scores(np.maximum(eigenvalues, 0), V.T @ z[:, None], dampings, 15.0)
    expected = [refit_gcv(A, z, lam, 15.0) for lam in dampings]
    assert_allclose(scores, expected, rtol=1e-8)
    # trace(H) >= N has no finite score
    assert np.isinf(gcv_scores(np.ones(3), np.ones((3, 1)), np.array([1e-9]), 2.0))


def _whitened_jacobian(X, network, s, h):
    """``D^(1/2) J`` over (W, theta) for one output, written out densely."""
    m, d = network.n_neurons, X.shape[1]
    fires = (X @ network.W.T) > network.threshold
    J = fires[:, :, None] * network.signs[None, :, 0, None] * X[:, None, :]
    J = np.hstack([J.reshape(X.shape[0], m * d) / np.sqrt(m), np.ones((len(X), 1))])
    return np.sqrt(s * h)[:, None] * J, J[:, : m * d]


def test_first_damping_is_the_argmin_of_refit_gcv(network_factory):
    X, net = network_factory(n_samples=25, n_neurons=48, n_outputs=1, seed=1)
    rng = np.random.RandomState(1)
    Y = np.sin(3 * X[:, :1]) + 0.3 * rng.standard_normal((25, 1))
    weights = rng.randint(1, 4, size=25).astype(float)
    total = weights.sum()
    s, h = weights / total, np.ones(25)
    # reference at the starting weights
    loss = LOSSES["squared_error"]()
    g = loss.raw_grad(Y, net.forward(X))[:, 0]
    A, J_neurons = _whitened_jacobian(X, net, s, h)
    trace = float(np.sum(s * h * np.sum(J_neurons**2, axis=1)))
    z = -np.sqrt(s / h) * g
    refit = [refit_gcv(A, z, r * trace, total) for r in GCV_RELATIVE_DAMPINGS]
    assert np.min(refit) < np.sum(z**2)  # a step is worth taking here

    _, history, _ = GaussNewton(
        alpha="auto", max_iter=1, tol=0.0, n_iter_no_change=5
    ).solve(net, loss, DenseIndex(X, net.threshold), X, Y, weights)
    assert history["alpha"][0] == GCV_RELATIVE_DAMPINGS[np.argmin(refit)]


def _noisy(n=120, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n, 4))
    return X, np.sin(2 * X[:, 0]) + X[:, 1] + 0.5 * rng.standard_normal(n)


@pytest.mark.parametrize(
    "Estimator", [SublinearNewtonRegressor, SublinearNewtonClassifier]
)
def test_integer_weights_equal_repeated_rows(Estimator):
    X, y = _noisy()
    if Estimator is SublinearNewtonClassifier:
        y = y > 0
    w = np.random.RandomState(1).randint(0, 4, size=X.shape[0])
    params = dict(n_neurons=256, random_state=0)
    weighted = Estimator(**params).fit(X, y, sample_weight=w)
    repeated = Estimator(**params).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    assert weighted.alpha_ == repeated.alpha_
    assert weighted.n_iter_ == repeated.n_iter_
    out = "predict" if Estimator is SublinearNewtonRegressor else "predict_proba"
    assert_allclose(
        getattr(weighted, out)(X), getattr(repeated, out)(X), rtol=1e-7, atol=1e-9
    )


def test_auto_is_deterministic_and_the_same_on_both_indexes():
    X, y = _noisy()
    fits = [
        SublinearNewtonRegressor(n_neurons=512, index=index, random_state=0).fit(X, y)
        for index in ("tree", "dense", "tree")
    ]
    for fit in fits[1:]:
        assert fit.history_["alpha"] == fits[0].history_["alpha"]
        assert_array_equal(fit.predict(X), fits[0].predict(X))
    assert fits[0].alpha_ == fits[0].history_["alpha"][0]


def test_auto_regularizes_small_noisy_data_more_than_a_small_float():
    X, y = _noisy(n=200)
    X_test, y_test = _noisy(n=400, seed=5)
    auto = SublinearNewtonRegressor(n_neurons=512, random_state=0).fit(X, y)
    small = SublinearNewtonRegressor(n_neurons=512, alpha=1e-6, random_state=0)
    small.fit(X, y)
    assert auto.alpha_ > 1e-6
    assert auto.score(X_test, y_test) > small.score(X_test, y_test)


def test_float_alpha_is_honoured():
    X, y = _noisy(n=600)
    reg = SublinearNewtonRegressor(n_neurons=256, alpha=0.05, random_state=0)
    reg.fit(X, y)
    floor = 0.05 * np.sqrt(DAMPING_REFERENCE_WEIGHT / 600)
    assert reg.alpha_ == pytest.approx(floor, rel=1e-12)
    assert all(a == pytest.approx(floor, rel=1e-12) for a in reg.history_["alpha"])


class _Dense:
    """A system of a given ``B``, for the Krylov choice."""

    def __init__(self, B):
        self.B = B

    def bmatvec(self, V):
        return self.B @ V


def _spd(n=20, seed=0):
    rng = np.random.RandomState(seed)
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return (V * np.logspace(0, -4, n)) @ V.T, rng.standard_normal((n, 2))


def test_lanczos_with_full_steps_is_exact():
    B, Z = _spd()
    runs = Lanczos(lambda V: B @ V, Z, Z.shape[0])
    runs.extend(5)
    runs.extend(Z.shape[0])  # resumed
    e, V = np.linalg.eigh(B)
    for c in range(Z.shape[1]):
        theta, S = runs.quadrature(c)
        for lam in (1e-4, 1e-2, 1.0):
            # Gauss quadrature of z^T f(B) z with n nodes is exact
            f = lam**2 / (theta + lam) ** 2
            expected = Z[:, c] @ V @ (lam**2 / (e + lam) ** 2 * (V.T @ Z[:, c]))
            assert_allclose(np.sum(Z[:, c] ** 2) * S[0] ** 2 @ f, expected, rtol=1e-8)
        Q = runs.basis[:, :, c]
        assert_allclose(Q @ Q.T, np.eye(Z.shape[0]), atol=1e-10)


def test_krylov_path_solves_shifted_systems_and_falls_back():
    B, Z = _spd(n=40)
    total = 40.0
    choice = KrylovChoice(_Dense(B), Z, np.trace(B), total, 0, rtol=1e-2)
    # where the path converged, its solution has the promised residual
    for lam in choice.damping * np.array([1.0, 4.0, 100.0]):
        C = choice.path_solve(lam)
        assert C is not None
        residual = np.linalg.norm(B @ C + lam * C - Z, axis=0)
        assert np.all(residual <= 1e-2 * np.linalg.norm(Z, axis=0) * (1 + 1e-9))
    # the chosen damping is one whose step the path holds
    assert choice.path_solve(choice.damping) is not None

    class Counting(_Dense):
        calls = 0
        last_info = {}

        def solve(self, lam, R):
            Counting.calls += 1
            return np.linalg.solve(self.B + lam * np.eye(len(R)), R)

    system = choice.wrap(Counting(B))
    system.solve(choice.damping, Z.copy())
    assert Counting.calls == 0
    # another right-hand side: the system's own solve
    other = Z + 1.0
    assert_allclose(
        system.solve(choice.damping, other),
        np.linalg.solve(B + choice.damping * np.eye(40), other),
    )
    assert Counting.calls == 1


def _kernel_gram(n=400, seed=0):
    """A kernel-like Gram of ReLU features with an intercept, and a noisy
    working response ``z``."""
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n, 3))
    A = np.hstack([np.maximum(X @ rng.standard_normal((3, 200)), 0), np.ones((n, 1))])
    z = (np.sin(2 * X[:, :1]) + 0.5 * rng.standard_normal((n, 1))) / np.sqrt(n)
    return A @ A.T / 200, z


def test_krylov_choice_is_near_the_exact_choice():
    # the Cholesky system's GCV from its spectrum against the Krylov quadratures
    B, z = _kernel_gram()
    n = len(z)
    e, V = np.linalg.eigh(B)
    trace = np.trace(B)
    exact = gcv_scores(np.maximum(e, 0), V.T @ z, GCV_RELATIVE_DAMPINGS * trace, n)
    choice = KrylovChoice(_Dense(B), z, trace, float(n), 0, rtol=1e-2)
    best = np.argmin(exact)
    # within two grid steps of the exact argmin, and near its score
    assert abs(np.log10(choice.relative / GCV_RELATIVE_DAMPINGS[best])) <= 0.25 + 1e-9
    assert choice.score == pytest.approx(exact[best], rel=0.05)


def test_krylov_choice_at_least_a_fraction_of_the_previous_one():
    # a later choice is at least the previous one over KRYLOV_DESCENT; the
    # floor ("lowest", the kept choice) stays the minimum's
    from sklearn_sublinear._solvers._selection import KRYLOV_DESCENT

    B, Z = _spd(n=40)
    trace, floor = np.trace(B), GCV_RELATIVE_DAMPINGS[8]
    free = KrylovChoice(_Dense(B), Z, trace, 40.0, 0, rtol=1e-2, minimum=floor)
    assert free.next_at_least == free.relative
    for at_least in (free.relative, free.relative * 1e3):
        choice = KrylovChoice(
            _Dense(B), Z, trace, 40.0, 0, rtol=1e-2, minimum=floor, at_least=at_least
        )
        assert choice.relative >= at_least / KRYLOV_DESCENT * (1 - 1e-12)
        if at_least == free.relative:
            assert choice.relative == free.relative
    assert free.lowest == (free.relative == floor)
    assert not choice.lowest
    assert choice.relative > free.relative


def test_auto_on_the_cg_path_is_deterministic_and_the_same_on_both_indexes():
    X, y = _noisy(n=300)
    fits = [
        SublinearNewtonRegressor(
            n_neurons=512, index=index, solver="cg", n_jobs=n_jobs, random_state=0
        ).fit(X, y)
        for index, n_jobs in (("tree", 1), ("dense", 2), ("tree", 2))
    ]
    for fit in fits[1:]:
        assert fit.history_["alpha"] == fits[0].history_["alpha"]
        assert_array_equal(fit.predict(X), fits[0].predict(X))
    # GCV chose the damping (not the float floor)
    assert fits[0].alpha_ != pytest.approx(
        1e-3 * np.sqrt(DAMPING_REFERENCE_WEIGHT / 300)
    )


def test_lowest_krylov_choice_is_kept(monkeypatch):
    """Once the Lanczos choice is the lowest damping it may try, later
    iterations keep it without selecting again, and the squared error's kept
    stopping share lets the fit go on while the loss falls."""
    import sklearn_sublinear._solvers._gauss_newton as gn
    from sklearn_sublinear._network._losses import SquaredLoss

    choices = []
    choose = gn._Problem.choose_damping

    def counting(self, *args, **kwargs):
        choice = choose(self, *args, **kwargs)
        choices.append(choice)
        return choice

    monkeypatch.setattr(gn._Problem, "choose_damping", counting)
    rng = np.random.RandomState(0)
    X = rng.standard_normal((300, 4))
    y = np.sin(2 * X[:, 0]) + X[:, 1] + 0.1 * rng.standard_normal(300)

    def fit():
        choices.clear()
        return SublinearNewtonRegressor(
            n_neurons=256, solver="cg", random_state=0, max_iter=10
        ).fit(X, y)

    reg = fit()
    assert len(choices) == 1 and isinstance(choices[0], KrylovChoice)
    assert choices[0].lowest
    assert reg.n_iter_ > 1
    assert reg.history_["alpha"] == [choices[0].relative] * reg.n_iter_
    # without the share the stopping rule alone ends the fit sooner
    monkeypatch.setattr(SquaredLoss, "kept_stopping_share", None)
    assert fit().n_iter_ < reg.n_iter_
    # without keeping, every iteration selects again
    monkeypatch.setattr(gn, "KEEP_LOWEST_CHOICE", False)
    again = fit()
    assert len(choices) >= again.n_iter_ > 1


def _ridge_shrink(A, damping):
    """``I - H`` of the ridge fit ``min ||r - A t||^2 + damping ||t||^2`` in
    sample space, by refits of every unit vector."""
    n, p = A.shape
    fitted = A @ np.linalg.solve(A.T @ A + damping * np.eye(p), A.T)
    return np.eye(n) - fitted


def test_gcv_after_earlier_steps_matches_refits():
    # successive ridge steps on one working response: the fit so far has
    # the residual S_2 S_1 z and the hat matrix I - S_2 S_1; a step of
    # damping lam leaves S_lam S_2 S_1 z with I - S_lam S_2 S_1
    rng = np.random.RandomState(0)
    A = rng.standard_normal((15, 6))
    z = rng.standard_normal(15)
    earlier = (0.3, 2.0)
    left = _ridge_shrink(A, earlier[1]) @ _ridge_shrink(A, earlier[0])
    residual = left @ z
    eigenvalues, V = np.linalg.eigh(A @ A.T)
    eigenvalues = np.maximum(eigenvalues, 0)
    dampings = np.array([1e-3, 0.1, 1.0, 10.0])
    scores = gcv_scores(eigenvalues, V.T @ residual[:, None], dampings, 15.0, earlier)
    expected = []
    for lam in dampings:
        after = _ridge_shrink(A, lam) @ left
        dof = np.trace(np.eye(15) - after)
        expected.append(np.sum((after @ z) ** 2) / (1 - dof / 15.0) ** 2)
    assert_allclose(scores, expected, rtol=1e-8)
    # no step: the fit so far, with the earlier steps' degrees of freedom
    assert earlier_dof(eigenvalues, earlier) == pytest.approx(
        np.trace(np.eye(15) - left), rel=1e-10
    )
    assert earlier_dof(eigenvalues, ()) == 0.0


class _Spectral:
    """A system of a given ``B`` offering its spectrum (DampingChoice)."""

    def __init__(self, B):
        self.B = B

    def spectrum(self):
        e, V = np.linalg.eigh(self.B)
        return np.maximum(e, 0.0), V

    def bmatvec(self, V):
        return self.B @ V


def test_krylov_earlier_dof_is_exact_on_a_diagonal_system():
    # One Rademacher probe of a diagonal B gives trace(f(B)) exactly, and a
    # run of n steps integrates exactly: the Krylov choice after earlier steps
    # then has the scores of the exact spectrum.
    n = 8
    e = np.logspace(0, -3, n)
    B = np.diag(e)
    z = np.random.RandomState(1).standard_normal((n, 1))
    trace = float(np.sum(e))
    earlier = (0.05 * trace, 0.2 * trace)
    krylov = KrylovChoice(_Dense(B), z, trace, float(n), 0, rtol=1e-2, earlier=earlier)
    exact = DampingChoice(_Spectral(B), z, trace, float(n), earlier)
    left = np.prod([lam / (e + lam) for lam in earlier], axis=0)
    assert krylov.earlier_dof == pytest.approx(np.sum(1 - left), rel=1e-10)
    assert krylov.no_step == pytest.approx(exact.no_step, rel=1e-10)
    assert krylov.no_step == pytest.approx(
        np.sum(z**2) / (1 - np.sum(1 - left) / n) ** 2, rel=1e-10
    )
    assert krylov.relative == exact.relative
    assert krylov.score == pytest.approx(exact.score, rel=1e-8)


def test_krylov_earlier_dof_is_unbiased_against_the_exact_trace():
    # a kernel-like Gram of 400 rows: the mean of the probes' estimates of
    # the earlier steps' degrees of freedom (runs until they settle) over
    # seeds against the exact trace (one probe's spread is about a fifth)
    B, z = _kernel_gram()
    n = len(z)
    trace = np.trace(B)
    e = np.maximum(np.linalg.eigvalsh(B), 0)
    for relative in (1e-4, 1e-3):
        earlier = (relative * trace, 3 * relative * trace)
        estimates = [
            KrylovChoice(
                _Dense(B), z, trace, float(n), seed, rtol=1e-2, earlier=earlier
            ).earlier_dof
            for seed in range(64)
        ]
        assert np.mean(estimates) == pytest.approx(earlier_dof(e, earlier), rel=0.08)


def test_later_steps_count_the_earlier_steps(monkeypatch):
    """The squared error's later selections get the dampings the earlier
    steps were taken with; a classifier's never do."""
    import sklearn_sublinear._solvers._gauss_newton as gn

    calls = []
    choose = gn._Problem.choose_damping

    def recording(self, system, linearization, trace, at_least=None, earlier=()):
        choice = choose(self, system, linearization, trace, at_least, earlier)
        calls.append((trace, earlier, choice))
        return choice

    monkeypatch.setattr(gn._Problem, "choose_damping", recording)
    X, y = _noisy(n=600)
    reg = SublinearNewtonRegressor(n_neurons=256, solver="cg", random_state=0)
    reg.fit(X, y)
    # no choice is kept after the first step: every later step selects
    assert len(calls) >= reg.n_iter_ >= 2
    assert calls[0][1] == ()
    for k, (_, earlier, _) in enumerate(calls[1:], start=1):
        assert len(earlier) == k
        assert earlier[:-1] == calls[k - 1][1]
        # the accepted damping, never below the choice
        assert earlier[-1] >= calls[k - 1][2].damping * (1 - 1e-12)
    calls.clear()
    Xc, yc = X, (y > np.median(y)).astype(int)
    SublinearNewtonClassifier(n_neurons=256, solver="cg", random_state=0).fit(Xc, yc)
    assert calls and all(earlier == () for _, earlier, _ in calls)
