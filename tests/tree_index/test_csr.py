"""Assembly of the firing pairs into the csr matrix a query returns."""

import numpy as np
import pytest
import scipy.sparse as sp
from _helpers import assert_same_csr

from sklearn_sublinear._tree_index._csr import active_csr, row_order_csr


def test_active_csr_from_parts():
    rng = np.random.default_rng(3)
    n, m = 17, 50
    pairs = rng.choice(n * m, 300, replace=False)
    rows, cols = np.divmod(pairs, m)
    values = rng.standard_normal(300)
    expected = sp.csr_array((values, (rows, cols)), shape=(n, m))
    expected.sort_indices()
    cuts = [0, 0, 40, 41, 200, 300]  # an empty part and unsorted rows
    parts = [
        (rows[a:b].astype(np.int32), cols[a:b], values[a:b])
        for a, b in zip(cuts[:-1], cuts[1:])
    ]
    A = active_csr(parts, (n, m))
    assert parts == []  # consumed
    assert_same_csr(A, expected)
    assert_same_csr(active_csr([], (n, m)), sp.csr_array((n, m)))


def test_row_order_csr_equals_active_csr():
    rng = np.random.default_rng(4)
    n, m = 40, 30
    pairs = np.sort(rng.choice(n * m, 500, replace=False))
    rows, cols = np.divmod(pairs, m)
    values = rng.standard_normal(500)
    # row-ordered parts, one of them empty, cut between rows
    cuts = [0, 0, 3] + [int(np.searchsorted(rows, r)) for r in (9, 20, 33)] + [500]
    parts = [
        (rows[a:b].astype(np.int32), cols[a:b].astype(np.int32), values[a:b])
        for a, b in zip(cuts[:-1], cuts[1:])
    ]
    expected = active_csr(list(parts), (n, m))
    # a generator, consumed once: the output grows as the parts arrive
    assert_same_csr(row_order_csr(iter(parts), (n, m)), expected)
    assert_same_csr(row_order_csr(iter([]), (n, m)), sp.csr_array((n, m)))


def test_row_order_csr_refuses_parts_out_of_row_order():
    part = (np.array([5, 6], np.int32), np.array([0, 1], np.int32), np.ones(2))
    earlier = (np.array([1], np.int32), np.array([0], np.int32), np.ones(1))
    with pytest.raises(ValueError, match="row order"):
        row_order_csr([part, earlier], (8, 3))
    with pytest.raises(ValueError, match="row order"):
        row_order_csr([(part[0][::-1], part[1], part[2])], (8, 3))
