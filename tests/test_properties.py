"""Invariants of the meta-analysis engine (hypothesis property tests)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metareview import from_arrays, meta_analysis
from metareview.models.tau2 import codes

RANDOM = codes(random_effects=True)

finite = st.floats(-5, 5, allow_nan=False, allow_infinity=False)
variance = st.floats(1e-3, 10, allow_nan=False, allow_infinity=False)


@st.composite
def studies(draw, min_k=3, max_k=25):
    k = draw(st.integers(min_k, max_k))
    y = np.array(draw(st.lists(finite, min_size=k, max_size=k)))
    v = np.array(draw(st.lists(variance, min_size=k, max_size=k)))
    return y, v


methods = st.sampled_from(("FE", *RANDOM))
tests = st.sampled_from(("z", "t", "knha"))


def _fields(fit):
    return np.array([fit.estimate, fit.se, fit.ci_low, fit.ci_high, fit.tau2, fit.q, fit.i2])


@settings(max_examples=150, deadline=None)
@given(studies(), methods, tests, st.randoms(use_true_random=False))
def test_study_order_does_not_matter(data, method, test, rnd):
    y, v = data
    perm = list(range(len(y)))
    rnd.shuffle(perm)
    a = meta_analysis(from_arrays(y, v), method=method, test=test)
    b = meta_analysis(from_arrays(y[perm], v[perm]), method=method, test=test)
    np.testing.assert_allclose(_fields(a), _fields(b), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(a.weights[perm], b.weights, rtol=1e-7, atol=1e-9)


@settings(max_examples=150, deadline=None)
@given(studies(), methods, st.floats(0.05, 20), st.floats(-10, 10))
def test_location_scale_equivariance(data, method, c, shift):
    """Scaling yi by c (and vi by c^2) scales the estimate by c and tau^2 by c^2;
    shifting yi shifts the estimate and leaves tau^2 alone."""
    y, v = data
    base = meta_analysis(from_arrays(y, v), method=method)
    scaled = meta_analysis(from_arrays(c * y + shift, c**2 * v), method=method)
    assert scaled.estimate == pytest.approx(c * base.estimate + shift, rel=1e-6, abs=1e-8)
    assert scaled.se == pytest.approx(c * base.se, rel=1e-6)
    assert scaled.tau2 == pytest.approx(c**2 * base.tau2, rel=1e-6, abs=1e-10)
    assert scaled.q == pytest.approx(base.q, rel=1e-6, abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(st.lists(variance, min_size=3, max_size=20), finite, st.sampled_from(RANDOM))
def test_random_equals_fixed_when_tau2_is_zero(vs, mu, method):
    """Identical effects: no heterogeneity, so every random-effects model is the FE model."""
    v = np.array(vs)
    y = np.full(len(v), mu)
    re = meta_analysis(from_arrays(y, v), method=method)
    fe = meta_analysis(from_arrays(y, v), method="FE")
    # Exactly 0 but for rounding: SJ starts from var(y), which for equal floats is ~1e-32.
    assert re.tau2 == pytest.approx(0.0, abs=1e-20)
    assert re.estimate == pytest.approx(fe.estimate, rel=1e-12, abs=1e-12)
    assert re.se == pytest.approx(fe.se, rel=1e-12)


@settings(max_examples=100, deadline=None)
@given(studies(), methods, tests)
def test_interval_contains_estimate_and_weights_sum_to_100(data, method, test):
    y, v = data
    fit = meta_analysis(from_arrays(y, v), method=method, test=test)
    assert fit.ci_low <= fit.estimate <= fit.ci_high
    assert fit.weights.sum() == pytest.approx(100)
    assert 0 <= fit.i2 <= 100 and fit.h2 >= 0
    if fit.is_random:  # from tau^2: H^2 = 1 + tau^2 / typical variance (FE's Q/df may be < 1)
        assert fit.h2 >= 1 - 1e-12
        assert fit.pi_low <= fit.ci_low + 1e-12 and fit.pi_high >= fit.ci_high - 1e-12


@settings(max_examples=60, deadline=None)
@given(studies(min_k=5))
def test_fixed_effect_meta_regression_on_a_factor_equals_separate_fits(data):
    """With FE weights, a two-level factor's intercept is group A's pooled estimate and
    intercept + slope is group B's; QE is the sum of the within-group Qs."""
    import pandas as pd

    y, v = data
    k = len(y)
    group = np.where(np.arange(k) % 2 == 0, "a", "b")
    es = from_arrays(y, v, data=pd.DataFrame({"g": group}))
    full = meta_analysis(es, method="FE", mods=["g"])
    a = meta_analysis(from_arrays(y[group == "a"], v[group == "a"]), method="FE")
    b = meta_analysis(from_arrays(y[group == "b"], v[group == "b"]), method="FE")
    assert full.coef_names == ("intrcpt", "g[b]")
    assert full.coef[0] == pytest.approx(a.estimate, rel=1e-9, abs=1e-12)
    assert full.coef[0] + full.coef[1] == pytest.approx(b.estimate, rel=1e-9, abs=1e-12)
    assert full.q == pytest.approx(a.q + b.q, rel=1e-9, abs=1e-9)
    assert full.q_df == k - 2


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(1, 30), st.integers(0, 30),
                          st.integers(1, 30)), min_size=2, max_size=8),
       st.sampled_from(("FE", "DL", "REML", "MH", "PETO")), st.sampled_from(("OR", "RR", "RD")))
def test_to_dict_is_strict_json_for_every_method(tables, method, measure):
    """Whatever the data (zero cells, double zeros), the CLI's JSON has no NaN or inf."""
    import json

    import pandas as pd

    from metareview import InputError, effect_sizes

    rows = [{"ai": min(a, n1), "n1i": n1, "ci": min(c, n2), "n2i": n2} for a, n1, c, n2 in tables]
    try:
        es = effect_sizes(pd.DataFrame(rows), measure)
        fit = meta_analysis(es, method=method if method != "PETO" or measure == "OR" else "MH")
    except InputError:
        return  # e.g. every study double-zero, or no events at all: a clear error, not JSON
    json.dumps(fit.to_dict(), allow_nan=False)
