"""Invariants of the multilevel engine (hypothesis property tests).

* The order of the rows does not matter.
* Scaling the estimates by c (and their variances by c^2) scales the coefficients by c and the
  variance components by c^2.
* The Sherman-Morrison path for three-level blocks and the general block path give the same
  likelihood, score and information.
* Fitting many models at once gives each model's own fit.
* The fit is a maximum: no variance component can be moved along its bounds to a higher
  (restricted) likelihood (the optimality conditions, checked directly).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

import metareview as mr
from metareview.models import blocks
from metareview.models.multilevel import fit_mv_groups, meta_analysis_mv
from metareview.models.random_terms import parse_random


def _three_level(seed: int, n_clusters: int, s1: float, s2: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n_clusters):
        u = rng.normal(0, np.sqrt(s1))
        for e in range(int(rng.integers(1, 6))):
            vi = rng.uniform(0.01, 0.1)
            rows.append((c, e, 0.2 + u + rng.normal(0, np.sqrt(s2)) + rng.normal(0, np.sqrt(vi)),
                         vi, rng.normal()))
    return pd.DataFrame(rows, columns=["study", "es", "yi", "vi", "x"])


datasets = st.builds(_three_level, st.integers(0, 10**6), st.integers(4, 15),
                     st.floats(0, 0.3), st.floats(0, 0.2))


def _fit(d: pd.DataFrame, **kw):
    es = mr.effect_sizes(d, "GEN", yi="yi", vi="vi")
    return meta_analysis_mv(es, "~ 1 | study/es", mods=["x"], **kw)


@settings(max_examples=40, deadline=None)
@given(datasets, st.integers(0, 10**6))
def test_row_order_does_not_matter(d, seed):
    a = _fit(d)
    perm = np.random.default_rng(seed).permutation(len(d))
    b = _fit(d.iloc[perm].reset_index(drop=True))
    assert b.ll == np.float64(a.ll) or abs(b.ll - a.ll) < 1e-9
    np.testing.assert_allclose(b.coef, a.coef, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(b.sigma2, a.sigma2, rtol=1e-5, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(datasets, st.floats(0.1, 10))
def test_scaling(d, c):
    a = _fit(d)
    d2 = d.assign(yi=d.yi * c, vi=d.vi * c * c)
    b = _fit(d2)
    np.testing.assert_allclose(b.coef, a.coef * c, rtol=1e-5, atol=1e-9 * c)
    np.testing.assert_allclose(b.sigma2, a.sigma2 * c * c, rtol=1e-4, atol=1e-8 * c * c)


@settings(max_examples=40, deadline=None)
@given(datasets, st.floats(0, 0.5), st.floats(0, 0.5), st.booleans())
def test_sherman_morrison_equals_the_block_algebra(d, t1, t2, reml):
    X = np.column_stack([np.ones(len(d)), d.x])
    terms = parse_random(d, "~ 1 | study/es")
    fast = blocks.Problem(d.yi.to_numpy(), d.vi.to_numpy(), X, terms)
    slow = blocks.Problem(d.yi.to_numpy(), d.vi.to_numpy(), X, terms)
    slow.rank1 = None
    assert fast.rank1 is not None
    theta = np.array([[t1, t2]])
    a, b = fast.evaluate(theta, reml), slow.evaluate(theta, reml)
    for key in ("ll", "beta", "A", "score", "info", "observed"):
        np.testing.assert_allclose(a[key], b[key], rtol=1e-8, atol=1e-10)


@settings(max_examples=15, deadline=None)
@given(st.lists(datasets, min_size=2, max_size=6))
def test_many_models_at_once_equal_one_at_a_time(ds):
    long = pd.concat([d.assign(g=i) for i, d in enumerate(ds)], ignore_index=True)
    many = fit_mv_groups(long, "g", "~ 1 | study/es", mods=["x"])
    for i, d in enumerate(ds):
        one = _fit(d)
        j = list(many.groups).index(str(i))
        np.testing.assert_allclose(many.beta[j], one.coef, rtol=1e-7, atol=1e-10)
        np.testing.assert_allclose(many.theta[j], one.sigma2, rtol=1e-6, atol=1e-10)


@settings(max_examples=40, deadline=None)
@given(datasets, st.booleans())
def test_the_fit_is_a_maximum(d, reml):
    fit = _fit(d, method="REML" if reml else "ML")
    prob = fit.problem
    e = prob.evaluate(fit.theta[None, :], reml)
    score = e["score"][0]
    for r, value in enumerate(fit.theta):
        if value > 0:  # interior: the score is 0
            assert abs(score[r]) * max(value, 1e-3) < 1e-6 * max(1.0, abs(fit.ll))
        else:  # on the bound: the likelihood falls going inwards
            assert score[r] <= 1e-6
    for step in (1e-4, -1e-4):  # and no nearby point is higher
        th = np.maximum(fit.theta * (1 + step) + 1e-6 * (step > 0), 0.0)
        assert prob.evaluate(th[None, :], reml, need=0)["ll"][0] <= fit.ll + 1e-10
