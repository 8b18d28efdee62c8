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

from metareview.models import dense
from metareview.models.core import Groups
from metareview.models.fit import _chi2_sf, fit_groups


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


# ---------------------------------------------------------------------------------------------
# Sums of log(v + tau^2) as the log of a product
def _general(monkeypatch, *args, **kw):
    """``fit_groups`` on the general engine (models/core.py, tau2.py)."""
    with monkeypatch.context() as m:
        m.setattr(dense, "METHODS", frozenset())
        return fit_groups(*args, **kw)


@pytest.mark.parametrize("scale", [1e-22, 1e-12, 1.0, 1e12, 1e22])
def test_log_likelihood_with_products_out_of_range(monkeypatch, scale):
    # 20 variances around 1e+-22 multiply to 1e+-440 (out of range): those groups sum
    # logarithms; a ragged batch goes through the masked layout.
    rng = np.random.default_rng(3)
    k = np.array([20, 20, 7, 13, 2])
    v = scale * np.exp(rng.uniform(-1, 1, k.sum()))
    y = rng.normal(0, np.sqrt(2 * v))
    for method in ("DL", "REML", "FE"):
        got = fit_groups(y, v, k, method=method)
        want = _general(monkeypatch, y, v, k, method=method)
        for f in ("ll_ml", "ll_reml", "weights", "tau2", "beta"):
            a, b = np.asarray(getattr(got, f), float), np.asarray(getattr(want, f), float)
            assert a == pytest.approx(b, rel=1e-11, abs=1e-12), (method, f)


def test_sum_log_matches_sum_of_logs():
    rng = np.random.default_rng(4)
    T = np.exp(rng.uniform(-40, 40, (20, 300)))
    T[:, :5] *= 1e30  # products beyond 1e300
    d = dense.Dense(np.zeros_like(T), T, np.full(300, 20.0), None)
    assert dense._sum_log(d, T, None) == pytest.approx(np.log(T).sum(axis=0), rel=1e-14,
                                                       abs=1e-12)
    mask = rng.random(T.shape) < 0.7
    want = np.where(mask, np.log(T), 0.0).sum(axis=0)
    assert dense._sum_log(d, np.where(mask, T, np.inf), mask) == pytest.approx(
        want, rel=1e-14, abs=1e-12)


# ---------------------------------------------------------------------------------------------
# Signs of the ML/REML score settled without a pass over the data
def _group(seed: int, k: int):
    rng = np.random.default_rng(seed)
    v = np.exp(rng.uniform(-6, 2, k)) * rng.choice([1.0, 1e-3, 1e3])
    tau2 = rng.choice([0.0, 1e-3, 0.1, 10.0]) * np.median(v)
    y = rng.normal(0, np.sqrt(v + tau2)) + rng.normal(0, 3) * rng.integers(0, 2)
    if rng.random() < 0.1:
        y[rng.integers(k)] += rng.normal(0, 50) * np.sqrt(v.max())  # an outlier
    return y, v


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(2, 30),
       method=st.sampled_from(["REML", "ML"]), t=st.floats(0.0, 10.0),
       mult=st.lists(st.floats(0.0, 50.0), min_size=1, max_size=12))
def test_certain_signs_are_the_signs_of_the_score(seed, k, method, t, mult):
    """Where _certain calls the score's sign certain, a direct evaluation has that sign."""
    y, v = _group(seed, k)
    d = dense.Dense(y[:, None].copy(), v[:, None].copy(), np.array([float(k)]), None)
    t0 = np.array([t * np.median(v)])
    A, B, info, C, _ = dense._terms(d, t0, method)
    pts = t0[:, None] * np.array(mult)[None, :] + np.array(mult)[None, :] * np.median(v) / 7
    score = np.array([dense._score(d, np.array([p]), method)[0] for p in pts[0]])
    vmin, vmax = np.array([v.min()]), np.array([v.max()])
    pos = dense._certain(t0, A, B, info, C, vmin, vmax, pts, True)[0]
    neg = dense._certain(t0, A, B, info, C, vmin, vmax, pts, False)[0]
    assert np.all(score[pos] > 0) and np.all(score[neg] < 0)
    # the pairs form gives the same answer
    flat = dense._certain(np.repeat(t0, len(mult)), *(np.repeat(q, len(mult)) for q in
                                                        (A, B, info, C, vmin, vmax)),
                          pts[0], True)
    assert np.array_equal(flat, pos)


def test_certain_settles_most_checks_on_the_benchmark_data():
    """The shortcut is worth having: most signs the check of the maximum asks are settled
    without evaluation (and the fits equal the general engine's: test_batch_dense)."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    try:
        from bench_batch import datasets
    finally:
        sys.path.pop(0)
    y, v = datasets(2000, 20)
    d = dense.Dense.layout(y.ravel(), v.ravel(), Groups(np.full(2000, 20)))
    fe = dense.sweep(d, None, "rss", "s2", "swe", "s3", "ols")
    calls, asked = [], []
    real, certain = dense._score, dense._certain

    def count(sub, t, method):
        calls.append(len(t))
        return real(sub, t, method)

    def ask(*args):
        if args[7].ndim == 2:  # every point of the check, before any is settled
            asked.append(args[7].size)
        return certain(*args)

    dense._score, dense._certain = count, ask
    try:
        dense._maximise(d, "REML", fe)
    finally:
        dense._score, dense._certain = real, certain
    assert sum(asked) > 3 * 1900
    assert len(calls) and calls[0] < 0.25 * sum(asked)  # one pass for the rest


# ---------------------------------------------------------------------------------------------
# Closed forms on groups of one size, block by block without the (kmax, G) layout
@pytest.mark.parametrize("method", sorted(dense.CLOSED))
@pytest.mark.parametrize("test", ["z", "knha"])
@pytest.mark.parametrize(("G", "K"), [(1, 2), (5, 9), (3001, 20), (1639, 10)])
def test_closed_rows_equal_the_dense_layout(monkeypatch, method, test, G, K):
    """Bit for bit the fits of the (kmax, G) layout (blocks of every size, a last block of one
    group included)."""
    rng = np.random.default_rng(G * K)
    v = np.exp(rng.uniform(-6, 1, G * K))
    y = rng.normal(0.1, np.sqrt(v + np.repeat(rng.choice([0.0, 0.05], G), K)))
    got = fit_groups(y, v, np.full(G, K), method=method, test=test)
    with monkeypatch.context() as m:
        m.setattr(dense, "CLOSED", frozenset())
        want = fit_groups(y, v, np.full(G, K), method=method, test=test)
    for f in ("beta", "se", "pval", "ci_low", "tau2", "se_tau2", "i2", "h2", "q", "q_p",
              "pi_low", "ll_ml", "ll_reml", "s2w", "weights", "converged", "solver"):
        assert np.array_equal(getattr(got, f), getattr(want, f), equal_nan=f != "solver"), f


@pytest.mark.parametrize("method", ["REML", "ML", "PM", "DL"])
def test_a_group_in_a_large_batch_equals_its_single_fit(method):
    """In a batch of many blocks (views of the layout, a compacted Fisher scoring, checks
    settled by bounds) a group's numbers are those of the group fitted alone, to the bit."""
    y, v = _bench(3000)
    k = np.full(3000, 20)
    batch = fit_groups(y, v, k, method=method)
    bracketed = np.flatnonzero(batch.solver == "bracketing")[:2].tolist()
    for g in (0, 58, 1702, 2047, 2999, *bracketed):
        one = fit_groups(y[20 * g:20 * g + 20], v[20 * g:20 * g + 20], [20], method=method)
        for f in ("beta", "se", "tau2", "se_tau2", "q", "q_p", "i2", "ll_ml", "ll_reml",
                  "weights", "converged", "iterations", "solver"):
            a, b = getattr(batch, f), getattr(one, f)
            a = a[20 * g:20 * g + 20] if f == "weights" else a[g]
            assert np.array_equal(a, b[0] if f != "weights" else b), (g, f)


def _bench(G: int):
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    try:
        from bench_batch import datasets
    finally:
        sys.path.pop(0)
    y, v = datasets(G, 20)
    return y.ravel(), v.ravel()
