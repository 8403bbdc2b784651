"""Assembly of the firing pairs into the csr matrix a query returns."""

import numpy as np
import scipy.sparse as sp
from _helpers import assert_same_csr

from sklearn_sublinear._tree_index._csr import active_csr


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
