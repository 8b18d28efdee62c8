"""The lean intercept-only path (models/dense.py) against the general engine and single fits.

``fit_groups`` sends intercept-only batches of short groups to the dense (kmax, G) layout. The
general engine (models/core.py and tau2.py, flat arrays) is the reference it must reproduce:
it is forced here by emptying ``dense.METHODS``. Its own agreement with metafor 3.8-1 is pinned
by tests/test_models_parity.py and tests/reference/.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metareview.effects.escalc import from_arrays
from metareview.models import dense
from metareview.models.core import Groups
from metareview.models.fit import fit_groups
from metareview.models.rma import meta_analysis

FIELDS = ("beta", "se", "stat", "pval", "ci_low", "ci_high", "vcov", "tau2", "se_tau2", "i2",
          "h2", "q", "q_df", "q_p", "pi_low", "pi_high", "qm", "qm_p", "df", "ll_ml", "ll_reml",
          "s2w", "vt", "r2", "weights")
EXACT = ("converged", "solver", "status", "k")


def _flat(monkeypatch, *args, **kw):
    """``fit_groups`` on the general engine."""
    with monkeypatch.context() as m:
        m.setattr(dense, "METHODS", frozenset())
        return fit_groups(*args, **kw)


def _same(a, b, rel=1e-9, abs_=1e-12):
    """Every result field of two GroupFits agrees (NaN where the other is NaN)."""
    for f in FIELDS:
        x, y = np.asarray(getattr(a, f), float), np.asarray(getattr(b, f), float)
        assert x.shape == y.shape, f
        assert np.array_equal(np.isnan(x), np.isnan(y)), f
        ok = ~np.isnan(y)
        assert x[ok] == pytest.approx(y[ok], rel=rel, abs=abs_), f
    for f in EXACT:
        assert np.array_equal(getattr(a, f), getattr(b, f)), f


def _ragged(seed: int, G: int, kmin: int, kmax: int):
    rng = np.random.default_rng(seed)
    k = rng.integers(kmin, kmax + 1, G)
    n = int(k.sum())
    v = np.exp(rng.uniform(-6, 1, n))
    tau2 = np.where(rng.random(G) < 0.3, 0.0, np.exp(rng.uniform(-5, 1, G)))
    y = rng.normal(0.2, np.sqrt(v + np.repeat(tau2, k)))
    return y, v, k


@pytest.mark.parametrize("method", sorted(dense.METHODS))
@pytest.mark.parametrize("test", ["z", "t", "knha"])
def test_dense_equals_general_engine_on_ragged_groups(monkeypatch, method, test):
    y, v, k = _ragged(11, 400, 1, 14)  # k = 1 and 2 included
    got = fit_groups(y, v, k, method=method, test=test)
    want = _flat(monkeypatch, y, v, k, method=method, test=test)
    _same(got, want)
    assert got.ok.sum() > 350  # most groups are fitted; k = 1 (and k = 2 for t tests) are not


@pytest.mark.parametrize("method", ["FE", "DL", "REML", "PM"])
def test_dense_equals_general_engine_with_tau2_fixed(monkeypatch, method):
    y, v, k = _ragged(12, 200, 2, 9)
    for tau2 in (0.0, 0.3, np.linspace(0.0, 1.0, 200)):
        _same(fit_groups(y, v, k, method=method, tau2=tau2),
              _flat(monkeypatch, y, v, k, method=method, tau2=tau2))


def _bench_data(G: int, K: int = 20):
    """The generator of bench/bench_batch.py (variances over three decades, a quarter of the
    datasets homogeneous): it has groups that need step halving and bracketing."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    try:
        from bench_batch import datasets
    finally:
        sys.path.pop(0)
    y, v = datasets(G, K)
    return y.ravel(), v.ravel(), np.full(G, K)


@pytest.mark.parametrize("method", ["REML", "ML", "PM", "EB"])
def test_iterative_fallbacks_agree(monkeypatch, method):
    y, v, k = _bench_data(3000)
    got = fit_groups(y, v, k, method=method)
    want = _flat(monkeypatch, y, v, k, method=method)
    _same(got, want)
    assert got.converged.all()
    if method in ("REML", "ML"):
        # The multisection of the dense bracketing finds the same maxima as bisection.
        assert (got.solver == "bracketing").sum() >= 3
        assert (got.iterations == want.iterations).mean() > 0.99


def test_maximum_at_zero_matches_metafor():
    # Fisher scoring from the HE start (0 here) heads below 0 and the likelihood falls away
    # from 0, so tau^2 = 0.
    y = np.array([0.10, 0.12, 0.09, 0.11, 0.50, -0.20, 0.31])
    v = np.array([0.001, 0.002, 0.0015, 0.001, 0.4, 0.5, 0.3])
    res = fit_groups(y, v, [7], method="REML")
    # reference: metafor 3.8-1, r <- rma(yi, vi, method = "REML"): r$tau2, r$beta, r$se,
    # r$QE, logLik(r)
    assert res.tau2[0] == 0.0 and res.converged[0]
    assert res.estimate[0] == pytest.approx(0.104546647766, rel=1e-9)
    assert res.se[0, 0] == pytest.approx(0.0177485277652, rel=1e-9)
    assert res.q[0] == pytest.approx(1.02804338391, rel=1e-9)
    assert res.ll_reml[0] == pytest.approx(5.58675924605, rel=1e-9)


#: Datasets of _bench_data(3000) on which Fisher scoring halves a step that would take
#: tau^2 below 0 (found by replaying the iteration of tau2._fisher).
HALVING = [58, 61, 92, 106, 143, 288, 299, 549, 622, 685]


def test_groups_that_need_step_halving(monkeypatch):
    y, v, _ = _bench_data(3000)
    rows = np.concatenate([np.arange(20 * g, 20 * g + 20) for g in HALVING])
    kk = np.full(len(HALVING), 20)
    got = fit_groups(y[rows], v[rows], kk, method="REML")
    _same(got, _flat(monkeypatch, y[rows], v[rows], kk, method="REML"))
    assert got.converged.all() and (got.tau2 > 0).all()
    for i, g in enumerate(HALVING):
        single = meta_analysis(from_arrays(y[20 * g:20 * g + 20], v[20 * g:20 * g + 20]),
                               method="REML")
        assert single.tau2 == got.tau2[i] and single.estimate == got.estimate[i]


def test_zero_variance_and_identical_effects():
    y = np.array([0.3, 0.3, 0.3, 0.1, 0.2, 0.4, 0.5, 0.2, 0.9])
    v = np.array([0.1, 0.2, 0.3, 0.1, 0.0, 0.1, 0.2, 0.1, 0.1])
    res = fit_groups(y, v, [3, 3, 3], method="REML", test="knha")
    assert res.status[1] == "non-finite effect, non-positive variance or missing moderator"
    assert res.tau2[0] == 0.0 and res.s2w[0] == 0.0 and res.se[0, 0] == 0.0
    assert np.isnan(res.weights[3:6]).all()
    single = meta_analysis(from_arrays(y[6:], v[6:]), method="REML", test="knha")
    assert res.estimate[2] == single.estimate and res.tau2[2] == single.tau2


def test_long_groups_take_the_general_path(monkeypatch):
    y, v, k = _ragged(13, 3, 300, 400)
    assert not dense.Dense.worthwhile(Groups(k))
    _same(fit_groups(y, v, k, method="REML"), _flat(monkeypatch, y, v, k, method="REML"),
          rel=0, abs_=0)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), method=st.sampled_from(sorted(dense.METHODS)),
       G=st.integers(1, 12))
def test_a_group_in_a_batch_equals_its_single_fit(seed, method, G):
    """A group's numbers do not depend on the other groups: bit-identical to fitting it alone
    (by fit_groups with one group, and by meta_analysis)."""
    y, v, k = _ragged(seed, G, 2, 12)
    batch = fit_groups(y, v, k, method=method)
    starts = np.concatenate(([0], np.cumsum(k)[:-1]))
    g = seed % G
    sl = slice(starts[g], starts[g] + k[g])
    one = fit_groups(y[sl], v[sl], [k[g]], method=method)
    for f in ("beta", "se", "tau2", "se_tau2", "q", "i2", "ll_reml"):
        assert np.array_equal(getattr(batch, f)[g], getattr(one, f)[0], equal_nan=True), f
    single = meta_analysis(from_arrays(y[sl], v[sl]), method=method)
    assert single.estimate == batch.estimate[g] and single.tau2 == batch.tau2[g]
    assert single.se == batch.se[g, 0]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), method=st.sampled_from(["DL", "REML", "PM"]))
def test_group_order_does_not_matter(seed, method):
    y, v, k = _ragged(seed, 9, 2, 10)
    starts = np.concatenate(([0], np.cumsum(k)[:-1]))
    order = np.random.default_rng(seed).permutation(len(k))
    rows = np.concatenate([np.arange(starts[g], starts[g] + k[g]) for g in order])
    a = fit_groups(y, v, k, method=method)
    b = fit_groups(y[rows], v[rows], k[order], method=method)
    assert np.array_equal(a.tau2[order], b.tau2)
    assert np.array_equal(a.estimate[order], b.estimate)
    assert np.array_equal(a.weights[rows], b.weights)


def test_last_newton_step_is_not_confirmed_by_another_pass(monkeypatch):
    # tau2._last_step ends Fisher scoring after a Newton step below 1e-6 (relative) instead of
    # a pass that finds the next step below 1e-13: fewer passes, the same maxima.
    from metareview.models import tau2 as tau2_module

    y, v, k = _bench_data(3000)
    got = fit_groups(y, v, k, method="REML")
    monkeypatch.setattr(tau2_module, "_QUAD", 0.0)  # every step confirmed
    want = fit_groups(y, v, k, method="REML")
    scale = want.tau2 + v.reshape(-1, 20).mean(axis=1)
    assert np.max(np.abs(got.tau2 - want.tau2) / scale) < 1e-10
    assert (got.ll_reml >= want.ll_reml - 1e-12).all()
    capped = (got.iterations == tau2_module._FISHER_MAXITER) | (
        want.iterations == tau2_module._FISHER_MAXITER)
    assert np.array_equal(got.solver[~capped], want.solver[~capped])
    # about half a pass fewer per dataset on these data
    assert got.iterations.mean() < want.iterations.mean() - 0.3


def test_slow_fisher_scoring_hands_over_to_bracketing(monkeypatch):
    # Fisher steps creeping along a flat likelihood stop after _FISHER_MAXITER; bracketing
    # then finds a maximum at least as high as the one the creeping steps reach.
    from metareview.models import tau2 as tau2_module

    y, v, k = _bench_data(3000)
    got = fit_groups(y, v, k, method="REML")
    cap = tau2_module._FISHER_MAXITER
    assert ((got.iterations == cap) & (got.solver == "bracketing")).any()
    monkeypatch.setattr(tau2_module, "_FISHER_MAXITER", 200)
    monkeypatch.setattr(dense, "_FISHER_MAXITER", 200)
    want = fit_groups(y, v, k, method="REML")
    assert want.iterations.max() > cap  # where the steps crept on
    assert (got.ll_reml >= want.ll_reml - 1e-12).all()
    scale = want.tau2 + v.reshape(-1, 20).mean(axis=1)
    assert np.max(np.abs(got.tau2 - want.tau2) / scale) < 1e-9
