"""The fast paths of the intercept-only batch engine (issue 13) against their plain versions.

Each shortcut must give the value the straightforward computation gives (to rounding), and a
group's value must not depend on the other groups of its batch.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

from metareview.models.fit import _chi2_sf


@settings(max_examples=200, deadline=None)
@given(df=st.lists(st.integers(1, 120), min_size=1, max_size=30),
       q=st.lists(st.floats(0.0, 3000.0), min_size=1, max_size=30))
def test_chi2_sf_equals_chdtrc(df, q):
    n = min(len(df), len(q))
    d, x = np.array(df[:n], dtype=float), np.array(q[:n])
    got, want = _chi2_sf(d, x), special.chdtrc(d, x)
    tiny = want < 1e-300  # subnormal tails: chdtrc itself is not accurate there
    assert got[~tiny] == pytest.approx(want[~tiny], rel=1e-12, abs=0)
    assert np.all(got[tiny] < 1e-290)
    # each value alone is the value in the batch
    assert all(_chi2_sf(d[i:i + 1], x[i:i + 1])[0] == got[i] for i in range(n))


def test_chi2_sf_edges():
    d = np.array([1.0, 2.0, 19.0, 19.0, 2.5, 200.0, 3.0, 4.0])
    x = np.array([0.0, 0.0, 0.0, np.inf, 3.0, 150.0, np.nan, 1e-300])
    got = _chi2_sf(d, x)
    want = special.chdtrc(d, x)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    assert got[ok] == pytest.approx(want[ok], rel=1e-13)
    assert _chi2_sf(np.array([]), np.array([])).shape == (0,)
    assert _chi2_sf(np.full((2, 3), 5.0), np.full((2, 3), 4.0)).shape == (2, 3)
