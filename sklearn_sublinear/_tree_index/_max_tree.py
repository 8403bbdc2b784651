"""Flat per-sample max-trees over blocks of neurons, one bit per node.

Layout
------
The ``m`` neurons are cut into ``n_leaves`` (a power of two) consecutive blocks
of ``block_size = ceil(m / n_leaves)`` neurons; trailing blocks may be partial
or empty. Every sample owns one complete binary tree over the blocks, an
implicit heap: node ``k`` has children ``2k + 1`` and ``2k + 2``, level ``l``
holds nodes ``2**l - 1 .. 2**(l+1) - 2`` and block ``j`` is leaf node
``n_leaves - 1 + j``. All trees share one uint8 array ``tree`` of shape
``(2 * n_leaves - 1, ceil(n_samples / 8))``: row ``k`` is node ``k`` of every
sample, one bit per sample (sample ``i`` is bit ``i % 8`` of byte ``i // 8``,
``np.packbits(..., bitorder="little")``), so the level-synchronous descent
over all samples and the refresh of internal nodes read contiguous rows
(node-major).

Why bits
--------
An index answers for one threshold ``b``, fixed at its build, and a node's
value was only ever compared with ``b``: the descent expands nodes ``> b``,
lazy tightening takes the min of two upper bounds and internal nodes the max
of their children. ``min(u, v) > b`` iff both are, ``max(u, v) > b`` iff one
is, so storing the bit ``u > b`` of every float32 upper bound ``u`` keeps the
descent, and hence the candidates, exactly those of float32 nodes, in 1/32 of
the memory (2 MiB instead of 62.5 MiB at n=1000, m=2**20, B=128).

Invariants
----------
- Leaf bit ``(j, i)`` is ``0`` only if the exact float64 pre-activation
  ``<w_r, x_i>`` of every indexed neuron ``r`` of block ``j`` is ``<= b``
  (it is the comparison with ``b`` of a float32 upper bound of their max,
  rounding margins included, see ``_margins.py``; the tree index leaves its hot
  neurons out); blocks without indexed neurons are ``0``.
- An internal node is the OR of its children, hence ``1`` iff some leaf below
  it is.
- Neuron ``r`` fires for sample ``i`` only if every node on the path from the
  root to its leaf is ``1``.

Costs (n samples, m neurons, d features, B = block_size, k firing per sample)
-----------------------------------------------------------------------------
- memory: ``n m / (4 B)`` bytes (``2 m / B`` bits per sample);
- build / rebuild of all samples: ``2 n m d`` flops (float32 matmul) plus
  ``n m`` for the block maxima and ``n m / (4 B)`` bytes of OR for the
  internal nodes;
- query: a level-synchronous descent over all samples, ``O(n k log(m / B))``
  node visits, then ``O(n k B d)`` flops for the candidate blocks;
- update: none; changed neurons leave the trees (``_index.py``).

Concurrency: bits of 8 samples share a byte, so threads that write leaves own
whole bytes (:func:`byte_aligned_chunks`), and internal nodes are refreshed
once all writes are done.
"""

import math

import numpy as np


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


def empty_tree(n_leaves, n_samples):
    """All-zero trees (every node below the threshold) for ``n_samples``."""
    return np.zeros((2 * n_leaves - 1, -(-n_samples // 8)), dtype=np.uint8)


def tree_nbytes(n_leaves, n_samples):
    """Bytes of the array of :func:`empty_tree`."""
    return (2 * n_leaves - 1) * -(-n_samples // 8)


def unpack_tree(tree, n_samples):
    """The node bits as a bool array of shape ``(n_nodes, n_samples)``."""
    return np.unpackbits(tree, axis=1, count=n_samples, bitorder="little").view(bool)


def byte_aligned_chunks(rows, n_samples, size):
    """Split samples into chunks of about ``size`` that share no tree byte.

    Parameters
    ----------
    rows : ndarray of int or None
        Sorted unique samples; all ``n_samples`` if None.
    n_samples : int
        Number of samples.
    size : int
        Target samples per chunk, a multiple of 8.

    Returns
    -------
    chunks : list of slice or ndarray of int
        Slices of ``range(n_samples)`` when ``rows`` is None, else pieces of
        ``rows`` cut where the byte ``row // 8`` changes.
    """
    if rows is None:
        return [slice(s, min(s + size, n_samples)) for s in range(0, n_samples, size)]
    if rows.size == 0:
        return []
    # first position of every byte (and the end), and the first of them at or
    # after each multiple of `size`
    starts = np.append(np.flatnonzero(np.diff(rows >> 3)) + 1, rows.size)
    cuts = starts[np.searchsorted(starts, np.arange(size, rows.size, size))]
    bounds = np.unique(np.concatenate(([0], cuts, [rows.size]))).tolist()
    return [rows[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def write_leaves(tree, first_leaf, rows, bits):
    """Set the leaf bits of consecutive leaves for the samples ``rows``.

    Parameters
    ----------
    tree : ndarray of shape (n_nodes, n_bytes), dtype uint8
        Packed trees, modified in place. The caller owns the bytes of ``rows``
        (no other thread writes them meanwhile).
    first_leaf : int
        Node index of the first leaf written.
    rows : slice or ndarray of int
        Samples: a slice, or sorted unique indices.
    bits : ndarray of shape (n_written_leaves, n_rows), dtype bool
        New bits of leaves ``first_leaf, first_leaf + 1, ...``.
    """
    k = bits.shape[0]
    if isinstance(rows, slice):
        rows = np.arange(*rows.indices(8 * tree.shape[1]))
    if rows.size == 0:
        return
    byte = rows >> 3
    first = np.concatenate(([True], byte[1:] != byte[:-1]))
    owned = byte[first]
    # unpack the owned bytes, set the bits of `rows`, pack them back: the
    # other bits of those bytes keep their values
    local = 8 * (np.cumsum(first) - 1) + (rows & 7)
    nodes = slice(first_leaf, first_leaf + k)
    unpacked = np.unpackbits(tree[nodes, owned], axis=1, bitorder="little")
    unpacked[:, local] = bits
    tree[nodes, owned] = np.packbits(unpacked, axis=1, bitorder="little")


def clear_pairs(tree, nodes, samples):
    """Set the bits of single ``(node, sample)`` entries to 0, in place.

    Pairs may share bytes (``ufunc.at`` applies every one of them).
    """
    masks = np.invert(np.left_shift(1, samples & 7).astype(np.uint8))
    np.bitwise_and.at(tree, (nodes, samples >> 3), masks)


def fill_internal(tree):
    """Recompute every internal node of every sample bottom-up, in place.

    Parameters
    ----------
    tree : ndarray of shape (n_nodes, n_bytes), dtype uint8
        Packed trees; the leaf rows must be up to date. ``n_nodes / 8`` bytes
        of OR per sample (about 2 MiB at n=1000, 8192 leaves), so the whole
        refresh costs less than tracking the paths of modified leaves.
    """
    n_leaves = (tree.shape[0] + 1) // 2
    width = n_leaves // 2
    while width >= 1:
        lo = width - 1
        child = 2 * width - 1
        np.bitwise_or(
            tree[child : child + 2 * width : 2],
            tree[child + 1 : child + 2 * width : 2],
            out=tree[lo : lo + width],
        )
        width //= 2


def descend(tree, n_samples):
    """Leaves set on root-to-leaf paths of set nodes, all samples at once.

    A level-synchronous frontier: every ``(node, sample)`` pair whose bit is
    set at one level expands into its two children at the next.

    Parameters
    ----------
    tree : ndarray of shape (n_nodes, n_bytes), dtype uint8
        Packed trees.
    n_samples : int
        Number of samples.

    Returns
    -------
    blocks : ndarray of int
        Block index of each candidate pair.
    samples : ndarray of int
        Sample index of each candidate pair.
    """
    n_leaves = (tree.shape[0] + 1) // 2
    root = np.unpackbits(tree[0], count=n_samples, bitorder="little")
    samples = np.flatnonzero(root)
    nodes = np.zeros(samples.size, dtype=np.intp)
    flat = tree.reshape(-1)
    n_bytes = tree.shape[1]
    width = 1
    while width < n_leaves:
        left = 2 * nodes + 1
        both = np.concatenate((left, left + 1))
        cols = np.concatenate((samples, samples))
        byte = flat[both * n_bytes + (cols >> 3)]
        keep = ((byte >> (cols & 7)) & 1).astype(bool)
        nodes, samples = both[keep], cols[keep]
        width *= 2
    return nodes - (n_leaves - 1), samples
