"""The memory guard: limits (RAM, cgroups, RLIMIT_AS), estimates and checks."""

import subprocess
import sys
import textwrap
import tracemalloc

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from sklearn_sublinear import (
    SublinearNewtonClassifier,
    SublinearNewtonRegressor,
    _memory,
)
from sklearn_sublinear._solvers._selection import EIGH_MAX_SAMPLES
from sklearn_sublinear._tree_index._sparse_rows import PRODUCT_CHUNK_BYTES

GiB = 2**30


pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data(n_samples=300, n_features=4, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n_samples, n_features))
    return X, np.sin(X[:, 0]) + X[:, 1] * X[:, 2]


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _fake_system(tmp_path, cgroup_line, files):
    proc, cgroup = tmp_path / "proc", tmp_path / "cgroup"
    _write(proc / "self" / "cgroup", cgroup_line + "\n")
    _write(proc / "self" / "status", "Name:\tpython\nVmSize:\t  1048576 kB\n")
    _write(proc / "meminfo", "MemTotal:       25165824 kB\n")
    for name, text in files.items():
        _write(cgroup / name, text + "\n")
    return proc, cgroup


# -- limits ---------------------------------------------------------------------
def test_cgroup_v2_limit_minus_its_usage(tmp_path):
    proc, cgroup = _fake_system(
        tmp_path,
        "0::/user.slice/job",
        {
            "user.slice/job/memory.max": str(4 * GiB),
            "user.slice/job/memory.current": str(1 * GiB),
        },
    )
    limits = _memory.memory_limits(proc=proc, cgroup=cgroup, rlimit=None)
    assert limits["cgroup memory.max"] == 3 * GiB
    # 75% of physical memory (no resident set in the fake status file)
    assert limits["physical memory"] == 18 * GiB
    nbytes, source = _memory.available_memory(proc=proc, cgroup=cgroup, rlimit=None)
    assert (nbytes, source) == (3 * GiB, "cgroup memory.max")


def test_cgroup_v2_without_a_limit_and_nested_limits(tmp_path):
    proc, cgroup = _fake_system(
        tmp_path,
        "0::/a/b",
        {
            "a/memory.max": str(2 * GiB),
            "a/memory.current": str(GiB // 2),
            "a/b/memory.max": "max",
            "a/b/memory.current": str(GiB // 4),
        },
    )
    # The parent's limit binds the child's processes too.
    limits = _memory.memory_limits(proc=proc, cgroup=cgroup, rlimit=None)
    assert limits["cgroup memory.max"] == 2 * GiB - GiB // 2


def test_cgroup_v1_limit_minus_its_usage(tmp_path):
    proc, cgroup = _fake_system(
        tmp_path,
        "12:cpu,cpuacct:/docker/x\n4:memory:/docker/x",
        {
            "memory/docker/x/memory.limit_in_bytes": str(3 * GiB),
            "memory/docker/x/memory.usage_in_bytes": str(GiB),
        },
    )
    limits = _memory.memory_limits(proc=proc, cgroup=cgroup, rlimit=None)
    assert limits["cgroup memory.limit_in_bytes"] == 2 * GiB
    # v1 reports "no limit" as a huge number: it is then not a limit.
    (cgroup / "memory/docker/x/memory.limit_in_bytes").write_text(
        "9223372036854771712\n"
    )
    limits = _memory.memory_limits(proc=proc, cgroup=cgroup, rlimit=None)
    assert "cgroup memory.limit_in_bytes" not in limits


def test_rlimit_as_minus_the_address_space_in_use(tmp_path):
    proc, cgroup = _fake_system(tmp_path, "0::/", {})
    limits = _memory.memory_limits(proc=proc, cgroup=cgroup, rlimit=5 * GiB)
    # VmSize is 1 GiB in the fake status file.
    assert limits["RLIMIT_AS"] == 4 * GiB - _memory.ADDRESS_SPACE_MARGIN
    assert _memory.available_memory(proc=proc, cgroup=cgroup, rlimit=5 * GiB)[1] == (
        "RLIMIT_AS"
    )


def test_missing_files_mean_no_limit(tmp_path):
    limits = _memory.memory_limits(
        proc=tmp_path / "none", cgroup=tmp_path / "none", rlimit=None
    )
    assert "cgroup memory.max" not in limits
    assert "RLIMIT_AS" not in limits


# -- the guard in fits -------------------------------------------------------------
def test_refusal_names_the_parts_the_limit_and_its_source():
    X, y = _data()
    reg = SublinearNewtonRegressor(n_neurons=256, memory_limit=2**20)
    with pytest.raises(ValueError, match=r"Fitting needs about") as exc:
        reg.fit(X, y)
    message = str(exc.value)
    for part in ("index", "weights", "firing pairs", "left by memory_limit."):
        assert part in message
    assert not hasattr(reg, "coefs_")


def test_memory_limit_none_switches_the_guard_off(monkeypatch):
    X, y = _data()
    monkeypatch.setattr(_memory, "available_memory", lambda: (2**10, "RLIMIT_AS"))
    with pytest.raises(ValueError, match="RLIMIT_AS"):
        SublinearNewtonRegressor(n_neurons=256).fit(X, y)
    reg = SublinearNewtonRegressor(n_neurons=256, memory_limit=None).fit(X, y)
    assert reg.score(X, y) > 0.5


@pytest.mark.parametrize("value", [0, -1.0, "lots"])
def test_memory_limit_is_validated(value):
    X, y = _data()
    with pytest.raises(ValueError, match="memory_limit"):
        SublinearNewtonRegressor(memory_limit=value).fit(X, y)


# 3000 rows of 8 features (and the bias coordinate), the default width
SIZES = {"n_rows": 3000, "n_weighted": 3000, "n_inputs": 9, "n_neurons": 1536}


def _parts(**sizes):
    fixed = {"n_outputs": 1, "threshold": 1.0, "solver": "cg", "index_nbytes": 0}
    return _memory.fit_nbytes(**{**SIZES, **fixed, **sizes})


def test_estimate_counts_every_output():
    sizes = dict(n_rows=5000, n_weighted=5000, n_neurons=2**14, threshold=2.0)
    one = _parts(n_outputs=1, **sizes)
    hundred = _parts(n_outputs=100, **sizes)
    # Per output: the conjugate gradient's vectors over the rows and the
    # step's sums over the neurons and inputs.
    per_output = 8 * (5 * 5000 + 2**14 * 9)
    assert sum(hundred.values()) - sum(one.values()) >= 99 * per_output


def test_cholesky_estimate_holds_all_its_n_by_n_matrices():
    parts = _parts(solver="cholesky")
    # data and affine Grams, the system's Gram, its overlap counts, the
    # damped matrix and its factor
    assert parts["n x n Gram matrices"] >= 56 * 3000**2


def _traced_peak(reg, X, y):
    """Peak bytes traced while ``reg`` fits ``(X, y)``."""
    tracemalloc.start()
    try:
        reg.fit(X, y)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
@pytest.mark.parametrize("n_outputs", [1, 20, 100])
def test_estimate_bounds_the_traced_peak(solver, n_outputs):
    rng = np.random.RandomState(0)
    X = rng.standard_normal((600, 6))
    Y = np.sin(X @ rng.standard_normal((6, n_outputs)))
    reg = SublinearNewtonRegressor(
        n_neurons=2**12, sparsity=0.6, solver=solver, max_iter=3, random_state=0
    )
    # the arrays alone, without the fixed part for threads and buffers (which
    # tracemalloc does not see)
    arrays = reg.fit(X, Y).memory_estimate_ - _memory.RUNTIME_BYTES
    assert _traced_peak(reg, X, Y) <= arrays


def _record_checks(monkeypatch):
    """The totals the guard checks, in order (first the one before fitting)."""
    totals = []
    check = _memory.MemoryGuard.check

    def spy(guard, parts, **kwargs):
        totals.append(sum(parts.values()))
        return check(guard, parts, **kwargs)

    monkeypatch.setattr(_memory.MemoryGuard, "check", spy)
    return totals


def test_estimate_before_fitting_bounds_the_traced_peak_of_a_cg_fit(monkeypatch):
    # Many firing pairs per row (low sparsity): their budgeted growth and
    # bytes must bound the peak from before the first query.
    X, y = _data(n_samples=8000, n_features=8)
    starts = _record_checks(monkeypatch)
    reg = SublinearNewtonRegressor(
        solver="cg", sparsity=0.3, max_iter=3, random_state=0, memory_limit=None
    )
    peak = _traced_peak(reg, X, y)
    assert peak <= starts[0]


def test_check_after_each_query_stops_before_the_system(monkeypatch):
    X, y = _data(n_samples=400)
    params = dict(n_neurons=1024, sparsity=0.7, random_state=0)
    # Budget no growth of the firing pairs before fitting, and record what
    # the guard checks: first the start, then after every query.
    monkeypatch.setattr(_memory, "PAIR_SHIFT_BASE", 0.0)
    monkeypatch.setattr(_memory, "PAIR_SHIFT_SLOPE", 0.0)
    totals = _record_checks(monkeypatch)
    reg = SublinearNewtonRegressor(**params, memory_limit=None).fit(X, y)
    assert reg.memory_estimate_ == int(max(totals))
    start, grown = totals[0], max(totals[1:])
    # the firing pairs grow in training (about 9x at this sparsity)
    assert grown > start
    reg.set_params(memory_limit=(start + grown) / 2)
    before = joblib.hash(vars(reg))
    totals.clear()
    with pytest.raises(ValueError, match=r"firing pairs grew") as exc:
        reg.fit(X, y)
    assert "Fitting needs about" in str(exc.value)
    # refused at the first query whose pairs exceed the limit
    assert max(totals) > (start + grown) / 2 >= max(totals[:-1])
    assert joblib.hash(vars(reg)) == before


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
def test_refusal_after_accepted_steps_keeps_them(monkeypatch, solver):
    # The guard refuses the first query of iteration 2: the fit stops with a
    # warning and keeps iteration 1's weights, those of a fit that stops
    # there by max_iter, with the weights and the index put back.
    X, y = _data(n_samples=400)
    params = dict(n_neurons=1024, solver=solver, random_state=0, memory_limit=None)
    check, calls = _memory.MemoryGuard.check, []

    def refuse_later(guard, parts, **kwargs):
        calls.append(None)
        if refuse_after is not None and len(calls) > refuse_after:
            raise _memory.MemoryLimitReached("Fitting needs about 9 GiB.")
        return check(guard, parts, **kwargs)

    monkeypatch.setattr(_memory.MemoryGuard, "check", refuse_later)
    refuse_after = None
    one = SublinearNewtonRegressor(**params, max_iter=1).fit(X, y)
    refuse_after, calls[:] = len(calls), []
    with pytest.warns(ConvergenceWarning, match=r"9 GiB\. The fit stopped at "):
        reg = SublinearNewtonRegressor(**params).fit(X, y)
    assert reg.n_iter_ == one.n_iter_ == 1
    for a, b in zip(reg.coefs_ + reg.intercepts_, one.coefs_ + one.intercepts_):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(reg.predict(X), one.predict(X))


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS is Linux's")
def test_rlimit_as_refuses_quickly_instead_of_memory_error():
    # 100 classes on 6000 rows with 2**16 neurons need several GiB; under a
    # 2 GiB address space the fit must be refused before it allocates.
    code = textwrap.dedent(
        """
        import resource, time
        import numpy as np
        resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))
        from sklearn_sublinear import SublinearNewtonClassifier
        rng = np.random.RandomState(0)
        X = rng.standard_normal((6000, 8))
        y = rng.randint(0, 100, 6000)
        t = time.perf_counter()
        try:
            SublinearNewtonClassifier(n_neurons=2**16, sparsity=0.3).fit(X, y)
        except ValueError as exc:
            assert "RLIMIT_AS" in str(exc), exc
            print("refused", time.perf_counter() - t)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("refused")
    assert float(out.stdout.split()[1]) < 5.0


def test_classifier_refusal_counts_the_classes():
    rng = np.random.RandomState(0)
    X = rng.standard_normal((2000, 4))
    limit = _memory.RUNTIME_BYTES + GiB // 4
    few = SublinearNewtonClassifier(n_neurons=2**12, memory_limit=limit)
    few.fit(X, rng.randint(0, 2, 2000))
    many = SublinearNewtonClassifier(n_neurons=2**12, memory_limit=limit)
    with pytest.raises(ValueError, match="Fitting needs about"):
        many.fit(X, rng.randint(0, 100, 2000))


@pytest.mark.parametrize("alpha", ["auto", 1e-3])
def test_estimate_bounds_the_traced_peak_of_large_cholesky_systems(alpha):
    # Few neurons and inputs, many rows: the n x n matrices dominate, those
    # of the spectrum (alpha="auto", up to EIGH_MAX_SAMPLES rows) included.
    rng = np.random.RandomState(0)
    X = rng.standard_normal((EIGH_MAX_SAMPLES, 3))
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2]
    y += 0.1 * rng.standard_normal(EIGH_MAX_SAMPLES)
    reg = SublinearNewtonRegressor(
        n_neurons=128, alpha=alpha, solver="cholesky", max_iter=3, random_state=0
    )
    assert _traced_peak(reg, X, y) <= reg.memory_estimate_


def _sparse_input(n, d, per_row, seed=0):
    rng = np.random.RandomState(seed)
    cols = rng.randint(0, d, size=n * per_row)
    X = sp.csr_array(
        (rng.exponential(size=cols.size), (np.repeat(np.arange(n), per_row), cols)),
        shape=(n, d),
    )
    X.sum_duplicates()
    return X, np.asarray(X[:, : d // 2].sum(axis=1)).ravel(), rng


@pytest.mark.parametrize(
    "params",
    [
        dict(solver="cholesky"),
        dict(solver="cg"),
        dict(solver="cg", early_stopping=True),
        dict(solver="cholesky", linear_term=True, homogeneous=False),
    ],
)
def test_estimate_bounds_the_traced_peak_of_sparse_inputs(params):
    # 2000 x 20000 with 10 stored entries per row: the estimate counts the
    # stored entries, not n x d (320 MB dense), and stays above the peak
    X, y, rng = _sparse_input(2000, 20_000, 10)
    w = rng.randint(0, 3, size=X.shape[0]).astype(float)
    params = {"linear_term": False, **params}
    reg = SublinearNewtonRegressor(n_neurons=256, max_iter=3, random_state=0, **params)
    tracemalloc.start()
    try:
        reg.fit(X, y, sample_weight=w)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= reg.memory_estimate_


def test_sparse_fit_never_densifies_the_input():
    # 1000 x 100000 with 20 stored entries per row: dense it would take
    # 800 MB; the fit's traced peak stays far below.
    X, y, _ = _sparse_input(1000, 100_000, 20)
    y = (y > np.median(y)).astype(int)
    clf = SublinearNewtonClassifier(n_neurons=64, random_state=0, max_iter=3)
    peak = _traced_peak(clf, X, y)
    # the weights alone are 64 x 100001 floats (51 MB)
    assert peak < 6 * 8 * 64 * (X.shape[1] + 1)
    assert peak < 8 * X.shape[0] * X.shape[1] / 4
    assert peak <= clf.memory_estimate_


def test_wide_sparse_cg_fit_holds_two_weight_sized_buffers():
    # 300 x 100000, 0.1% stored entries, on the CG path: the weights and the
    # step's sums are the only buffers of the weights' size (no sketch
    # entries, no kept rows of an accepted step, no copies of W for the
    # offsets); besides them, chunks of PRODUCT_CHUNK_BYTES.
    rng = np.random.RandomState(0)
    X = sp.random(300, 100_000, density=0.001, random_state=rng, format="csr")
    y = (X @ rng.randn(X.shape[1]) > 0).astype(int)
    clf = SublinearNewtonClassifier(
        n_neurons=64, solver="cg", alpha=1e-3, max_iter=3, random_state=0
    )
    peak = _traced_peak(clf, X, y)
    assert clf.n_iter_ == 3
    weights = clf.coefs_[0].nbytes
    assert peak < 2.5 * weights + 2 * PRODUCT_CHUNK_BYTES
    assert peak <= clf.memory_estimate_


def test_linear_term_on_wide_sparse_input_fits_on_the_cg_path():
    # The regressor's default linear term on 600 x 60000 sparse rows on the
    # CG path: the sketch hashes the 60001 affine columns into its own 512
    # instead of keeping them (a 60513^2 Gram: 88 GB, which the guard refused)
    rng = np.random.RandomState(0)
    X = sp.random(600, 60_000, density=5e-4, random_state=rng, format="csr")
    y = X @ rng.randn(X.shape[1]) + rng.randn(X.shape[0])
    reg = SublinearNewtonRegressor(n_neurons=64, max_iter=2, alpha=1e-3, solver="cg")
    reg.set_params(random_state=0, memory_limit=2**31)
    peak = _traced_peak(reg, X, y)
    assert reg.solver_ == "cg" and reg.linear_coef_.shape == (X.shape[1], 1)
    assert reg.memory_estimate_ < 2**30
    assert peak <= reg.memory_estimate_
