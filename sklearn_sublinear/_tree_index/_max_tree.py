"""Flat per-sample max-trees over blocks of neurons, stored node-major.

Layout
------
The ``m`` neurons are cut into ``n_leaves`` (a power of two) consecutive blocks
of ``block_size = ceil(m / n_leaves)`` neurons; trailing blocks may be partial
or empty. Every sample owns one complete binary tree over the blocks, an
implicit heap: node ``k`` has children ``2k + 1`` and ``2k + 2``, level ``l``
holds nodes ``2**l - 1 .. 2**(l+1) - 2`` and block ``j`` is leaf node
``n_leaves - 1 + j``. All trees share one float32 array ``tree`` of shape
``(2 * n_leaves - 1, n_samples)``: row ``k`` is node ``k`` of every sample, so
the level-synchronous descent over all samples and the refresh of internal
nodes read contiguous rows (node-major).

Invariants
----------
- Leaf ``(j, i)`` is an upper bound of the exact float64 pre-activation
  ``<w_r, x_i>`` of every indexed neuron ``r`` of block ``j`` (rounding margins
  included, see ``_exact.py``; the tree index leaves its hot neurons out);
  blocks without indexed neurons hold ``-inf``.
- An internal node holds the max of its children, hence bounds its subtree.
- Neuron ``r`` fires for sample ``i`` only if every node on the path from the
  root to its leaf is ``> threshold``.

Costs (n samples, m neurons, d features, B = block_size, k firing per sample)
-----------------------------------------------------------------------------
- memory: ``8 n m / B`` bytes (``2 m / B`` float32 nodes per sample);
- build / rebuild of all samples: ``2 n m d`` flops (float32 matmul) plus
  ``n m`` for the block maxima and ``2 n m / B`` for the internal nodes;
- query: a level-synchronous descent over all samples, ``O(n k log(m / B))``
  node visits, then ``O(n k B d)`` flops for the candidate blocks;
- update: none; changed neurons leave the trees (``_index.py``).
"""

import math

import numpy as np

# Above this fraction of modified leaf entries, refreshing every internal node
# (2 n_leaves n maxima, streaming) beats deduplicating the paths pair by pair:
# at n=1000, m=2**20, block_size=32, 0.65M pairs (2% of the leaves) took
# about 1.5 s pair by pair against 0.07 s for the full refresh.
REFRESH_ALL_FRACTION = 0.002


def tree_shape(n_neurons, block_size):
    """Number of leaves (a power of two) and the actual block size.

    Parameters
    ----------
    n_neurons : int
        Number of neurons ``m``.
    block_size : int
        Target number of neurons per leaf.

    Returns
    -------
    n_leaves : int
        Power of two closest (in log scale) to ``m / block_size``.
    block_size : int
        ``ceil(m / n_leaves)``, within a factor sqrt(2) of the target.
    """
    ratio = max(n_neurons / block_size, 1.0)
    n_leaves = 2 ** max(0, int(round(math.log2(ratio))))
    return n_leaves, -(-n_neurons // n_leaves)


def fill_internal(tree, cols):
    """Recompute every internal node bottom-up for the samples ``cols``.

    Parameters
    ----------
    tree : ndarray of shape (n_nodes, n_samples), dtype float32
        Node-major trees; the leaf rows must be up to date. Modified in place.
    cols : slice or ndarray of int
        Samples whose trees are refreshed.
    """
    n_leaves = (tree.shape[0] + 1) // 2
    width = n_leaves // 2
    while width >= 1:
        lo = width - 1
        child = 2 * width - 1
        tree[lo : lo + width, cols] = np.maximum(
            tree[child : child + 2 * width : 2, cols],
            tree[child + 1 : child + 2 * width : 2, cols],
        )
        width //= 2


def refresh_pairs(tree, leaf_nodes, samples):
    """Recompute the ancestors of single ``(leaf node, sample)`` entries.

    Parameters
    ----------
    tree : ndarray of shape (n_nodes, n_samples), dtype float32
        Modified in place.
    leaf_nodes, samples : ndarray of int
        Modified entries, as pairs.
    """
    n = tree.shape[1]
    n_leaves = (tree.shape[0] + 1) // 2
    if len(samples) > REFRESH_ALL_FRACTION * n_leaves * n:
        fill_internal(tree, slice(None))
        return
    key = np.asarray(leaf_nodes, dtype=np.int64) * n + samples
    # All leaves sit on one level, so the pairs reach the root together.
    while key.size and key[0] >= n:
        nodes = key // n
        key = np.unique(((nodes - 1) // 2) * n + key % n)
        nodes, cols = np.divmod(key, n)
        tree[nodes, cols] = np.maximum(
            tree[2 * nodes + 1, cols], tree[2 * nodes + 2, cols]
        )


def descend(tree, threshold):
    """Leaves above ``threshold`` on root-to-leaf paths above it, all samples.

    A level-synchronous frontier: every ``(node, sample)`` pair above the
    threshold at one level expands into its two children at the next.

    Parameters
    ----------
    tree : ndarray of shape (n_nodes, n_samples), dtype float32
        Node-major trees.
    threshold : float
        Only nodes ``> threshold`` are expanded.

    Returns
    -------
    blocks : ndarray of int
        Block index of each candidate pair.
    samples : ndarray of int
        Sample index of each candidate pair.
    """
    n_leaves = (tree.shape[0] + 1) // 2
    samples = np.flatnonzero(tree[0] > threshold)
    nodes = np.zeros(samples.size, dtype=np.intp)
    flat = tree.reshape(-1)
    n = tree.shape[1]
    width = 1
    while width < n_leaves:
        left = 2 * nodes + 1
        both = np.concatenate((left, left + 1))
        cols = np.concatenate((samples, samples))
        keep = flat[both * n + cols] > threshold
        nodes, samples = both[keep], cols[keep]
        width *= 2
    return nodes - (n_leaves - 1), samples
