"""predict, anova (Wald and LRT), fitstats, weights, residuals and rstandard against metafor.

Reference: metafor 3.8-1, tests/reference/inference.R (numbers in inference.json), on dat.bcg
(log risk ratios, ``mods = ~ ablat + year`` and ``~ factor(alloc) + ablat``) with REML, ML, DL
and FE, tests z and knha. Tolerance: 1e-6 relative (absolute 1e-10 near 0) throughout.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metareview import effect_sizes, from_arrays, meta_analysis
from metareview.errors import InputError
from metareview.models.inference import (
    LikelihoodRatioTest,
    WaldTest,
    anova,
    fitstats,
    predict,
    pseudo_r2,
    residuals,
    rstandard,
    weights,
)

HERE = Path(__file__).parent
REF = json.loads((HERE / "reference" / "inference.json").read_text())
REL = 1e-6  # relative tolerance against metafor 3.8-1
CASES = [k for k in REF["cases"] if not k.startswith("factor")]


def close(actual: Any, expected: Any) -> None:
    exp = np.array([np.nan if e is None else e for e in np.atleast_1d(expected)], dtype=float)
    np.testing.assert_allclose(np.atleast_1d(np.asarray(actual, dtype=float)), exp, rtol=REL,
                               atol=1e-10)


@cache
def bcg():
    df = pd.read_csv(HERE / "data" / "dat.bcg.csv")
    df["study"] = df["author"] + " " + df["year"].astype(str)
    return effect_sizes(df, "RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", study="study")


def fit(method: str, test: str = "z", mods=("ablat", "year"), **kw):
    return meta_analysis(bcg(), method=method, test=test, mods=list(mods), **kw)


def check_pred(p, ref: dict[str, Any], transf: bool = False) -> None:
    close(p.pred, ref["pred"])
    if not transf:
        close(p.se, ref["se"])
    close(p.ci_low, ref["ci.lb"])
    close(p.ci_high, ref["ci.ub"])
    if "pi.lb" in ref:
        close(p.pi_low, ref["pi.lb"])
        close(p.pi_high, ref["pi.ub"])
    else:  # FE: metafor gives no prediction interval
        assert np.isnan(p.pi_low).all() and np.isnan(p.pi_high).all()


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("key", CASES)
def test_against_metafor(key):
    method, test = key.split("/")
    ref = REF["cases"][key]
    res = fit(method, test)
    res0 = fit(method, test, mods=())
    close(res.coef, ref["b"])
    close(res.tau2, ref["tau2"])
    newmods = np.array(REF["newmods"])
    check_pred(predict(res, newmods), ref["predict_newmods"])
    check_pred(predict(res, newmods, transf="exp"), ref["predict_newmods_exp"], transf=True)
    check_pred(predict(res), ref["predict_fitted"])
    check_pred(predict(res0), ref["predict0"])
    check_pred(predict(res0, transf="auto"), ref["predict0_exp"], transf=True)
    for name, btt in (("anova_btt2", 2), ("anova_btt23", [2, 3])):
        a = anova(res, btt=btt)
        close(a.qm, ref[name]["QM"])
        close(a.qm_p, ref[name]["QMp"])
        assert a.qm_df == (ref[name]["m"], None if test == "z" else res.k - 3)
    aX = anova(res, X=REF["X"])
    close(aX.qm, ref["anova_X"]["QM"])
    close(aX.qm_p, ref["anova_X"]["QMp"])
    close(aX.estimate, ref["anova_X"]["Xb"])
    close(aX.se, ref["anova_X"]["se"])
    close(aX.stat, ref["anova_X"]["zval"])
    close(aX.p, ref["anova_X"]["pval"])
    for r, rf in ((res, ref["fitstats"]), (res0, ref["fitstats0"])):
        fs = fitstats(r)
        close([fs.loglik, fs.deviance, fs.aic, fs.bic, fs.aicc],
              [rf["logLik"], rf["deviance"], rf["AIC"], rf["BIC"], rf["AICc"]])
        assert fs.parms == rf["parms"]
        ml, reml = fitstats(r, reml=False), fitstats(r, reml=True)
        close([ml.loglik, ml.deviance, ml.aic, ml.bic, ml.aicc], rf["ML"])
        close([reml.loglik, reml.deviance, reml.aic, reml.bic, reml.aicc], rf["REML"])
    close(weights(res), ref["weights"])
    close(residuals(res), ref["residuals"])
    rs = rstandard(res)
    close(rs.resid, ref["rstandard"]["resid"])
    close(rs.se, ref["rstandard"]["se"])
    close(rs.z, ref["rstandard"]["z"])


def test_factor_moderator_btt_by_number_and_name():
    ref = REF["cases"]["factor/REML/z"]
    res = fit("REML", mods=("alloc", "ablat"), categorical=("alloc",))
    assert res.coef_names == ("intrcpt", "alloc[random]", "alloc[systematic]", "ablat")
    close(res.coef, ref["b"])
    for btt in ([2, 3], "alloc"):
        a = anova(res, btt=btt)
        assert a.btt == (2, 3)
        close(a.qm, ref["anova_btt23"]["QM"])
        close(a.qm_p, ref["anova_btt23"]["QMp"])
    aX = anova(res, X=[[0, 1, -1, 0]])
    close(aX.estimate, ref["anova_X"]["Xb"])
    close(aX.p, ref["anova_X"]["pval"])
    close(aX.qm, ref["anova_X"]["QM"])
    assert aX.hypotheses == ("alloc[random] - alloc[systematic] = 0",)
    check_pred(predict(res, [[0, 0, 30], [1, 0, 30], [0, 1, 30]]), ref["predict_newmods"])


@pytest.mark.parametrize("key", list(REF["lrt"]))
def test_lrt_against_metafor(key):
    ref = REF["lrt"][key]
    method = key.split("/")[0]
    models = {
        "full_vs_ablat": (fit(method), fit(method, mods=("ablat",))),
        "full_vs_null": (fit(method), fit(method, mods=())),
        "ablat_vs_null_swapped": (fit(method, mods=()), fit(method, mods=("ablat",))),
        "re_vs_fe": (fit(method), fit("FE")),
    }
    a = anova(*models[key.split("/")[1]])
    assert isinstance(a, LikelihoodRatioTest)
    close(a.lrt, ref["LRT"])
    close(a.p, ref["pval"])
    assert (a.full.parms, a.reduced.parms) == (ref["p_f"], ref["p_r"])
    f, r = a.full, a.reduced
    close([f.loglik, f.deviance, f.aic, f.bic, f.aicc], ref["fit_f"])
    close([r.loglik, r.deviance, r.aic, r.bic, r.aicc], ref["fit_r"])
    close([a.qe_full, a.qe_reduced, a.tau2_full, a.tau2_reduced],
          [ref["QE_f"], ref["QE_r"], ref["tau2_f"], ref["tau2_r"]])
    close(a.r2, ref["R2_unrounded"])
    assert a.df == ref["p_f"] - ref["p_r"]


def test_reml_with_different_moderators_is_refused():
    # metafor 3.8 warns "REML comparisons not meaningful ..." (inference.Rout) and still
    # prints an LRT; here the comparison is refused and the message says to refit with ML.
    with pytest.raises(InputError, match=r"REML.*different fixed effects.*method='ML'"):
        anova(fit("REML"), fit("REML", mods=()))


def test_lrt_refusals():
    with pytest.raises(InputError, match="same number of parameters"):
        anova(fit("ML"), fit("ML", mods=("year", "ablat")))
    with pytest.raises(InputError, match="fixed-effect and the reduced model has tau"):
        anova(fit("FE", mods=("ablat", "year")), fit("ML", mods=()))
    other = fit("ML", mods=("ablat",)).effects
    assert other is not None
    with pytest.raises(InputError, match="same effect sizes"):
        anova(fit("ML"), meta_analysis(other.subset(np.arange(12)), method="ML"))


def test_bad_input_is_one_clear_line():
    res = fit("REML")
    with pytest.raises(InputError, match=r"btt 4 is not a coefficient number 1 to 3"):
        anova(res, btt=4)
    with pytest.raises(InputError, match=r"btt 'dose' names no coefficient"):
        anova(res, btt="dose")
    with pytest.raises(InputError, match=r"X needs 3 columns"):
        anova(res, X=[[1, 2, 3, 4]])
    with pytest.raises(InputError, match=r"newmods: give 2 values per prediction \(ablat, year\)"):
        predict(res, [10, 20, 30])
    with pytest.raises(InputError, match="no moderators"):
        predict(fit("REML", mods=()), [1.0])
    with pytest.raises(InputError, match="unknown transf"):
        predict(res, [[10, 1950]], transf="log")
    with pytest.raises(InputError, match="inverse-variance"):
        predict(meta_analysis(bcg(), method="MH"))


def test_contrast_without_intercept_column_and_rank_deficient_x():
    res = fit("REML")
    # p - 1 columns: metafor adds the intercept's 1 (so this is the prediction at 30, 1970)
    a = anova(res, X=[30, 1970])
    p = predict(res, [[30, 1970]])
    close(a.estimate, p.pred)
    close(a.se, p.se)
    b = anova(res, X=[[0, 1, 0], [0, 2, 0]])
    assert np.isnan(b.qm) and "no omnibus test" in b.summary()


def test_summaries_read_like_metafor():
    res = fit("REML", "knha")
    text = anova(res, btt=2).summary()
    assert text.splitlines() == ["Test of Moderators (coefficient 2: ablat):",
                                 "F(df1 = 1, df2 = 10) = 6.0955, p-val = 0.0332"]
    text = anova(fit("ML"), fit("ML", mods=())).summary()
    assert text.splitlines()[0].split() == ["df", "AIC", "BIC", "AICc", "logLik", "LRT", "pval",
                                            "QE", "tau^2", "R^2"]
    assert "10.0379" in text and "0.0066" in text
    pred = predict(res, [[10, 1950], [20, 1960]], transf="exp")
    assert pred.summary().splitlines()[0].split() == [
        "pred", "ci.lb", "ci.ub", "pi.lb", "pi.ub", "X.ablat", "X.year"]
    d = pred.to_dict()
    assert d["transf"] == "exp" and d["predictions"][1]["ablat"] == 20
    assert d["predictions"][0]["se"] is None
    json.dumps(anova(res, X=REF["X"]).to_dict(), allow_nan=False)
    assert isinstance(anova(res), WaldTest) and anova(res).btt == (2, 3)


def test_pseudo_r2_matches_lrt_and_is_nan_for_fixed_effect():
    full, reduced = fit("ML"), fit("ML", mods=())
    assert pseudo_r2(full, reduced) == pytest.approx(
        100 * (reduced.tau2 - full.tau2) / reduced.tau2, rel=1e-12)
    assert np.isnan(pseudo_r2(fit("FE"), fit("FE", mods=())))


# ---- invariants -------------------------------------------------------------------------------
finite = st.floats(-3, 3, allow_nan=False)


@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(finite, st.floats(0.01, 1), st.floats(-5, 5)), min_size=5,
                max_size=15, unique_by=lambda t: t[2]),
       st.sampled_from(["REML", "ML", "DL", "FE"]), st.sampled_from(["z", "knha"]))
def test_wald_with_one_coefficient_is_its_squared_statistic(rows, method, test):
    """anova(btt=j) of one coefficient is its z^2 (chi-square) or t^2 (F); predicting at a
    study's moderator value gives its fitted value, and residuals sum to 0 with weights."""
    yi, vi, x = (np.array(c) for c in zip(*rows, strict=True))
    es = from_arrays(yi, vi, data=pd.DataFrame({"x": x}))
    res = meta_analysis(es, method=method, test=test, mods=["x"])
    if test == "knha" and res.s2w == 0:
        return
    a = anova(res, btt=2)
    assert a.qm == pytest.approx(res.coef_stat[1] ** 2, rel=1e-9)
    assert a.qm_p == pytest.approx(res.coef_p[1], rel=1e-7, abs=1e-300)
    p = predict(res, x)
    np.testing.assert_allclose(p.pred, yi - residuals(res), rtol=1e-9, atol=1e-12)
    w = 1 / (vi + (res.tau2 if res.is_random_effects else 0.0))
    assert float(np.sum(w * residuals(res))) == pytest.approx(0, abs=1e-8 * np.sum(w))
    if res.is_random_effects:
        assert np.all(p.pi_high >= p.ci_high - 1e-12)
    else:
        assert np.isnan(p.pi_high).all()
    assert weights(res).sum() == pytest.approx(100)


# ---- the command line ---------------------------------------------------------------------------
def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "metareview.cli", *args], capture_output=True,
                          text=True, timeout=120)


BCG_CSV = str(Path(__file__).parents[1] / "src" / "metareview" / "data" / "bcg.csv")


def test_cli_newmods_prints_and_json_has_metafors_predictions():
    ref = REF["cases"]["REML/knha"]
    nm = REF["newmods"]
    at = ";".join(f"{a:g},{y:g}" for a, y in nm)
    out = run_cli("analyze", BCG_CSV, "--measure", "RR", "--mods", "ablat,year", "--test",
                  "knha", "--newmods", at, "--json")
    assert out.returncode == 0, out.stderr
    analysis, back = json.loads(out.stdout)["predictions"]
    assert back["transf"] == "RR" and analysis["transf"] is None
    close([r["pred"] for r in analysis["predictions"]], ref["predict_newmods"]["pred"])
    close([r["pi_high"] for r in analysis["predictions"]], ref["predict_newmods"]["pi.ub"])
    close([r["ci_low"] for r in back["predictions"]], ref["predict_newmods_exp"]["ci.lb"])
    assert [r["ablat"] for r in analysis["predictions"]] == [a for a, _ in nm]
    text = run_cli("analyze", BCG_CSV, "--measure", "RR", "--mods", "ablat", "--newmods",
                   "10,20,30")
    assert text.returncode == 0, text.stderr
    # metafor's documented predict(res, newmods = 10, transf = exp) for dat.bcg: 0.9612
    assert "Predicted effects, back-transformed (RR):" in text.stdout
    assert "1 0.9612 0.6668 1.3857 0.5001 1.8477      10" in text.stdout


@pytest.mark.parametrize(("args", "message"), [
    (("--mods", "ablat", "--newmods", "10,x"), "--newmods: 'x' is not a number"),
    (("--newmods", "10"),
     "--newmods needs --mods (without moderators, give --newmods '' for the pooled effect)"),
    (("--mods", "ablat,year", "--newmods", "10,20,30"),
     "newmods: give 2 values per prediction (ablat, year); got 3"),
])
def test_cli_bad_newmods_is_one_line_and_exit_2(args, message):
    out = run_cli("analyze", BCG_CSV, "--measure", "RR", *args)
    assert out.returncode == 2
    assert out.stderr.strip() == f"metareview: error: {message}"


@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=25, deadline=None)
@given(st.permutations(range(13)), st.sampled_from(["REML", "ML", "DL"]),
       st.sampled_from(["z", "knha"]))
def test_study_order_does_not_matter(order, method, test):
    """Predictions, Wald tests, fit statistics and the LRT are the same for any study order;
    rstandard follows the studies."""
    es = bcg()
    perm = es.subset(np.array(order))
    a = meta_analysis(es, method=method, test=test, mods=["ablat", "year"])
    b = meta_analysis(perm, method=method, test=test, mods=["ablat", "year"])
    at = np.array(REF["newmods"])
    np.testing.assert_allclose(predict(b, at).pi_high, predict(a, at).pi_high, rtol=1e-7)
    assert anova(b, btt=2).qm == pytest.approx(anova(a, btt=2).qm, rel=1e-7)
    assert fitstats(b).aicc == pytest.approx(fitstats(a).aicc, rel=1e-9)
    np.testing.assert_allclose(rstandard(b).z, rstandard(a).z[list(order)], rtol=1e-6,
                               atol=1e-12)
    if method == "ML":
        r_a = meta_analysis(es, method="ML", test=test)
        r_b = meta_analysis(perm, method="ML", test=test)
        assert anova(b, r_b).lrt == pytest.approx(anova(a, r_a).lrt, rel=1e-7)


def test_intercept_false_and_level_match_the_contrast_and_the_quantile():
    res = fit("REML")
    p = predict(res, [[10, 1950]], intercept=False, level=90)
    c = anova(res, X=[[0, 10, 1950]])
    close(p.pred, c.estimate)
    close(p.se, c.se)
    assert p.pred[0] == pytest.approx(res.coef[1] * 10 + res.coef[2] * 1950, rel=1e-12)
    assert p.ci_high[0] - p.pred[0] == pytest.approx(1.6448536269514722 * p.se[0], rel=1e-12)
    with pytest.raises(InputError, match="level must be between 0 and 100"):
        predict(res, [[10, 1950]], level=100)
