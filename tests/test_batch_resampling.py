"""Tests for metareview.batch.resampling and metareview.batch.diagnostics.

Reference numbers: tests/reference/resampling.R -> resampling_reference.json (R 4.2, metafor
3.8-1, rma control threshold = tol = 1e-13): exact permutation tests (``permutest(res, exact =
TRUE)``) and GOSH (``gosh(res)``, all subsets) on subsets of dat.bcg, with their inputs (yi, vi
and the model matrix X at 17 significant digits). How metafor computes them is written up in
tests/reference/permutest_notes.md. Random permutations, random GOSH subsets and the bootstrap
depend on R's random stream, so they are checked here against the exact results and against
properties instead. The many-analysis diagnostics are checked against the one-analysis
functions of metareview.diagnostics, which are themselves checked against metafor in
test_diagnostics.py.
"""

from __future__ import annotations

import json
import math
from functools import cache
from itertools import permutations
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metareview import effect_sizes, from_arrays, meta_analysis
from metareview.batch import (
    bootstrap,
    cumulative_many,
    gosh,
    leave_one_out_many,
    permutest,
)
from metareview.batch.resampling import COMPTOL, multiset_permutations
from metareview.diagnostics import cumulative, leave_one_out
from metareview.models import refit
from metareview.models.rma import fit_design

HERE = Path(__file__).parent
REF = json.loads((HERE / "reference" / "resampling_reference.json").read_text())
BCG = HERE.parent / "src" / "metareview" / "data" / "bcg.csv"
REL = 1e-6


def _arr(x: Any) -> np.ndarray:
    return np.array([math.nan if v is None else v for v in x], dtype=float)


def close(actual: Any, expected: Any, rel: float = REL, abs_: float = 1e-10) -> None:
    """Elementwise ``|a - e| <= max(rel |e|, abs_)``; NaN (R's NA) must match NaN."""
    a = np.ravel(np.asarray(actual, dtype=float))
    e = _arr(np.ravel(np.asarray(expected, dtype=object)))
    assert a.shape == e.shape
    assert np.array_equal(np.isnan(a), np.isnan(e))
    ok = ~np.isnan(e)
    assert a[ok] == pytest.approx(e[ok], rel=rel, abs=abs_)


def case_fit(case: dict[str, Any]):
    """The model of a reference case, fitted through the public API from its yi, vi and X."""
    names = list(case["X"])[1:]
    data = pd.DataFrame({f"x{j}": _arr(case["X"][n]) for j, n in enumerate(names)})
    es = from_arrays(_arr(case["yi"]), _arr(case["vi"]), study=case["study"], data=data)
    return meta_analysis(es, method=case["method"], test=case["test"], mods=list(data.columns))


@cache
def bcg_effects():
    return effect_sizes(pd.read_csv(BCG), "RR")


def bcg_fit(method: str = "REML", test: str = "z", mods=("ablat",)):
    return meta_analysis(bcg_effects(), method=method, test=test, mods=list(mods))


PERM_CASES = REF["permutest"]
GOSH_CASES = REF["gosh"]


# ---- permutest against metafor's exact tests ---------------------------------------------------
@pytest.mark.parametrize("case", PERM_CASES, ids=[c["name"] for c in PERM_CASES])
def test_permutest_exact_matches_metafor(case):
    # reference: metafor 3.8-1, tests/reference/resampling.R, permutest(res, exact = TRUE)
    fit = case_fit(case)
    ref = case["permutest"]
    close(fit.coef_stat, case["fit"]["zval"])  # the model itself first
    res = permutest(fit, exact=True)
    assert res.exact and res.iter == ref["exact_iter"] == ref["n_perm"]
    assert res.n_failed == ref["n_failed"] == 0
    # p-values are counts / N: equal exactly
    assert list(res.pval) == ref["pval"]
    assert res.qm_p == ref["QMp"]
    close(res.qm, ref["QM"])
    close(res.qm_perm, ref["QM_perm"])  # same permutations, in metafor's order
    for j, name in enumerate(case["X"]):
        close(res.stat_perm[:, j], ref["zval_perm"][name])
        close(res.beta_perm[:, j], ref["beta_perm"][name])


@pytest.mark.parametrize("case", PERM_CASES[:1] + PERM_CASES[7:9],
                         ids=[c["name"] for c in PERM_CASES[:1] + PERM_CASES[7:9]])
def test_permutest_exact_by_default_when_few(case):
    # metafor switches to the exact test when the exact count is <= iter
    n = case["permutest"]["exact_iter"]
    fit = case_fit(case)
    assert permutest(fit, iter=n).exact
    assert not permutest(fit, iter=n - 1, seed=1).exact
    assert not permutest(fit, iter=n, exact=False, seed=1).exact


def test_multiset_permutations_lexicographic():
    counts = np.array([2, 1, 3])
    values = np.repeat(np.arange(3), counts)
    expected = np.array(sorted(set(permutations(values))))
    got = multiset_permutations(counts)
    assert got.shape == expected.shape == (60, 6)
    assert np.array_equal(got, expected)
    # any range of ranks on its own
    assert np.array_equal(multiset_permutations(counts, 17, 41), expected[17:41])
    assert len(multiset_permutations(np.ones(8, dtype=int))) == math.factorial(8)


def test_permutest_matches_brute_force_with_fixed_tau2():
    # k = 6 with tied moderator rows (two studies per allocation) and tau^2 held fixed: every
    # distinct arrangement of the rows of X refitted one at a time by the one-analysis path.
    fit = bcg_fit(mods=("alloc",))
    fixed = refit(fit, np.array([0, 1, 4, 5, 9, 10]), tau2=0.05)
    res = permutest(fixed, exact=True)
    X = fixed.X
    arrangements = {tuple(map(tuple, X[list(r)])) for r in permutations(range(6))}
    stats_, qms = [], []
    for rows in arrangements:
        g = fit_design(fixed.effects, np.array(rows), fixed.coef_names, fixed.method,
                       fixed.test, fixed.level, (), (), tau2_fixed=0.05)
        assert g.tau2 == 0.05
        stats_.append(g.coef_stat)
        qms.append(g.qm)
    stats_, qms = np.array(stats_), np.array(qms)
    assert res.iter == len(stats_) == math.factorial(6) // (2 * 2 * 2)
    p = (np.abs(stats_) >= np.abs(fixed.coef_stat) - COMPTOL).mean(axis=0)
    assert np.array_equal(res.pval, p)
    assert res.qm_p == (qms >= fixed.qm - COMPTOL).mean()
    np.testing.assert_allclose(np.sort(res.qm_perm), np.sort(qms), rtol=1e-9)


def test_permutest_random_reproducible_and_close_to_exact():
    case = next(c for c in PERM_CASES if c["name"] == "bcg7_ablat_REML_z")
    fit = case_fit(case)
    a = permutest(fit, iter=1000, seed=20)
    b = permutest(fit, iter=1000, seed=20)
    assert not a.exact and a.iter == 1000
    assert np.array_equal(a.qm_perm, b.qm_perm) and np.array_equal(a.pval, b.pval)
    # the observed statistics are permutation 1
    assert a.qm_perm[0] == fit.qm and np.array_equal(a.stat_perm[0], fit.coef_stat)
    exact = np.array(case["permutest"]["pval"])
    se = np.sqrt(exact * (1 - exact) / 1000)
    assert np.all(np.abs(a.pval - exact) <= 3 * se + 1e-3)
    assert abs(a.qm_p - case["permutest"]["QMp"]) <= 3 * se[1] + 1e-3


def test_permutest_bcg_all_studies():
    # the benchmark model: 13! permutations, so random; the slope's p-value is small
    fit = bcg_fit()
    res = permutest(fit, iter=1000, seed=1)
    assert res.iter == 1000 and not res.exact and res.n_failed == 0
    assert res.pval[1] < 0.01 and res.qm_p == res.pval[1]
    text = res.summary()
    assert "QM(df = 1)" in text and "pval*" in text and "ablat" in text
    json.dumps(res.to_dict(), allow_nan=False)
    knha = permutest(bcg_fit(test="knha"), iter=200, seed=1)
    assert "F(df1 = 1, df2 = 11)" in knha.summary()


def test_permutest_alternatives():
    case = PERM_CASES[3]  # bcg7_ablat_REML_z, exact
    fit = case_fit(case)
    zp = np.array(case["permutest"]["zval_perm"][list(case["X"])[1]])
    z = fit.coef_stat[1]
    less = permutest(fit, exact=True, alternative="less")
    greater = permutest(fit, exact=True, alternative="greater")
    assert less.pval[1] == np.mean(zp <= z + COMPTOL)
    assert greater.pval[1] == np.mean(zp >= z - COMPTOL)
    px2 = permutest(fit, exact=True, p2defn="px2")
    side = zp >= z - COMPTOL if z > np.median(zp) else zp <= z + COMPTOL
    assert px2.pval[1] == min(1.0, 2 * np.mean(side))
    with pytest.raises(ValueError, match="iter"):
        permutest(fit, iter=1)
    with pytest.raises(ValueError, match="alternative"):
        permutest(fit, alternative="both")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(k=st.integers(3, 7), seed=st.integers(0, 10**6),
       method=st.sampled_from(["FE", "DL", "REML", "PM"]), mods=st.booleans())
def test_permutest_properties(k, seed, method, mods):
    rng = np.random.default_rng(seed)
    y, v = rng.normal(0.2, 0.5, k), rng.uniform(0.01, 0.3, k)
    x = rng.integers(0, 3, k).astype(float) if mods else None
    if x is not None and len(set(x)) < 2:
        x[0] = x[1] + 1
    data = pd.DataFrame({"x": x}) if mods else None
    fit = meta_analysis(from_arrays(y, v, data=data), method=method,
                        mods=["x"] if mods else None)
    res = permutest(fit, exact=True)
    N = res.iter
    assert np.all(res.pval >= 1 / N) and np.all(res.pval <= 1)
    assert np.allclose(res.pval * N, np.round(res.pval * N))
    # study order does not matter: the same set of permutations
    order = rng.permutation(k)
    data2 = None if data is None else data.iloc[order].reset_index(drop=True)
    fit2 = meta_analysis(from_arrays(y[order], v[order], data=data2), method=method,
                         mods=["x"] if mods else None)
    res2 = permutest(fit2, exact=True)
    assert res2.iter == N
    assert np.array_equal(res.pval, res2.pval) and res.qm_p == res2.qm_p


# ---- GOSH against metafor ---------------------------------------------------------------------
@pytest.mark.parametrize("case", GOSH_CASES, ids=[c["name"] for c in GOSH_CASES])
def test_gosh_matches_metafor(case):
    # reference: metafor 3.8-1, tests/reference/resampling.R, gosh(res) (all subsets)
    fit = case_fit(case)
    g = gosh(fit)
    ref = case["gosh"]
    assert g.exact and g.n_subsets == ref["n_subsets"]
    assert np.array_equal(g.incl, np.array(ref["incl"], dtype=bool))
    assert list(g.fit) == ref["fit"]
    frame = g.to_frame()
    names = ["k", "QE", "I2", "H2", "tau2"]
    coefs = ["estimate"] if case["int_only"] else list(case["X"])
    for ours, theirs in zip(names + list(g.coef_names), names + coefs, strict=True):
        # tau^2 and I^2 are R's Fisher-scoring noise (~1e-14) where tau^2 is 0
        close(frame[ours], ref["res"][theirs], abs_=1e-9)


@settings(max_examples=20, deadline=None)
@given(k=st.integers(2, 7), seed=st.integers(0, 10**6),
       method=st.sampled_from(["FE", "DL", "REML", "ML", "HE"]), mods=st.booleans())
def test_gosh_properties(k, seed, method, mods):
    rng = np.random.default_rng(seed)
    mods = mods and k >= 3
    y, v = rng.normal(0.2, 0.5, k), rng.uniform(0.01, 0.3, k)
    data = pd.DataFrame({"x": rng.normal(size=k)}) if mods else None
    fit = meta_analysis(from_arrays(y, v, data=data), method=method,
                        mods=["x"] if mods else None)
    g = gosh(fit)
    p = fit.p_coef
    assert g.n_subsets == sum(math.comb(k, j) for j in range(p, k + 1))
    assert np.array_equal(g.k, g.incl.sum(axis=1)) and np.all(np.diff(g.k) >= 0)
    # all subsets: the last one is the full data, equal to the fit
    assert g.incl[-1].all() and g.fit[-1]
    assert g.beta[-1] == pytest.approx(fit.coef, rel=1e-9, abs=1e-12)
    assert g.tau2[-1] == pytest.approx(fit.tau2, rel=1e-9, abs=1e-12)
    assert g.qe[-1] == pytest.approx(fit.q, rel=1e-9, abs=1e-12)
    assert g.i2[-1] == pytest.approx(fit.i2, rel=1e-9, abs=1e-9)
    if not (method == "DL" and not mods):  # metafor's DL closed form keeps H^2 = Q/(k-1)
        assert g.h2[-1] == pytest.approx(fit.h2, rel=1e-9, abs=1e-12)


def test_gosh_random_subsets():
    fit = bcg_fit(mods=())
    total = 2**13 - 1
    g = gosh(fit, subsets=500, seed=3)
    again = gosh(fit, subsets=500, seed=3)
    assert not g.exact and g.n_subsets == 500
    assert np.array_equal(g.incl, again.incl) and np.array_equal(g.beta, again.beta)
    assert np.all(np.diff(g.k) >= 0) and g.k.min() >= 1
    # each random subset's results are those of the same subset in the exact enumeration
    full = gosh(fit, subsets=total)
    assert full.exact and full.n_subsets == total
    code = lambda incl: incl.astype(np.int64) @ (1 << np.arange(incl.shape[1]))  # noqa: E731
    where = {c: i for i, c in enumerate(code(full.incl))}
    idx = np.array([where[c] for c in code(g.incl)])
    np.testing.assert_allclose(g.beta, full.beta[idx], rtol=1e-12)
    np.testing.assert_allclose(g.tau2, full.tau2[idx], rtol=1e-12, atol=1e-15)
    # subset sizes follow Binomial(k, 1/2)
    assert abs(g.k.mean() - 6.5) < 0.3
    text = g.summary()
    assert "Model fits attempted: 500" in text
    json.dumps(g.to_dict(), allow_nan=False)


def test_gosh_fixed_tau2_and_single_study():
    fit = bcg_fit(mods=())
    fixed = refit(fit, np.arange(6), tau2=0.2)
    g = gosh(fixed)
    one = g.k == 1
    assert np.all(g.tau2[one] == 0) and np.all(g.tau2[~one] == 0.2)
    assert np.array_equal(g.beta[one, 0], fixed.yi)
    with pytest.raises(ValueError, match="k = 1"):
        gosh(refit(fit, np.array([0]), tau2=0.0))


# ---- bootstrap --------------------------------------------------------------------------------
def test_bootstrap_reproducible():
    fit = bcg_fit()
    for kind in ("parametric", "nonparametric"):
        a = bootstrap(fit, 300, kind=kind, seed=5)
        b = bootstrap(fit, 300, kind=kind, seed=5)
        assert np.array_equal(a.replicates, b.replicates)
        assert a.names == ("intrcpt", "ablat", "tau2")
        assert a.n_ok + a.n_dropped == 300
        assert np.all(a.percentile[:, 0] <= a.percentile[:, 1])
        assert "percentile" in a.summary()
        json.dumps(a.to_dict(), allow_nan=False)
    assert not np.array_equal(bootstrap(fit, 50, seed=1).replicates,
                              bootstrap(fit, 50, seed=2).replicates)


def test_parametric_bootstrap_close_to_wald_for_large_k():
    rng = np.random.default_rng(11)
    k = 300
    v = rng.uniform(0.02, 0.2, k)
    y = rng.normal(0.3, np.sqrt(v + 0.05))
    fit = meta_analysis(from_arrays(y, v), method="REML")
    res = bootstrap(fit, 2000, seed=12)
    width = fit.ci_high - fit.ci_low
    assert res.percentile[0] == pytest.approx([fit.ci_low, fit.ci_high], abs=0.08 * width)
    assert res.normal[0] == pytest.approx([fit.ci_low, fit.ci_high], abs=0.08 * width)
    assert res.se[0] == pytest.approx(fit.se, rel=0.08)
    assert abs(res.bias[0]) < 0.1 * fit.se
    # tau^2: centred near the estimate, with about the standard error of the estimator
    assert res.se[-1] == pytest.approx(fit.se_tau2, rel=0.15)


def test_nonparametric_bootstrap_coverage():
    rng = np.random.default_rng(7)
    covered, n_sets = 0, 80
    for _ in range(n_sets):
        k = 25
        v = rng.uniform(0.02, 0.3, k)
        y = rng.normal(0.5, np.sqrt(v + 0.1))
        fit = meta_analysis(from_arrays(y, v), method="DL")
        res = bootstrap(fit, 300, kind="nonparametric", seed=rng.integers(2**31))
        covered += res.percentile[0, 0] <= 0.5 <= res.percentile[0, 1]
    assert covered / n_sets >= 0.82  # nominal 95%; percentile CIs run a little short


def test_nonparametric_bootstrap_drops_collinear_samples():
    rng = np.random.default_rng(3)
    k = 8
    x = np.zeros(k)
    x[0] = 1.0  # one study carries the moderator: most resamples lose it
    y, v = rng.normal(size=k), rng.uniform(0.05, 0.2, k)
    fit = meta_analysis(from_arrays(y, v, data=pd.DataFrame({"x": x})), method="FE", mods=["x"])
    res = bootstrap(fit, 400, kind="nonparametric", seed=4)
    assert 0 < res.n_dropped < 400 and res.n_ok + res.n_dropped == 400
    assert np.isfinite(res.replicates).all()
    # FE: tau^2 is 0 in every sample
    assert np.all(res.replicates[:, -1] == 0)


# ---- many leave-one-out / cumulative analyses -------------------------------------------------
FIELDS = ["estimate", "se", "stat", "p", "ci_low", "ci_high", "q", "q_p", "tau2", "i2", "h2"]


def _datasets():
    es = bcg_effects()
    rng = np.random.default_rng(2024)
    ys, vs = [es.yi], [es.vi]
    for k in (2, 3, 5, 9):
        vs.append(rng.uniform(0.01, 0.4, k))
        ys.append(rng.normal(0.1, np.sqrt(vs[-1] + 0.05)))
    return ys, vs


@pytest.mark.parametrize("method,test", [("REML", "z"), ("DL", "knha"), ("FE", "z"),
                                         ("PM", "t"), ("ML", "z"), ("SJ", "knha"),
                                         ("HE", "z"), ("EB", "z"), ("HS", "t")])
def test_many_diagnostics_equal_one_analysis(method, test):
    ys, vs = _datasets()
    k = [len(y) for y in ys]
    loo = leave_one_out_many(np.concatenate(ys), np.concatenate(vs), k, method=method,
                             test=test)
    cum = cumulative_many(np.concatenate(ys), np.concatenate(vs), k, method=method, test=test)
    assert len(loo) == len(cum) == sum(k)
    for a, (y, v) in enumerate(zip(ys, vs, strict=True)):
        fit = meta_analysis(from_arrays(y, v), method=method, test=test)
        for mine, theirs in ((loo[loo.analysis == a], leave_one_out(fit)),
                             (cum[cum.analysis == a], cumulative(fit))):
            expected = theirs.to_frame()[FIELDS].to_numpy()
            got = mine[FIELDS].to_numpy()
            assert np.array_equal(np.isnan(got), np.isnan(expected))
            ok = ~np.isnan(expected)
            np.testing.assert_allclose(got[ok], expected[ok], rtol=1e-10, atol=1e-13)
        assert list(loo.omitted[loo.analysis == a]) == list(range(len(y)))
        assert list(cum.step[cum.analysis == a]) == list(range(1, len(y) + 1))


def test_many_diagnostics_edge_cases():
    y, v = np.array([0.1, 0.3, -0.2]), np.array([0.1, 0.2, 0.1])
    loo = leave_one_out_many(y, v, [1, 2])
    assert loo.status[0] != "" and np.isnan(loo.estimate[0])
    # one study left: tau^2 = 0 and the z-test, as metafor (and leave_one_out)
    assert list(loo.k) == [0, 1, 1] and np.array_equal(loo.estimate[1:], [-0.2, 0.3])
    assert loo.tau2[1] == 0 and loo.ci_high[1] == pytest.approx(-0.2 + 1.959964 * 0.1**0.5)
    cum = cumulative_many(y, v, [1, 2], method="DL", test="knha")
    assert list(cum.k) == [1, 1, 2] and cum.estimate[0] == 0.1
    assert np.isfinite(cum[FIELDS].to_numpy()).all()
    with pytest.raises(ValueError, match="sum to"):
        leave_one_out_many(y, v, [1, 1])
    many = leave_one_out_many(np.tile(y, 1000), np.tile(v, 1000), np.full(1000, 3))
    assert len(many) == 3000 and many.analysis.nunique() == 1000


def test_unfittable_resamples_are_dropped_not_errors():
    # Resamples whose moderator takes one value are rank-deficient and dropped; those the
    # moderator fits exactly (Knapp-Hartung s2w = 0, QM NA as in metafor) are kept.
    rng = np.random.default_rng(1)
    y, v = rng.normal(0.2, 0.5, 4), rng.uniform(0.01, 0.3, 4)
    data = pd.DataFrame({"x": [0.0, 0.0, 2.0, 2.0]})
    fit = meta_analysis(from_arrays(y, v, data=data), method="DL", test="knha", mods=["x"])
    res = bootstrap(fit, 200, kind="nonparametric", seed=1)
    assert res.n_dropped > 0 and res.n_ok + res.n_dropped == 200
    assert np.isfinite(res.replicates).all()
