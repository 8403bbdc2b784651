"""Per-sample rebuilds of the tree index, fanned out over joblib threads."""

import numpy as np
from joblib import effective_n_jobs
from sklearn.utils.parallel import Parallel, delayed

from ._margins import (
    absolute_slack,
    filter_precision,
    filter_rows,
    filter_weights,
    round_up_float32,
    rounding_coefficient,
)
from ._max_tree import byte_aligned_chunks, fill_internal, write_leaves

# Samples per rebuild task (a multiple of 8: tasks own whole bytes of the
# packed trees). Fixed, so every float32 matmul has the same shape whatever
# n_jobs is, and n_jobs=1 and n_jobs=2 build identical arrays.
REBUILD_ROW_CHUNK = 256
# Bytes of the float32 (rows, neurons) product of one task step. Each thread
# holds one, next to the trees; chunks that stay in cache rebuild faster than
# large ones (benchmarks/bench_index.py, key "results" / "tree_build_s").
REBUILD_CHUNK_BYTES = 4 * 2**20


def rebuild_neuron_step(block_size, n_neurons):
    """Neurons per rebuild step: whole blocks, product within the budget."""
    per_row = REBUILD_CHUNK_BYTES // (4 * REBUILD_ROW_CHUNK)
    n_blocks = max(1, per_row // block_size)
    return min(n_blocks * block_size, -(-n_neurons // block_size) * block_size)


def _rebuild_rows(tree, X, W, x_norms, block_w_norms, block_size, hot, b, rows):
    """Recompute the leaf bits of the samples ``rows`` in place.

    ``rows`` is a slice or a sorted index array whose tree bytes no other task
    writes. Leaf ``(j, i)`` becomes ``u > b`` where ``u`` is the float32 max of
    ``X32 @ W32.T`` over the block's neurons that are not ``hot`` plus the
    rounding margin ``c ||x_i|| max_{r in block} ||w_r||``, rounded upward.
    Internal nodes are left to the caller.
    """
    m, d = W.shape
    n_leaves = (tree.shape[0] + 1) // 2
    coef = rounding_coefficient(d, filter_precision(X))
    slack = absolute_slack(d)
    X32 = filter_rows(X[rows])
    margin_x = coef * x_norms[rows]
    step = rebuild_neuron_step(block_size, m)
    for c0 in range(0, m, step):
        c1 = min(c0 + step, m)
        z = X32 @ filter_weights(W[c0:c1], X).T
        z[:, hot[c0:c1]] = -np.inf
        b0 = c0 // block_size
        b1 = -(-c1 // block_size)
        starts = np.arange(0, c1 - c0, block_size)
        zmax = np.maximum.reduceat(z, starts, axis=1).astype(np.float64)
        # release the chunk before the next product is allocated
        del z
        zmax += margin_x[:, None] * block_w_norms[b0:b1]
        zmax += slack
        # the comparison of the float32 bound the trees used to store
        write_leaves(tree, n_leaves - 1 + b0, rows, (round_up_float32(zmax) > b).T)


def rebuild_trees(
    tree, X, W, x_norms, block_w_norms, block_size, hot, threshold, rows, n_jobs
):
    """Rebuild the trees of ``rows`` (ndarray of int, sorted, or None for all).

    Parameters
    ----------
    tree : ndarray of shape (n_nodes, n_bytes), dtype uint8
        Packed node-major trees (``_max_tree.py``), modified in place.
    X : ndarray of shape (n_samples, n_features)
        Samples.
    W : ndarray of shape (n_neurons, n_features)
        Weights.
    x_norms : ndarray of shape (n_samples,)
        Norms of the samples, rounded up.
    block_w_norms : ndarray of shape (n_blocks,)
        Largest weight norm of each block's indexed neurons, rounded up.
    block_size : int
        Neurons per block.
    hot : ndarray of shape (n_neurons,), dtype bool
        Neurons left out of the leaves.
    threshold : float
        Shift ``b``: a leaf bit is set when its bound is ``> b``.
    rows : ndarray of int or None
        Samples to rebuild.
    n_jobs : int or None
        The number of jobs to run in parallel (joblib threads). ``None`` means
        1 unless in a :obj:`joblib.parallel_backend` context. ``-1`` means using
        all processors.
    """
    tasks = byte_aligned_chunks(rows, X.shape[0], REBUILD_ROW_CHUNK)
    # Workers write disjoint bytes of the shared tree array, so threads are
    # required. The tasks are long (a matrix product over all neurons each),
    # so joblib's scheduling cost does not matter here.
    args = (tree, X, W, x_norms, block_w_norms, block_size, hot, threshold)
    jobs = min(effective_n_jobs(n_jobs), len(tasks))
    if jobs > 1:
        Parallel(n_jobs=jobs, require="sharedmem")(
            delayed(_rebuild_rows)(*args, r) for r in tasks
        )
    else:
        for r in tasks:
            _rebuild_rows(*args, r)
    fill_internal(tree)
