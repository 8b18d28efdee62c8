"""The vectorised core: many analyses in one call equal the same analyses one at a time.

``meta_analysis`` is the one-group case of ``fit_groups``, so these tests pin down that the
lock-step iteration, the per-group sums and the scatter of unfittable groups do not let one
group's numbers depend on another's: every field of every group must equal the single fit to
1e-10 relative, for every estimator and test, with and without moderators.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metareview.effects.escalc import from_arrays
from metareview.models.core import TESTS
from metareview.models.fit import fit_groups
from metareview.models.rma import meta_analysis
from metareview.models.tau2 import codes

METHODS = codes(inverse_variance=True)
REL = 1e-10


def _ragged(seed: int, G: int, kmin: int, kmax: int, mods: bool = False):
    """G random analyses with ragged k, variances over decades, some heterogeneous."""
    rng = np.random.default_rng(seed)
    ks = rng.integers(kmin, kmax + 1, G)
    ys, vs, xs = [], [], []
    for k in ks:
        v = np.exp(rng.uniform(-4, 1) + rng.uniform(-2, 2, k))
        tau2 = rng.choice([0.0, np.exp(rng.uniform(-5, 1))])
        x = rng.normal(size=k)
        b = rng.choice([0.0, rng.normal()])
        ys.append(rng.normal(0.3 + b * x, np.sqrt(v + tau2)))
        vs.append(v)
        xs.append(np.column_stack([np.ones(k), x, (rng.random(k) < 0.5).astype(float)]))
    X = np.vstack(xs) if mods else None
    return ks, np.concatenate(ys), np.concatenate(vs), X


def _close(a, e, rel=REL, abs_=1e-12):
    a, e = np.asarray(a, dtype=float), np.asarray(e, dtype=float)
    assert np.array_equal(np.isnan(a), np.isnan(e)), (a, e)
    ok = ~np.isnan(e)
    assert a[ok] == pytest.approx(e[ok], rel=rel, abs=abs_)


FIELDS = ("estimate", "se", "stat", "p", "ci_low", "ci_high", "tau2", "se_tau2", "i2", "h2", "q",
          "q_p", "pi_low", "pi_high", "ll_ml", "ll_reml")
BATCH = {"estimate": "estimate", "se": "se", "stat": "stat", "p": "pval", "ci_low": "ci_low",
         "ci_high": "ci_high"}


def _compare(res, g, single, start, k):
    for f in FIELDS:
        if f in BATCH:
            got = getattr(res, BATCH[f])
            got = got[g] if got.ndim == 1 else got[g, 0]
        else:
            got = getattr(res, f)[g]
        _close(got, getattr(single, f))
    _close(res.weights[start:start + k], single.weights)
    for f_batch, f_single in (("beta", "coef"), ("se", "coef_se"), ("pval", "coef_p"),
                              ("ci_low", "coef_ci_low"), ("ci_high", "coef_ci_high")):
        _close(getattr(res, f_batch)[g], getattr(single, f_single))
    _close(res.vcov[g], single.vcov)
    _close(res.qm[g], single.qm)
    _close(res.qm_p[g], single.qm_p)
    _close(res.r2[g], single.r2)


@pytest.mark.parametrize("test", TESTS)
@pytest.mark.parametrize("method", METHODS)
def test_batch_equals_one_at_a_time(method, test):
    ks, y, v, _ = _ragged(7, 40, 2, 30)
    res = fit_groups(y, v, ks, method=method, test=test)
    starts = np.concatenate([[0], np.cumsum(ks)[:-1]])
    for g, (s, k) in enumerate(zip(starts, ks, strict=True)):
        if k < 2 and (method != "FE" or test != "z"):
            assert res.status[g].startswith("too few studies")
            continue
        assert res.status[g] == ""
        single = meta_analysis(from_arrays(y[s:s + k], v[s:s + k]), method=method, test=test)
        _compare(res, g, single, s, k)


@pytest.mark.parametrize("test", ["z", "knha"])
@pytest.mark.parametrize("method", METHODS)
def test_meta_regression_batch_equals_one_at_a_time(method, test):
    ks, y, v, X = _ragged(11, 25, 6, 25, mods=True)
    names = ("intrcpt", "x", "d")
    res = fit_groups(y, v, ks, X, method=method, test=test, coef_names=names)
    starts = np.concatenate([[0], np.cumsum(ks)[:-1]])
    for g, (s, k) in enumerate(zip(starts, ks, strict=True)):
        sl = slice(s, s + k)
        data = pd.DataFrame({"x": X[sl, 1], "d": X[sl, 2]})
        if np.linalg.matrix_rank(X[sl]) < 3:
            assert res.status[g] == "moderators are collinear in this group"
            continue
        single = meta_analysis(from_arrays(y[sl], v[sl], data=data), method=method, test=test,
                               mods=["x", "d"])
        assert single.coef_names == names
        _compare(res, g, single, s, k)
    frame = res.to_frame()
    assert list(frame.columns[:3]) == ["k", "estimate", "se"]
    assert {"b[x]", "se[d]", "p[x]", "qm", "qm_p"} <= set(frame.columns)


def test_unfittable_groups_do_not_disturb_the_others():
    ks, y, v, _ = _ragged(3, 12, 4, 12)
    clean = fit_groups(y, v, ks, method="REML")
    # Append four broken groups: k = 1, a zero variance, a NaN effect, an infinite variance.
    bad_y = np.concatenate([y, [0.1], [0.1, 0.2, 0.3], [np.nan, 0.2, 0.3], [0.1, 0.2, 0.3]])
    bad_v = np.concatenate([v, [0.1], [0.1, 0.0, 0.1], [0.1, 0.1, 0.1], [0.1, np.inf, 0.1]])
    res = fit_groups(bad_y, bad_v, [*ks, 1, 3, 3, 3], method="REML")
    assert list(res.status[-4:]) == [
        "too few studies for REML with test z (needs 2)",
        *["non-finite effect, non-positive variance or missing moderator"] * 3,
    ]
    assert np.isnan(res.estimate[-4:]).all() and not res.converged[-4:].any()
    assert np.isnan(res.weights[-10:]).all()
    np.testing.assert_array_equal(res.estimate[:-4], clean.estimate)
    np.testing.assert_array_equal(res.tau2[:-4], clean.tau2)
    assert "4 not fitted" in res.summary()


def test_exact_knapp_hartung_fit_as_metafor():
    """rma(yi=c(1,1,2), vi=rep(.1,3), mods=~c(0,0,1), method="DL", test="knha") in metafor
    3.8-1: se 0, tval Inf, pval 0, QM and QMp NA (the zero covariance matrix is singular)."""
    X = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    y, v = np.array([1.0, 1.0, 2.0]), np.full(3, 0.1)
    res = fit_groups(np.tile(y, 2), np.tile(v, 2), [3, 3], np.vstack([X, X]), method="DL",
                     test="knha")
    assert (res.status == "").all()
    np.testing.assert_allclose(res.beta, [[1.0, 1.0]] * 2, rtol=1e-12)
    assert (res.se == 0).all() and np.isinf(res.stat).all() and (res.pval == 0).all()
    assert np.isnan(res.qm).all() and np.isnan(res.qm_p).all()
    single = meta_analysis(from_arrays(y, v, data=pd.DataFrame({"x": X[:, 1]})), method="DL",
                           test="knha", mods=["x"])
    assert np.isnan(single.qm) and single.coef_se[1] == 0


def test_fixed_tau2_per_group_and_bad_arguments():
    ks, y, v, _ = _ragged(5, 6, 3, 9)
    fixed = np.linspace(0.0, 0.5, 6)
    res = fit_groups(y, v, ks, method="REML", tau2=fixed)
    np.testing.assert_array_equal(res.tau2, fixed)
    starts = np.concatenate([[0], np.cumsum(ks)[:-1]])
    for g, (s, k) in enumerate(zip(starts, ks, strict=True)):
        w = 1 / (v[s:s + k] + fixed[g])
        assert res.estimate[g] == pytest.approx(np.sum(w * y[s:s + k]) / w.sum(), rel=1e-12)
        assert res.se[g, 0] == pytest.approx(1 / np.sqrt(w.sum()), rel=1e-12)
    with pytest.raises(ValueError, match="unknown method"):
        fit_groups(y, v, ks, method="XX")
    with pytest.raises(ValueError, match="group sizes sum"):
        fit_groups(y, v, [*ks, 2])


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), method=st.sampled_from(["REML", "ML", "PM", "DL", "SJ"]))
def test_group_order_and_location_scale(seed, method):
    """Reordering groups permutes the results; shifting and rescaling a group's effects shifts
    and rescales its estimate (tau^2 by the square) and leaves the other groups alone."""
    ks, y, v, _ = _ragged(seed, 8, 2, 15)
    base = fit_groups(y, v, ks, method=method)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(ks))
    starts = np.concatenate([[0], np.cumsum(ks)[:-1]])
    rows = np.concatenate([np.arange(starts[g], starts[g] + ks[g]) for g in order])
    shuffled = fit_groups(y[rows], v[rows], ks[order], method=method)
    _close(shuffled.estimate, base.estimate[order])
    _close(shuffled.tau2, base.tau2[order], abs_=1e-14)
    a, c = 3.0, -1.5
    g0 = slice(starts[0], starts[0] + ks[0])
    y2, v2 = y.copy(), v.copy()
    y2[g0], v2[g0] = a * y[g0] + c, a**2 * v[g0]
    moved = fit_groups(y2, v2, ks, method=method)
    assert moved.estimate[0] == pytest.approx(a * base.estimate[0] + c, rel=1e-8, abs=1e-10)
    assert moved.tau2[0] == pytest.approx(a**2 * base.tau2[0], rel=1e-7, abs=1e-12)
    np.testing.assert_array_equal(moved.estimate[1:], base.estimate[1:])


def test_one_million_studies_in_linear_memory():
    """A single REML fit at k = 10^6 works without k x k matrices: memory per study is the
    same at k = 10^5 and 10^6, and small."""
    rng = np.random.default_rng(2026)
    per_study = {}
    for n in (100_000, 1_000_000):
        v = rng.chisquare(10, n) / 10 * 0.1
        y = rng.normal(0.2, np.sqrt(v + 0.05))
        tracemalloc.start()
        res = fit_groups(y, v, [n], method="REML")
        per_study[n] = tracemalloc.get_traced_memory()[1] / n
        tracemalloc.stop()
        assert res.converged[0] and res.tau2[0] == pytest.approx(0.05, rel=0.05)
        assert res.estimate[0] == pytest.approx(0.2, abs=0.002)
    assert per_study[1_000_000] < 200  # bytes per study: a few float arrays of length k
    assert per_study[1_000_000] == pytest.approx(per_study[100_000], rel=0.25)
