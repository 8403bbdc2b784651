"""The packed one-bit trees: writes, internal nodes, descent, byte ownership."""

import numpy as np
import pytest

from sklearn_sublinear._tree_index._max_tree import (
    byte_aligned_chunks,
    clear_pairs,
    descend,
    empty_tree,
    fill_internal,
    tree_nbytes,
    unpack_tree,
    write_leaves,
)


@pytest.mark.parametrize("n", [1, 8, 13, 64, 70])
def test_packed_tree_primitives_match_bool_reference(n):
    rng = np.random.default_rng(n)
    n_leaves = 8
    tree = empty_tree(n_leaves, n)
    assert tree.shape == (2 * n_leaves - 1, -(-n // 8)) and tree.dtype == np.uint8
    assert tree.nbytes == tree_nbytes(n_leaves, n)
    ref = np.zeros((2 * n_leaves - 1, n), dtype=bool)
    # leaf writes: whole slices, then sorted subsets whose bytes hold other
    # samples whose bits must survive
    for step in range(6):
        first = int(rng.integers(0, n_leaves))
        k = int(rng.integers(1, n_leaves - first + 1))
        if step == 0:
            rows = slice(0, n)
            idx = np.arange(n)
        else:
            idx = np.sort(rng.choice(n, int(rng.integers(1, n + 1)), replace=False))
            rows = idx
        bits = rng.random((k, idx.size)) < 0.5
        write_leaves(tree, n_leaves - 1 + first, rows, bits)
        ref[n_leaves - 1 + first : n_leaves - 1 + first + k][:, idx] = bits
        np.testing.assert_array_equal(unpack_tree(tree, n), ref)
    fill_internal(tree)
    for node in range(n_leaves - 2, -1, -1):
        ref[node] = ref[2 * node + 1] | ref[2 * node + 2]
    np.testing.assert_array_equal(unpack_tree(tree, n), ref)
    # the descent returns exactly the set leaves (internal nodes are the OR)
    blocks, samples = descend(tree, n)
    leaf_blocks, leaf_samples = np.nonzero(ref[n_leaves - 1 :])
    assert sorted(zip(blocks.tolist(), samples.tolist())) == sorted(
        zip(leaf_blocks.tolist(), leaf_samples.tolist())
    )
    # clearing pairs, duplicates and shared bytes included
    p = rng.integers(0, blocks.size, size=2 * blocks.size) if blocks.size else []
    clear_pairs(tree, n_leaves - 1 + blocks[p], samples[p])
    ref[n_leaves - 1 + blocks[p], samples[p]] = False
    np.testing.assert_array_equal(unpack_tree(tree, n), ref)
    # padding bits of the last byte are never set
    if n % 8:
        assert not np.any(tree[:, -1] >> (n % 8))


@pytest.mark.parametrize("size", [8, 16, 256])
def test_byte_aligned_chunks(size):
    rng = np.random.default_rng(size)
    n = 203
    chunks = byte_aligned_chunks(None, n, size)
    assert [(c.start, c.stop) for c in chunks] == [
        (s, min(s + size, n)) for s in range(0, n, size)
    ]
    assert byte_aligned_chunks(np.zeros(0, np.intp), n, size) == []
    for _ in range(20):
        rows = np.sort(rng.choice(n, int(rng.integers(1, n + 1)), replace=False))
        chunks = byte_aligned_chunks(rows, n, size)
        np.testing.assert_array_equal(np.concatenate(chunks), rows)
        bytes_of = [set((c >> 3).tolist()) for c in chunks]
        for a in range(len(bytes_of)):
            for b in range(a + 1, len(bytes_of)):
                assert not bytes_of[a] & bytes_of[b]
        # a chunk only grows to finish its last byte
        assert all(c.size <= size + 7 for c in chunks)
