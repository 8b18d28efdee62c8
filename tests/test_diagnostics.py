"""Tests for metareview.diagnostics against metafor 3.8-1.

Reference numbers come from two R scripts (R 4.2, metafor 3.8-1, rma control threshold = tol =
1e-13, confint control tol = 1e-13):

* tests/reference/metafor_reference.R -> metafor_reference.json, keys "leave1out", "influence",
  "cumul", "baujat", "regtest", "ranktest", "trimfill", "fsn" (z-test, intercept-only models on
  bcg, hackshaw1998, normand1999, pritz1997, egger2001; regtest also t/knha). The models are
  fitted here to the yi/vi that metafor's escalc produced (its "escalc" key).
* tests/reference/diagnostics.R -> diagnostics.json (printed output in diagnostics.Rout): the
  Knapp-Hartung and meta-regression cases, Mantel-Haenszel/Peto, Q-profile CIs for tau^2 (with
  their edge cases), rank tests with ties and k = 60, trim-and-fill with a forced side, other
  regtest predictors and fail-safe N options. yi/vi are stored there with 17 digits.
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
from scipy import stats

from metareview import effect_sizes, from_arrays, meta_analysis
from metareview.diagnostics import (
    baujat,
    cumulative,
    fail_safe_n,
    influence,
    kendall_cdf,
    leave_one_out,
    ranktest,
    regtest,
    tau2_confint,
    trimfill,
)
from metareview.errors import InputError
from metareview.models import refit
from metareview.models.tau2 import generalized_q

HERE = Path(__file__).parent
REL = 1e-6
SHARED_PATH = HERE / "reference" / "metafor_reference.json"
OWN = json.loads((HERE / "reference" / "diagnostics.json").read_text())


# ---- helpers -------------------------------------------------------------------------------
@cache
def shared() -> dict[str, Any]:
    if not SHARED_PATH.exists():
        pytest.skip("tests/reference/metafor_reference.json not generated")
    return json.loads(SHARED_PATH.read_text())


def _shared_cases(key: str) -> list[dict[str, Any]]:
    if not SHARED_PATH.exists():
        return []
    return json.loads(SHARED_PATH.read_text())[key]


def _arr(x: Any) -> np.ndarray:
    if not isinstance(x, list):
        x = [x]
    return np.array([math.nan if v is None else v for v in x], dtype=float)


def close(actual: Any, expected: Any, rel: float = REL, abs_: float = 1e-10) -> None:
    """Elementwise ``|a - e| <= max(rel |e|, abs_)``; NaN (R's NA) must match NaN."""
    a, e = _arr(list(np.ravel(np.asarray(actual, dtype=float)))), _arr(expected)
    assert a.shape == e.shape, (a, e)
    assert np.array_equal(np.isnan(a), np.isnan(e)), (a, e)
    ok = ~np.isnan(e)
    assert a[ok] == pytest.approx(e[ok], rel=rel, abs=abs_)


@cache
def _shared_fit_data(dataset: str, measure: str) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    ref = shared()
    esc = next(e for e in ref["escalc"] if e["id"] == f"{dataset}/{measure}")
    yi, vi = _arr(esc["yi"]), _arr(esc["vi"])
    ok = np.isfinite(yi) & np.isfinite(vi)
    info = ref["datasets"][dataset]
    df = pd.read_csv(HERE.parent / info["csv"])
    assert ok.all(), "reference diagnostics are on complete data"
    return yi, vi, df


def shared_fit(case: dict[str, Any], test: str | None = None):
    yi, vi, df = _shared_fit_data(case["dataset"], case["measure"])
    labels = shared()["datasets"][case["dataset"]]["labels"]
    es = from_arrays(yi, vi, measure=case["measure"], study=labels, data=df)
    return meta_analysis(es, method=case["method"], test=test or case.get("test", "z"))


def own_effects(name: str, extra: tuple[str, ...] = ()):
    d = OWN["data"][name]
    data = pd.DataFrame({c: _arr(d[c]) for c in extra}) if extra else None
    return from_arrays(_arr(d["yi"]), _arr(d["vi"]), data=data)


def own_fit(name: str, method: str = "REML", test: str = "z", mods=(), level: float = 95):
    d = OWN["data"][name]
    cols = tuple(c for c in d if c not in ("yi", "vi"))
    return meta_analysis(own_effects(name, cols), method=method, test=test, mods=list(mods),
                         level=level)


def ids(cases: list[dict[str, Any]]) -> list[str]:
    return [c["id"] for c in cases]


STEP_MAP = [("estimate", "estimate"), ("se", "se"), ("p", "pval"), ("ci_low", "ci_lb"),
            ("ci_high", "ci_ub"), ("q", "Q"), ("q_p", "Qp"), ("tau2", "tau2"), ("i2", "I2"),
            ("h2", "H2")]


def check_steps(res, case: dict[str, Any], stat_key: str) -> None:
    for ours, theirs in STEP_MAP:
        # tau^2 and I^2 are R's Fisher-scoring noise (~1e-14) where tau^2 is 0
        abs_ = 1e-9 if ours in ("tau2", "i2") else 1e-10
        close(getattr(res, ours), case[theirs], abs_=abs_)
    close(res.stat, case[stat_key])


# ---- metafor_reference.json -------------------------------------------------------------------
@pytest.mark.parametrize("case", _shared_cases("leave1out"), ids=ids(_shared_cases("leave1out")))
def test_leave1out_shared(case):
    # reference: metafor 3.8-1, tests/reference/metafor_reference.R, leave1out(rma(yi, vi, ...))
    res = leave_one_out(shared_fit(case))
    check_steps(res, case, "zval")


@pytest.mark.parametrize("case", _shared_cases("influence"), ids=ids(_shared_cases("influence")))
def test_influence_shared(case):
    # reference: metafor 3.8-1, tests/reference/metafor_reference.R, influence(rma(yi, vi, ...))
    res = influence(shared_fit(case))
    for ours, theirs in [("rstudent", "rstudent"), ("dffits", "dffits"), ("cook_d", "cook_d"),
                         ("cov_r", "cov_r"), ("tau2_del", "tau2_del"), ("qe_del", "QE_del"),
                         ("hat", "hat"), ("weight", "weight")]:
        close(getattr(res, ours), case[theirs], abs_=1e-9 if ours == "tau2_del" else 1e-10)
    for j, values in enumerate(case["dfbetas"].values()):
        close(res.dfbetas[:, j], values)
    assert list(res.is_infl) == [bool(x) for x in case["is_infl"]]


@pytest.mark.parametrize("case", _shared_cases("cumul"), ids=ids(_shared_cases("cumul")))
def test_cumul_shared(case):
    # reference: metafor 3.8-1, tests/reference/metafor_reference.R, cumul(res, order = year)
    fit = shared_fit(case)
    res = cumulative(fit, case["order_variable"])
    assert list(res.order) == case["order_rows0"]
    check_steps(res, case, "zval")


@pytest.mark.parametrize("case", _shared_cases("baujat"), ids=ids(_shared_cases("baujat")))
def test_baujat_shared(case):
    # reference: metafor 3.8-1, tests/reference/metafor_reference.R, baujat(res)
    res = baujat(shared_fit(case))
    close(res.x, case["x"])
    close(res.y, case["y"])


@pytest.mark.parametrize("case", _shared_cases("regtest"), ids=ids(_shared_cases("regtest")))
def test_regtest_shared(case):
    # reference: metafor 3.8-1, tests/reference/metafor_reference.R, regtest(res) (model="rma")
    res = regtest(shared_fit(case, case["test"]))
    close(res.stat, case["zval"])
    close(res.p, case["pval"])
    assert res.df == case["dfs"]
    close(res.limit_estimate, case["limit_estimate"])
    close(res.limit_ci_low, case["limit_ci_lb"])
    close(res.limit_ci_high, case["limit_ci_ub"])
    close(res.fit.coef, case["fit"]["beta"])
    close(res.fit.coef_se, case["fit"]["se"])
    close(res.fit.tau2, case["fit"]["tau2"], abs_=1e-9)
    close(res.fit.q, case["fit"]["QE"])


@pytest.mark.parametrize("case", _shared_cases("ranktest"), ids=ids(_shared_cases("ranktest")))
def test_ranktest_shared(case):
    # reference: metafor 3.8-1, tests/reference/metafor_reference.R, ranktest(res)
    res = ranktest(shared_fit(case))
    close(res.tau, case["tau"])
    close(res.p, case["pval"])
    assert res.ties == case["ties"]


@pytest.mark.parametrize("case", _shared_cases("trimfill"), ids=ids(_shared_cases("trimfill")))
def test_trimfill_shared(case):
    # reference: metafor 3.8-1, tests/reference/metafor_reference.R,
    # trimfill(res, estimator = "L0"/"R0", control = <tight>)
    assert case["filled_test"] == "z"
    fit = shared_fit(case)
    res = trimfill(fit, case["estimator"])
    assert res.k0 == case["k0"]
    assert res.side == case["side"]
    close(res.se_k0, case["se_k0"])
    close(res.p_k0, case["p_k0"])
    out = res.fit
    assert out.k == case["k"]
    for ours, theirs in [("estimate", "estimate"), ("se", "se"), ("stat", "zval"),
                         ("p", "pval"), ("ci_low", "ci_lb"), ("ci_high", "ci_ub"),
                         ("q", "QE"), ("q_p", "QEp"), ("h2", "H2")]:
        close(getattr(out, ours), case[theirs])
    close(out.tau2, case["tau2"], abs_=1e-9)
    close(out.i2, case["I2"], abs_=1e-8)
    close(out.yi, case["yi"])
    close(out.vi, case["vi"])
    if res.k0 == 0:
        assert out is fit


@pytest.mark.parametrize("case", _shared_cases("fsn"), ids=ids(_shared_cases("fsn")))
def test_fsn_shared(case):
    # reference: metafor 3.8-1, tests/reference/metafor_reference.R, fsn(yi, vi, type = ...)
    yi, vi, _ = _shared_fit_data(case["dataset"], case["measure"])
    res = fail_safe_n(yi, vi, alpha=case["alpha"], type=case["type"])
    assert res.fsnum == case["fsnum"]
    close(res.p, case["pval"])
    close(res.mean_effect, case["meanes"])
    close(res.target, case["target"])


# ---- diagnostics.json -----------------------------------------------------------------------
@pytest.mark.parametrize("case", OWN["leave1out"], ids=ids(OWN["leave1out"]))
def test_leave1out_own(case):
    # reference: metafor 3.8-1, tests/reference/diagnostics.R, leave1out(rma(yi, vi, method, test))
    res = leave_one_out(own_fit(case["data"], case["method"], case["test"]))
    check_steps(res, case, "stat")
    assert res.stat_name == ("t" if case["test"] in ("t", "knha") else "z")


@pytest.mark.parametrize("case", OWN["cumul"], ids=ids(OWN["cumul"]))
def test_cumul_own(case):
    # reference: metafor 3.8-1, tests/reference/diagnostics.R, cumul(res, order = year / ablat,
    # decreasing = TRUE); step 1 (k = 1) uses tau^2 = 0 and the z-test, as metafor
    fit = own_fit(case["data"], case["method"], case["test"])
    res = cumulative(fit, case["order_variable"], decreasing=case.get("decreasing", False))
    assert list(res.order) == case["order0"]
    check_steps(res, case, "stat")


@pytest.mark.parametrize("case", OWN["influence"], ids=ids(OWN["influence"]))
def test_influence_own(case):
    # reference: metafor 3.8-1, tests/reference/diagnostics.R, influence(res) incl. knha and
    # mods = ~ ablat
    res = influence(own_fit(case["data"], case["method"], case["test"], case["mods"]))
    for ours, theirs in [("rstudent", "rstudent"), ("dffits", "dffits"), ("cook_d", "cook_d"),
                         ("cov_r", "cov_r"), ("tau2_del", "tau2_del"), ("qe_del", "QE_del"),
                         ("hat", "hat"), ("weight", "weight")]:
        close(getattr(res, ours), case[theirs], abs_=1e-9 if ours == "tau2_del" else 1e-10)
    assert res.dfbetas.shape[1] == len(case["dfbetas"])
    for j, values in enumerate(case["dfbetas"].values()):
        close(res.dfbetas[:, j], values)
    assert list(res.is_infl) == [bool(x) for x in case["is_infl"]]


@pytest.mark.parametrize("case", OWN["baujat"], ids=ids(OWN["baujat"]))
def test_baujat_own(case):
    # reference: metafor 3.8-1, tests/reference/diagnostics.R, baujat(res) incl. knha and mods
    res = baujat(own_fit(case["data"], case["method"], case["test"], case["mods"]))
    close(res.x, case["x"])
    close(res.y, case["y"])


@cache
def _bcg_2x2():
    df = pd.read_csv(HERE / "data" / "dat.bcg.csv")
    return effect_sizes(df, "OR", ai="tpos", bi="tneg", ci="cpos", di="cneg"), df


@pytest.mark.parametrize("case", OWN["mh"], ids=ids(OWN["mh"]))
def test_mh_peto_own(case):
    # reference: metafor 3.8-1, tests/reference/diagnostics.R, leave1out/cumul/baujat of
    # rma.mh(measure = "OR") and rma.peto() on dat.bcg
    es, df = _bcg_2x2()
    fit = meta_analysis(es, method=case["method"])
    l1 = leave_one_out(fit)
    for ours, theirs in [("estimate", "estimate"), ("se", "se"), ("p", "pval"),
                         ("ci_low", "ci_lb"), ("ci_high", "ci_ub"), ("q", "Q"), ("q_p", "Qp"),
                         ("i2", "I2"), ("h2", "H2")]:
        close(getattr(l1, ours), case["leave1out"][theirs])
    cu = cumulative(fit, df["year"].to_numpy())
    assert list(cu.order) == case["cumul"]["order0"]
    for ours, theirs in [("estimate", "estimate"), ("se", "se"), ("q", "Q"), ("i2", "I2")]:
        close(getattr(cu, ours), case["cumul"][theirs])
    bj = baujat(fit)
    close(bj.x, case["baujat"]["x"])
    close(bj.y, case["baujat"]["y"])


@pytest.mark.parametrize("case", OWN["confint"], ids=ids(OWN["confint"]))
def test_tau2_confint_own(case):
    # reference: metafor 3.8-1, tests/reference/diagnostics.R,
    # confint(res, control = list(tol = 1e-13, [tau2.max]))$random, lb.sign/ub.sign/ci.null
    fit = own_fit(case["data"], case["method"], case["test"], case["mods"], case["level"])
    ci = tau2_confint(fit, tau2_max=case.get("tau2_max"))
    close(ci.tau2, case["tau2"], abs_=1e-12)
    close(ci.tau, case["tau"], abs_=1e-8)
    close(ci.i2, case["I2"], abs_=1e-9)
    close(ci.h2, case["H2"])
    assert (ci.lb_sign, ci.ub_sign, ci.ci_null) == (case["lb_sign"], case["ub_sign"],
                                                    case["ci_null"])
    assert ci.tau2_min == case["tau2_min"]


@pytest.mark.parametrize("case", OWN["ranktest"], ids=ids(OWN["ranktest"]))
def test_ranktest_own(case):
    # reference: metafor 3.8-1, tests/reference/diagnostics.R, ranktest(res): synthetic/ties
    # takes R's normal approximation with ties, synthetic/k60 the exact distribution at k = 60
    res = ranktest(own_fit(case["data"]))
    close(res.tau, case["tau"])
    close(res.p, case["pval"])
    assert res.exact == (case["data"] != "synthetic/ties")


@pytest.mark.parametrize("case", OWN["trimfill"], ids=ids(OWN["trimfill"]))
def test_trimfill_own(case):
    # reference: metafor 3.8-1, tests/reference/diagnostics.R,
    # trimfill(res, estimator, side, control = <tight>)
    fit = own_fit(case["data"], case["method"])
    res = trimfill(fit, case["estimator"], case["side_arg"])
    assert (res.k0, res.side) == (case["k0"], case["side"])
    close(res.se_k0, case["se_k0"])
    close(res.p_k0, case["p_k0"])
    out = res.fit
    assert out.k == case["k"]
    for ours, theirs in [("estimate", "estimate"), ("se", "se"), ("stat", "zval"),
                         ("p", "pval"), ("ci_low", "ci_lb"), ("ci_high", "ci_ub"), ("q", "QE")]:
        close(getattr(out, ours), case[theirs])
    close(out.tau2, case["tau2"], abs_=1e-9)
    close(out.i2, case["I2"], abs_=1e-8)
    close(out.yi, case["yi"])
    close(out.vi, case["vi"])


@pytest.mark.parametrize("case", OWN["regtest"], ids=ids(OWN["regtest"]))
def test_regtest_own(case):
    # reference: metafor 3.8-1, tests/reference/diagnostics.R, regtest(res, predictor, ni)
    fit = own_fit(case["data"], case["method"], case["test"], case["mods"])
    ni = OWN["data"][case["data"]].get("ni")
    res = regtest(fit, case["predictor"], ni=_arr(ni) if ni is not None else None)
    close(res.stat, case["zval"])
    close(res.p, case["pval"])
    assert res.df == case["dfs"]
    close(res.limit_estimate, case["limit_estimate"])
    close(res.limit_ci_low, case["limit_ci_lb"])
    close(res.limit_ci_high, case["limit_ci_ub"])
    close(res.fit.coef, case["beta"])
    close(res.fit.coef_se, case["se"])
    close(res.fit.tau2, case["tau2"], abs_=1e-9)


def test_regtest_sample_sizes_from_the_data():
    # reference: metafor 3.8-1, tests/reference/diagnostics.R, regtest(res, predictor = "ni")
    # on normand1999 SMD; here n = n1i + n2i comes from the effect sizes' arms
    df = pd.read_csv(HERE / "data" / "dat.normand1999.csv")
    es = effect_sizes(df, "SMD")
    res = regtest(meta_analysis(es), "ni")
    case = next(c for c in OWN["regtest"] if c["id"] == "normand1999/SMD/REML/ni")
    close(res.stat, case["zval"])
    close(res.p, case["pval"])
    assert res.limit_estimate is None


@pytest.mark.parametrize("case", OWN["fsn"], ids=ids(OWN["fsn"]))
def test_fsn_own(case):
    # reference: metafor 3.8-1, tests/reference/diagnostics.R, fsn(yi, vi, type, alpha, target,
    # weighted)
    d = OWN["data"][case["data"]]
    res = fail_safe_n(_arr(d["yi"]), _arr(d["vi"]), case["alpha"], type=case["type"],
                      target=case["target_arg"], weighted=case["weighted"])
    assert res.fsnum == case["fsnum"]
    close(res.p, case["pval"])
    close(res.mean_effect, case["meanes"])
    close(res.target, case["target"])


def test_fsn_accepts_a_model():
    # reference: metafor 3.8-1, tests/reference/diagnostics.R, fsn(yi, vi, alpha = 0.01) on bcg
    case = next(c for c in OWN["fsn"] if c["id"] == "bcg/RR/Rosenthal/a0.01")
    res = fail_safe_n(own_fit("bcg/RR"), alpha=0.01)
    assert res.fsnum == case["fsnum"]
    close(res.p, case["pval"])


def test_kendall_cdf_matches_r_pkendall():
    # reference: R 4.2 stats:::C_pKendall(q, n) (the exact null distribution cor.test uses)
    expected = {
        (5, 3): 0.24166666666666667,
        (10, 10): 1.43047288359788e-02,
        (30, 100): 5.58994288419880e-06,
        (60, 20): 2.93389098278070e-64,
        (60, 400): 2.38401377399293e-11,
    }
    for (n, q), p in expected.items():
        assert kendall_cdf(q, n) == pytest.approx(p, rel=1e-12)


# ---- behaviour, output and errors ---------------------------------------------------------
@pytest.fixture(scope="module")
def bcg_reml():
    return own_fit("bcg/RR")


def test_results_are_json_able_and_printable(bcg_reml):
    fit = bcg_reml
    results = [leave_one_out(fit), influence(fit), cumulative(fit, "year"), baujat(fit),
               regtest(fit), ranktest(fit), trimfill(fit), fail_safe_n(fit), tau2_confint(fit)]
    for r in results:
        text = json.dumps(r.to_dict(), allow_nan=False)
        assert text
        s = r.summary()
        assert isinstance(s, str) and len(s.splitlines()) >= 2
        assert str(r) == s
    assert "Kendall's tau" in ranktest(fit).summary()
    assert "Estimated number of missing studies" in trimfill(fit).summary()
    assert "Fail-safe N:" in fail_safe_n(fit).summary()
    assert "tau^2" in tau2_confint(fit).summary()
    frame = influence(fit).to_frame()
    assert list(frame.columns[-2:]) == ["dfbetas_intrcpt", "is_infl"]
    assert leave_one_out(fit).to_frame().shape == (fit.k, 11)


def test_confint_edge_cases_are_reported(bcg_reml):
    # reference: metafor 3.8-1, tests/reference/diagnostics.R, confint() on synthetic/wide and
    # synthetic/homog: the upper bound at tau2.max is reported with ">", a null CI with "<"
    wide = tau2_confint(own_fit("synthetic/wide"))
    assert wide.ub_sign == ">" and wide.ub_at_limit and not wide.lb_at_limit
    assert wide.tau2[2] == wide.tau2_max == pytest.approx(10 * wide.tau2[0])
    assert ">" in wide.summary() and wide.to_dict()["ub_sign"] == ">"
    homog = tau2_confint(own_fit("synthetic/homog"))
    assert homog.ci_null and homog.tau2[1:] == (0.0, 0.0)
    assert "null/empty set" in homog.summary()
    with pytest.raises(ValueError, match="random-effects"):
        tau2_confint(own_fit("bcg/RR", "FE"))
    ci90 = tau2_confint(bcg_reml, level=90)
    ci95 = tau2_confint(bcg_reml)
    assert ci95.tau2[1] < ci90.tau2[1] < ci90.tau2[2] < ci95.tau2[2]


def test_errors(bcg_reml):
    mods = own_fit("bcg/RR", mods=["ablat"])
    for fn in (leave_one_out, trimfill):
        with pytest.raises(ValueError, match="without moderators"):
            fn(mods)
    with pytest.raises(ValueError, match="without moderators"):
        cumulative(mods)
    with pytest.raises(ValueError, match="no column"):
        cumulative(bcg_reml, "nope")
    with pytest.raises(ValueError, match="length"):
        cumulative(bcg_reml, [1, 2])
    with pytest.raises(InputError, match="predictor"):
        regtest(bcg_reml, "bogus")
    with pytest.raises(InputError, match="sample size"):
        regtest(bcg_reml, "ni")
    with pytest.raises(InputError, match="too few"):
        regtest(_fit([0.1, 0.5], [0.1, 0.2]))
    with pytest.raises(InputError, match="L0 or R0"):
        trimfill(bcg_reml, "Q9")
    with pytest.raises(InputError, match="side"):
        trimfill(bcg_reml, side="up")
    with pytest.raises(InputError, match="type"):
        fail_safe_n(bcg_reml, type="REM")
    with pytest.raises(ValueError, match="yi and vi"):
        ranktest(np.ones(3))
    es, _ = _bcg_2x2()
    mh = meta_analysis(es, method="MH")
    for fn in (influence, regtest, trimfill):
        with pytest.raises(ValueError, match=r"rma\.uni"):
            fn(mh)


def test_regtest_keeps_moderators(bcg_reml):
    # reference: metafor 3.8-1, tests/reference/diagnostics.R, regtest(rma(yi, vi, mods = ~ablat))
    res = regtest(own_fit("bcg/RR", mods=["ablat"]))
    assert res.fit.coef_names == ("intrcpt", "ablat", "sei")
    assert res.limit_estimate is None


def test_trimfill_filled_studies_mirror_the_estimate():
    # small studies with larger effects: studies are missing on the left
    y = np.array([0.1, 0.15, 0.2, 0.3, 0.5, 0.8, 1.2, 1.5])
    v = np.array([0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.5])
    res = trimfill(_fit(y, v, "FE"), "R0")
    assert res.side == "left" and res.k0 > 0
    b = res.original.estimate
    assert res.filled_yi.max() < b
    assert res.fit.study[-res.k0:] == res.filled_study == tuple(
        f"Filled {i + 1}" for i in range(res.k0))
    np.testing.assert_allclose(res.fit.yi[-res.k0:], res.filled_yi)
    assert res.p_k0 == pytest.approx(0.5 ** (res.k0 + 1))


# ---- properties ----------------------------------------------------------------------------
studies = st.integers(min_value=4, max_value=10).flatmap(
    lambda k: st.tuples(
        st.lists(st.floats(-2, 2, allow_nan=False), min_size=k, max_size=k),
        st.lists(st.floats(0.01, 1.0, allow_nan=False), min_size=k, max_size=k),
    )
)
PROP = settings(max_examples=25, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


def _fit(y, v, method="REML", test="z"):
    return meta_analysis(from_arrays(np.array(y), np.array(v)), method=method, test=test)


@PROP
@given(studies, st.sampled_from(["FE", "DL", "REML"]))
def test_leave_one_out_equals_fitting_the_subset(data, method):
    y, v = data
    fit = _fit(y, v, method)
    l1 = leave_one_out(fit)
    for i in (0, len(y) - 1):
        sub = _fit(np.delete(y, i), np.delete(v, i), method)
        assert l1.estimate[i] == pytest.approx(sub.estimate, rel=1e-9, abs=1e-12)
        assert l1.se[i] == pytest.approx(sub.se, rel=1e-9)
        assert l1.q[i] == pytest.approx(sub.q, rel=1e-9, abs=1e-12)
        assert l1.tau2[i] == pytest.approx(sub.tau2, rel=1e-7, abs=1e-10)


@PROP
@given(studies)
def test_cumulative_ends_at_the_full_model(data):
    y, v = data
    fit = _fit(y, v, "DL", "knha")
    cu = cumulative(fit)
    assert cu.estimate[-1] == pytest.approx(fit.estimate, rel=1e-12, abs=1e-14)
    assert cu.ci_low[-1] == pytest.approx(fit.ci_low, rel=1e-12, abs=1e-14)
    assert cu.estimate[0] == pytest.approx(y[0]) and cu.tau2[0] == 0
    assert cu.estimate[2] == pytest.approx(_fit(y[:3], v[:3], "DL", "knha").estimate)


@PROP
@given(studies)
def test_influence_and_baujat_identities(data):
    y, v = data
    fe = _fit(y, v, "FE")
    # the squared Pearson residuals of an FE model add up to Cochran's Q
    assert np.sum(baujat(fe).x) == pytest.approx(fe.q, rel=1e-9, abs=1e-12)
    inf = influence(_fit(y, v, "REML"))
    assert np.sum(inf.hat) == pytest.approx(1.0)  # trace of the hat matrix = p
    assert np.sum(inf.weight) == pytest.approx(100.0)
    assert np.all(inf.cov_r > 0)


@PROP
@given(studies, st.randoms(use_true_random=False))
def test_study_order_does_not_matter(data, rnd):
    y, v = np.array(data[0]), np.array(data[1])
    perm = np.array(rnd.sample(range(len(y)), len(y)))
    a, b = ranktest(y, v), ranktest(y[perm], v[perm])
    assert a.tau == pytest.approx(b.tau, abs=1e-12, nan_ok=True)
    assert a.p == pytest.approx(b.p, rel=1e-9, nan_ok=True)
    for kind in ("Rosenthal", "Orwin", "Rosenberg"):
        assert fail_safe_n(y, v, type=kind).fsnum == fail_safe_n(y[perm], v[perm],
                                                                 type=kind).fsnum
    ci_a, ci_b = tau2_confint(_fit(y, v)), tau2_confint(_fit(y[perm], v[perm]))
    assert ci_a.tau2[1:] == pytest.approx(ci_b.tau2[1:], rel=1e-8, abs=1e-12)


@PROP
@given(studies)
def test_ranktest_mirrors_under_sign_flip(data):
    y, v = np.array(data[0]), np.array(data[1])
    a, b = ranktest(y, v), ranktest(-y, v)
    if np.ptp(v) == 0 or np.ptp(y) == 0:  # a constant variable: R's cor() gives NA
        assert math.isnan(a.tau) and math.isnan(a.p)
        return
    assert a.tau == pytest.approx(-b.tau, abs=1e-12)
    assert a.p == pytest.approx(b.p, rel=1e-9)
    assert 0 <= a.p <= 1


@PROP
@given(studies, st.sampled_from(["L0", "R0"]), st.sampled_from(["FE", "REML"]))
def test_trimfill_k0_zero_returns_the_original(data, estimator, method):
    y, v = data
    fit = _fit(y, v, method)
    res = trimfill(fit, estimator)
    if res.k0 == 0:
        assert res.fit is fit and res.estimate == fit.estimate
    else:
        assert res.fit.k == fit.k + res.k0
        np.testing.assert_allclose(res.fit.yi[: fit.k], fit.yi)


def test_trimfill_symmetric_funnel_fills_nothing():
    # a perfectly symmetric funnel (pairs mirrored about 0.3, increasing spread) has k0 = 0
    d = np.array([0.1, 0.25, 0.4, 0.6])
    y = np.concatenate([0.3 + d, 0.3 - d])
    v = np.tile([0.02, 0.05, 0.1, 0.2], 2)
    fit = _fit(y, v, "FE")
    for est in ("L0", "R0"):
        res = trimfill(fit, est)
        assert res.k0 == 0 and res.fit is fit
        assert res.estimate == pytest.approx(0.3)


@PROP
@given(studies)
def test_fail_safe_n_is_the_smallest_sufficient_n(data):
    y, v = np.array(data[0]), np.array(data[1])
    res = fail_safe_n(y, v)
    z = np.sum(y / np.sqrt(v))
    k, crit = len(y), stats.norm.isf(0.05)
    n = res.fsnum
    assert abs(z) / np.sqrt(k + n) <= crit + 1e-9
    if n > 0:
        assert abs(z) / np.sqrt(k + n - 1) > crit - 1e-9


@PROP
@given(studies)
def test_qprofile_bounds_solve_the_q_equation(data):
    y, v = np.array(data[0]), np.array(data[1])
    fit = _fit(y, v)
    ci = tau2_confint(fit)
    if ci.lb_sign == "" and ci.tau2[1] > 0:
        q = generalized_q(fit.yi, fit.vi, fit.X, ci.tau2[1])
        assert q == pytest.approx(ci.q_upper_crit, rel=1e-9)
    if ci.ub_sign == "" and ci.tau2[2] > 0:
        q = generalized_q(fit.yi, fit.vi, fit.X, ci.tau2[2])
        assert q == pytest.approx(ci.q_lower_crit, rel=1e-9)
    assert ci.tau2[1] <= ci.tau2[2]


def test_kendall_cdf_against_enumeration():
    for n in range(1, 7):
        counts = np.zeros(n * (n - 1) // 2 + 1)
        for perm in permutations(range(n)):
            inv = sum(perm[i] > perm[j] for i in range(n) for j in range(i + 1, n))
            counts[inv] += 1
        cdf = np.cumsum(counts) / counts.sum()
        for q in range(-1, len(counts) + 1):
            expected = 0.0 if q < 0 else (1.0 if q >= len(counts) else cdf[q])
            assert kendall_cdf(q, n) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_fixed_tau2_is_kept_by_leave_one_out(bcg_reml):
    fixed = refit(bcg_reml, np.arange(bcg_reml.k), tau2=0.1)
    l1 = leave_one_out(fixed)
    assert np.allclose(l1.tau2, 0.1)
    inf = influence(fixed)
    assert np.allclose(inf.tau2_del, 0.1)
