"""Memory limits of the process and the peak memory of a fit.

The limit is the smallest of what physical memory, the cgroup (v2
``memory.max`` or v1 ``memory.limit_in_bytes``, of the process's cgroup and
every parent) and ``RLIMIT_AS`` leave, each minus what is already in use
(resident set, cgroup usage, address space). The estimate of a fit sums its
parts, in bytes, computed before allocating: the index, the weights, the
firing pairs (their lists, sparse copies and per-output products), the
per-sample rows and outputs, and the ``n x n`` matrices of the Cholesky
solver. Firing pairs grow during training (steps move neurons across the
threshold); the estimate before fitting budgets for that growth, and the
solver checks the real count after every index query.
"""

import math
import os
from pathlib import Path

from ._network._pair_sums import ROW_SUM_BLOCKS, sums_by_row
from ._network._two_layer import FORWARD_CHUNK_BYTES
from ._solvers import MemoryLimitReached
from ._solvers._preconditioners import SKETCH_ENTRY_BLOCK, sketch_rank
from ._solvers._selection import TRACE_PROBES
from ._threads import results_in_flight
from ._tree_index._csr import PART_PAIR_BYTES, RESULT_PAIR_BYTES

# Fraction of physical memory a fit may plan to use: the machine's memory is
# shared with other processes and the page cache.
MEMORY_FRACTION = 0.75
# Address space reserved beyond the bytes touched (thread stacks, malloc
# arenas and BLAS buffers of the threads a fit starts), kept free under
# RLIMIT_AS (benchmarks/bench_memory.py, key "rlimit").
ADDRESS_SPACE_MARGIN = 2**28
# cgroup limits at or above this are "no limit" (v1 reports 2**63 - 4096).
UNLIMITED = 2**60
# Growth of the firing pairs in training. The steps shift the pre-activations
# of the firing neurons: after training a neuron fires on a row about as if the
# threshold were lowered by a shift that grows with the sparsity and hardly
# depends on the width; it depends on the data and the loss (log losses and
# targets of many directions grow most). The shift
# ``PAIR_SHIFT_BASE + PAIR_SHIFT_SLOPE * max(sparsity - 0.2, 0)`` bounds the
# growth measured on the grid of benchmarks/bench_memory.py (key "runs" /
# "pair_growth": up to 1.4x at sparsity 0.2, 6.7x at 0.5, 42x at 0.7).
PAIR_SHIFT_BASE = 0.3
PAIR_SHIFT_SLOPE = 2.4
# Bytes per firing pair held at the peak of an iteration of the Cholesky
# path: the query's candidate lists and result, the previous result, the copy
# of the weighted rows' pairs and the systems' forms of them; plus a little
# per output (the per-output products). Calibrated on the grid of
# benchmarks/bench_memory.py (key "runs" / "peak_over_estimate").
PAIR_BYTES = 112
PAIR_OUTPUT_BYTES = 2
# The CG path holds less per pair: at the peak of an iteration (the query of
# a trial step) the query's own bytes per pair (the index's
# ``query_pair_nbytes``: its result with its parts or growth slack), beside
# the pattern (column indices only, its values dropped) of the current point,
# which the linearization and the system share; a rejected trial's point is
# dropped before the next trial. The system holds more per pair where it
# copies the pattern: the weighted rows' pairs when some rows have no weight
# (float64 values and int32 indices), the pairs by neuron when its sums run
# by neuron (wide networks or many columns: ``_network._pair_sums``), a
# float64 pattern of ones for sparse rows (benchmarks/bench_memory.py, keys
# "runs" / "peak_over_estimate" and "rows" / "peak_over_start").
CG_HELD_PATTERNS = 1
CG_COPY_BYTES = 12
CG_SPARSE_PATTERN_BYTES = 8
# The outputs of a query's pairs are computed by blocks of
# FORWARD_CHUNK_BYTES / 8 pairs, each holding this many bytes per pair (the
# shifted values and the block's product forms): at most three blocks' worth
# of FORWARD_CHUNK_BYTES, whatever the pairs.
EVALUATION_PAIR_BYTES = 24
# Resident bytes a fit adds beside its arrays, whatever its size: the stacks
# and allocator arenas of its threads, the BLAS buffers and the compiled
# kernels' scratch (the growth of peak RSS over the traced peak, 0.11 to
# 0.15 GiB from 20,000 to 300,000 rows: benchmarks/bench_memory.py, key
# "rows" / "untraced_bytes").
RUNTIME_BYTES = 2**28
# Bytes per sample and output: targets, outputs before and after the step,
# gradients, right-hand sides and the conjugate gradient's five vectors.
OUTPUT_BYTES = 16 * 8
# Bytes per sample and input: the index rows, the Jacobian rows of the
# weighted rows, the affine rows and the input copies of validation.
ROW_BYTES = 6 * 8
# Bytes per stored entry of a sparse input: the standardized values (the
# Jacobian and affine rows share them and the indices), a copy of the
# weighted rows, and the input copies of validation (values and indices),
# plus per row the row scales and their copies (benchmarks/bench_sparse.py,
# key "memory" / "peak_over_estimate").
SPARSE_ENTRY_BYTES = 8 + 12 + 2 * 12
SPARSE_ROW_BYTES = 8 * 8
# Bytes per n x n entry of the Cholesky path: the data and affine Grams
# (kept over the fit), the system's Gram, the overlap counts (int32 triangle
# and float64 sum), the damped matrix and its factor (benchmarks/
# bench_memory.py, key "runs" / "peak_over_estimate").
CHOLESKY_BYTES = 64
# Further bytes per n x n entry when the damping is chosen from the spectrum
# (alpha="auto"): the scaled Gram, eigh's copy and workspace, and the
# eigenvectors kept for the iteration's solves (same benchmark and key).
SPECTRUM_BYTES = 40
# The CG path's sketch preconditioner: columns and chunk bytes (solvers'
# SKETCH_COLUMNS, SKETCH_CHUNK_BYTES); its rank is the solvers' sketch_rank.
SKETCH_COLUMNS = 512
SKETCH_CHUNK_BYTES = 2**23


def _read(path):
    try:
        return Path(path).read_text()
    except OSError:
        return None


def _read_int(path):
    text = _read(path)
    if text is None or text.strip() in ("", "max"):
        return None
    try:
        return int(text.split()[0])
    except ValueError:
        return None


def _proc_kib(proc, filename, key):
    """Value of ``key`` (in kB) in a /proc file, in bytes, or None."""
    text = _read(Path(proc) / filename)
    for line in (text or "").splitlines():
        if line.startswith(key + ":"):
            return 1024 * int(line.split()[1])
    return None


def _physical_memory(proc):
    total = _proc_kib(proc, "meminfo", "MemTotal")
    if total is None:
        try:
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            return None
    return total


def _cgroup_dirs(root, relative):
    """The cgroup's directory and its parents up to ``root``, deepest first."""
    parts = [p for p in relative.strip().split("/") if p]
    return [Path(root, *parts[:k]) for k in range(len(parts), -1, -1)]


def _cgroup_available(proc, cgroup):
    """``{name: limit - usage}`` of the tightest cgroup v2 and v1 limits."""
    found = {}
    text = _read(Path(proc) / "self" / "cgroup") or ""
    for line in text.splitlines():
        fields = line.split(":", 2)
        if len(fields) != 3:
            continue
        _, controllers, relative = fields
        if controllers == "":
            name, root = "cgroup memory.max", Path(cgroup)
            if (root / "unified").is_dir():  # hybrid mount
                root = root / "unified"
            files = ("memory.max", "memory.current")
        elif "memory" in controllers.split(","):
            name, root = "cgroup memory.limit_in_bytes", Path(cgroup) / "memory"
            files = ("memory.limit_in_bytes", "memory.usage_in_bytes")
        else:
            continue
        for directory in _cgroup_dirs(root, relative):
            limit = _read_int(directory / files[0])
            if limit is None or limit >= UNLIMITED:
                continue
            usage = _read_int(directory / files[1]) or 0
            available = limit - usage
            found[name] = min(found.get(name, available), available)
    return found


def _rlimit_as():
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return None if soft == resource.RLIM_INFINITY else soft


def memory_limits(proc="/proc", cgroup="/sys/fs/cgroup", rlimit="auto"):
    """Bytes each limit leaves to this process, by the name of the limit.

    Parameters
    ----------
    proc : path-like, default="/proc"
        The proc file system (``meminfo``, ``self/status``, ``self/cgroup``).
    cgroup : path-like, default="/sys/fs/cgroup"
        The cgroup file system (v2, v1 or both).
    rlimit : int, None or "auto", default="auto"
        The soft ``RLIMIT_AS`` in bytes, None for none; "auto" reads it.

    Returns
    -------
    limits : dict of str to int
        ``"physical memory"`` (``MEMORY_FRACTION`` of it minus the resident
        set), ``"cgroup memory.max"`` and ``"cgroup memory.limit_in_bytes"``
        (limit minus the cgroup's usage, the tightest of the process's cgroup
        and its parents), ``"RLIMIT_AS"`` (limit minus the address space in
        use and ``ADDRESS_SPACE_MARGIN``); a limit that is not set is left
        out.
    """
    limits = {}
    rss = _proc_kib(proc, Path("self") / "status", "VmRSS") or 0
    total = _physical_memory(proc)
    if total is not None:
        limits["physical memory"] = int(MEMORY_FRACTION * total) - rss
    limits.update(_cgroup_available(proc, cgroup))
    if rlimit == "auto":
        rlimit = _rlimit_as()
    if rlimit is not None:
        used = _proc_kib(proc, Path("self") / "status", "VmSize") or 0
        limits["RLIMIT_AS"] = rlimit - used - ADDRESS_SPACE_MARGIN
    return limits


def available_memory(**params):
    """``(bytes, name)`` of the tightest of :func:`memory_limits`.

    ``(None, None)`` where no limit can be read. ``params`` are passed to
    :func:`memory_limits`.
    """
    limits = memory_limits(**params)
    if not limits:
        return None, None
    name = min(limits, key=limits.get)
    return max(limits[name], 0), name


def firing_probability(threshold, shift=0.0):
    """``P(N(0, 1) > threshold - shift)``."""
    return 0.5 * math.erfc((threshold - shift) / math.sqrt(2.0))


def pair_shift(sparsity):
    """Shift of the threshold that bounds the growth of the firing pairs."""
    return PAIR_SHIFT_BASE + PAIR_SHIFT_SLOPE * max(sparsity - 0.2, 0.0)


def budget_pairs(n_rows, n_weighted, n_neurons, threshold, shift):
    """Firing pairs budgeted before fitting, grown as in training.

    Each row fires a neuron with probability ``firing_probability(threshold,
    shift)``, and at most on the neurons that fire on some weighted row at
    initialization (only those ever move).
    """
    p0 = firing_probability(threshold)
    moving = n_neurons * -math.expm1(n_weighted * math.log1p(-min(p0, 1 - 1e-16)))
    grown = n_neurons * firing_probability(threshold, shift)
    return n_rows * max(min(grown, moving), n_neurons * p0)


def fit_nbytes(
    *,
    n_rows,
    n_weighted,
    n_inputs,
    n_neurons,
    n_outputs,
    threshold,
    solver,
    index_nbytes,
    pairs=None,
    early_stopping=False,
    pair_shift=0.0,
    spectrum=False,
    stored_entries=None,
    index_itemsize=4,
    affine_columns=None,
    lanczos_vectors=0,
    query_pair_bytes=RESULT_PAIR_BYTES + PART_PAIR_BYTES,
    n_jobs=None,
):
    """Peak bytes of a fit by part, computed before allocating.

    Parameters
    ----------
    n_rows, n_weighted, n_inputs, n_neurons, n_outputs : int
        Index rows, rows of positive weight, preprocessed inputs (features
        plus the bias coordinate), neurons and outputs.
    threshold : float
        Shift ``b``.
    solver : {"cholesky", "cg"}
        Linear solver.
    index_nbytes : int
        The index's own estimate (its structures and buffers).
    pairs : int, default=None
        Firing pairs of the index rows, as counted after a query; budgeted by
        :func:`budget_pairs` if None.
    early_stopping : bool, default=False
        Whether the best weights are kept.
    pair_shift : float, default=0.0
        Growth of the pairs budgeted if ``pairs`` is None (:func:`pair_shift`).
    spectrum : bool, default=False
        Whether the Cholesky path decomposes its system (``alpha="auto"``).
    stored_entries : int, default=None
        Stored entries of a sparse input (its rows stay sparse); None: dense.
    index_itemsize : int, default=4
        Bytes of one index of the sparse input.
    affine_columns : int, default=None
        Columns of the affine part (1 for the intercept, ``n_inputs`` with a
        linear term; None: ``n_inputs``), kept exactly by the sketch (sparse
        rows: up to the sketch's columns, beyond which they are sketched too).
    lanczos_vectors : int, default=0
        Vectors of ``n_weighted`` floats held by the Lanczos runs of
        ``alpha="auto"`` without a spectrum (steps x outputs and probes).
    query_pair_bytes : float, default=28
        Bytes per firing pair at the peak of an index query (the index's
        ``query_pair_nbytes``).
    n_jobs : int, default=None
        The fit's threads (the sketch's chunks computed ahead).

    Returns
    -------
    parts : dict of str to float
        ``"index"``, ``"weights"``, ``"firing pairs"``, ``"rows and
        outputs"``, ``"threads and buffers"``, and ``"n x n Gram
        matrices"`` (Cholesky) or ``"preconditioner"`` (CG), and
        ``"Lanczos bases"`` if any.
    """
    if pairs is None:
        pairs = budget_pairs(n_rows, n_weighted, n_neurons, threshold, pair_shift)
    m, d = float(n_neurons), float(n_inputs)
    sparse = stored_entries is not None
    parts = {
        "index": float(index_nbytes),
        # W, the rows kept for a rejected step (in the update's buffer), the
        # best weights of early stopping, the signs, the step's sums per output
        "weights": 8.0 * m * ((2 + early_stopping) * d + n_outputs * (1 + d)),
        "firing pairs": _pairs_nbytes(
            pairs, solver, query_pair_bytes, n_rows, n_weighted, m, d, n_outputs, sparse
        ),
        "rows and outputs": _rows_nbytes(n_rows, d, n_outputs, stored_entries),
        "threads and buffers": float(RUNTIME_BYTES),
    }
    if lanczos_vectors:
        parts["Lanczos bases"] = 8.0 * lanczos_vectors * n_weighted
    q = d if affine_columns is None else float(affine_columns)
    parts.update(
        _system_nbytes(solver, n_weighted, m, d, q, spectrum, not sparse, n_jobs)
    )
    return parts


def _pairs_nbytes(
    pairs, solver, query_pair_bytes, n_rows, n_weighted, m, d, n_outputs, sparse
):
    """Bytes of the firing pairs at the peak: per pair, ``PAIR_BYTES`` and
    the per-output products on the Cholesky path, else a query's bytes plus
    what the CG path holds (:func:`_cg_held_pair_bytes`; its sums over the
    outputs run by rows or neurons, not by pairs); plus the blocks that
    evaluate the outputs."""
    if solver == "cholesky":
        pair_bytes = PAIR_BYTES + PAIR_OUTPUT_BYTES * n_outputs
    else:
        pair_bytes = query_pair_bytes + _cg_held_pair_bytes(
            pairs, n_rows, n_weighted, m, d, n_outputs, sparse
        )
    return float(pairs) * pair_bytes + EVALUATION_PAIR_BYTES * min(
        float(pairs), FORWARD_CHUNK_BYTES / 8
    )


def _cg_held_pair_bytes(pairs, n_rows, n_weighted, m, d, n_outputs, sparse):
    """Bytes per firing pair the CG path holds beside a query (the current
    point's pattern and the system's copies of it, ``CG_HELD_PATTERNS``)."""
    # int32 column indices up to 2**31 pairs, as the queries store them
    nbytes = CG_HELD_PATTERNS * (4 if pairs < 2**31 else 8)
    if n_weighted < n_rows:
        nbytes += CG_COPY_BYTES * n_weighted / n_rows
    # the sums by neuron (PairSums._sums) of the right-hand sides and the
    # trace probes of alpha="auto"
    columns = n_outputs + TRACE_PROBES
    if not sums_by_row(ROW_SUM_BLOCKS, 8.0 * m * columns * d, 8.0 * n_weighted * d):
        nbytes += CG_COPY_BYTES
    if sparse:
        nbytes += CG_SPARSE_PATTERN_BYTES
    return nbytes


def _rows_nbytes(n_rows, d, n_outputs, stored_entries):
    """Bytes of the preprocessed rows (dense, or the stored entries of sparse
    rows) and of the per-row outputs."""
    outputs = float(n_rows) * OUTPUT_BYTES * n_outputs
    if stored_entries is None:
        return float(n_rows) * ROW_BYTES * d + outputs
    return (
        float(stored_entries) * SPARSE_ENTRY_BYTES
        + float(n_rows) * SPARSE_ROW_BYTES
        + outputs
    )


def _system_nbytes(solver, n_weighted, m, d, q, spectrum, dense=True, n_jobs=None):
    """The linear system's part of :func:`fit_nbytes`: the ``n x n`` Gram
    matrices of the Cholesky path, or the preconditioner of the CG path (``q``
    affine columns; the sketch's entries stored for ``dense`` rows, hashed by
    blocks for sparse ones)."""
    if solver == "cholesky":
        per_entry = CHOLESKY_BYTES + SPECTRUM_BYTES * spectrum
        return {"n x n Gram matrices": per_entry * float(n_weighted) ** 2}
    if not dense:
        # sparse rows hash wide affine parts into as many columns as the rest
        q = min(q, float(min(SKETCH_COLUMNS, n_weighted)))
    columns = min(SKETCH_COLUMNS, n_weighted) + q
    # the sketch's buckets and signs (a block of hashed ones with their cells
    # and weights), the neurons' sums of a Gram product, the orthonormal
    # basis, the sketched chunks with their Grams (twice the threads' chunks
    # computed ahead of the one being summed) and the sum of the Grams
    entries = 20.0 * m * d if dense else 40.0 * SKETCH_ENTRY_BLOCK
    chunks = max(2, results_in_flight(n_jobs))
    return {
        "preconditioner": entries
        + 8.0 * m * d
        + 8.0 * n_weighted * sketch_rank(n_weighted)
        + chunks * (SKETCH_CHUNK_BYTES + 8.0 * columns**2)
        + 24.0 * columns**2
    }


def _gib(nbytes):
    return f"{nbytes / 2**30:.3g} GiB"


class MemoryGuard:
    """Compares estimates with a limit; refuses with the parts named.

    Parameters
    ----------
    limit : int or None
        Bytes the fit may use; None switches the guard off.
    source : str
        What the limit is (e.g. ``"memory_limit=..."`` or ``"RLIMIT_AS"``),
        for the message.

    Attributes
    ----------
    largest : float
        Largest total checked so far, in bytes.
    """

    def __init__(self, limit, source):
        self.limit = limit
        self.source = source
        self.largest = 0.0

    def check(self, parts, when="", advice=""):
        """Record the total of ``parts``; raise :class:`MemoryLimitReached`
        (a ValueError) above the limit."""
        total = sum(parts.values())
        self.largest = max(self.largest, total)
        if self.limit is None or total <= self.limit:
            return
        detail = ", ".join(f"{k} {_gib(v)}" for k, v in parts.items())
        raise MemoryLimitReached(
            f"Fitting needs about {_gib(total)}{when} ({detail}), more than the "
            f"{_gib(self.limit)} left by {self.source}. {advice}Pass "
            "memory_limit=None to switch this check off."
        )


def resolve_limit(memory_limit):
    """``(bytes or None, source)`` of the ``memory_limit`` parameter."""
    if memory_limit is None:
        return None, "no limit"
    if memory_limit == "auto":
        nbytes, name = available_memory()
        return nbytes, name
    return float(memory_limit), "memory_limit"
