"""Parity with metafor 3.8-1 for every measure x method x test on 13 metadat datasets.

reference: tests/reference/metafor_reference.R -> metafor_reference.json; each case there is
``rma(yi, vi, method=, test=, level=, control=list(threshold=1e-13, tol=1e-13))`` (or
``rma.mh``/``rma.peto``), with ``predict()`` for the prediction interval and ``confint()`` for
the Q-profile interval. Tolerance: 1e-6 relative (the bar), with a tiny absolute slack for
values that are zero in exact arithmetic.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from metareview import meta_analysis
from metareview.effects.escalc import DoubleZeroWarning
from metareview.errors import InputError
from metareview.models.subgroup import subgroup_analysis
from tests.reference_data import cases, dataset, effects, reference

REL = 1e-6


def close(ours, theirs, what: str, abs_: float = 1e-10) -> None:
    if theirs is None:
        assert ours is None or np.all(np.isnan(ours)), f"{what}: metafor NA, ours {ours}"
        return
    np.testing.assert_allclose(ours, theirs, rtol=REL, atol=abs_, err_msg=what)


RMA = [c for c in cases("rma") if "error" not in c]


@pytest.mark.parametrize("case", RMA, ids=[c["id"] + f"@{c['level']}" for c in RMA])
def test_rma(case):
    es = effects(case["dataset"], case["measure"])
    fit = meta_analysis(es, method=case["method"], test=case["test"], level=case["level"])
    assert fit.k == case["k"]
    close(fit.estimate, case["estimate"], "estimate")
    close(fit.se, case["se"], "se")
    close(fit.stat, case["zval"], "zval")
    close(fit.p, case["pval"], "pval", abs_=1e-300)
    close(fit.ci_low, case["ci_lb"], "ci_lb")
    close(fit.ci_high, case["ci_ub"], "ci_ub")
    close(fit.tau2, case["tau2"], "tau2", abs_=1e-9)
    if case["method"] != "FE":
        close(fit.se_tau2, case["se_tau2"], "se_tau2", abs_=1e-9)
        close(fit.pi_low, case["pi_lb"], "pi_lb")
        close(fit.pi_high, case["pi_ub"], "pi_ub")
    close(fit.i2, case["I2"], "I2", abs_=1e-7)
    close(fit.h2, case["H2"], "H2")
    close(fit.q, case["QE"], "QE")
    assert fit.q_df == case["QEdf"]
    close(fit.q_p, case["QEp"], "QEp", abs_=1e-300)
    close(fit.weights, case["weights"], "weights", abs_=1e-9)
    close(fit.ll_ml, case["logLik_ML"], "logLik ML")
    close(fit.ll_reml, case["logLik_REML"], "logLik REML")
    back = case.get("back")
    if back and fit.back_transformed is not None:
        bt = fit.back_transformed
        close(bt["estimate"], back["estimate"], "back estimate")
        close(bt["ci_low"], back["ci_lb"], "back ci_lb")
        close(bt["ci_high"], back["ci_ub"], "back ci_ub")
        if case["method"] != "FE" and back.get("pi_lb") is not None:
            close(bt["pi_low"], back["pi_lb"], "back pi_lb")
            close(bt["pi_high"], back["pi_ub"], "back pi_ub")


ERRORS = [c for c in cases("rma") if "error" in c]


@pytest.mark.parametrize("case", ERRORS, ids=[c["id"] for c in ERRORS])
def test_where_metafor_gives_up_we_find_the_root(case):
    """metafor's PM search stops at tau2.max = 100 ("Value of 'tau2.max' too low"); the
    generalised Q equation still has a root, and we find it."""
    from metareview.models.tau2 import generalized_q

    assert "tau2.max" in case["error"]
    es = effects(case["dataset"], case["measure"])
    fit = meta_analysis(es, method=case["method"], test=case["test"])
    assert fit.tau2 > 100
    q = generalized_q(es.yi, es.vi, np.ones((es.k, 1)), fit.tau2)
    assert q == pytest.approx(es.k - 1, rel=1e-9)


MODS = cases("rma_mods")


def _mods_case(case):
    es = effects(case["dataset"], case["measure"])
    mods = case["mods_vars"]
    categorical = re.findall(r"factor\((\w+)\)", case["mods"])
    return es, mods, categorical


@pytest.mark.parametrize("case", MODS, ids=[c["id"] for c in MODS])
def test_meta_regression(case):
    es, mods, categorical = _mods_case(case)
    fit = meta_analysis(es, method=case["method"], test=case["test"], level=case["level"],
                        mods=mods, categorical=categorical)
    assert fit.k == case["k"] and fit.p_coef == case["p"]
    close(fit.coef, case["beta"], "beta")
    close(fit.coef_se, case["se"], "se")
    close(fit.coef_stat, case["zval"], "zval")
    close(fit.coef_p, case["pval"], "pval", abs_=1e-300)
    close(fit.coef_ci_low, case["ci_lb"], "ci_lb")
    close(fit.coef_ci_high, case["ci_ub"], "ci_ub")
    close(fit.qm, case["QM"], "QM")
    close(fit.qm_p, case["QMp"], "QMp", abs_=1e-300)
    assert fit.qm_df[0] == case["QMdf"][0]
    assert fit.qm_df[1] == case["QMdf"][1]
    close(fit.q, case["QE"], "QE")
    close(fit.q_p, case["QEp"], "QEp", abs_=1e-300)
    close(fit.tau2, case["tau2"], "tau2", abs_=1e-9)
    close(fit.i2, case["I2"], "I2", abs_=1e-7)
    close(fit.h2, case["H2"], "H2")
    if case["method"] != "FE":
        close(fit.se_tau2, case["se_tau2"], "se_tau2", abs_=1e-9)
    close(fit.r2, case["R2"], "R2", abs_=1e-7)
    close(fit.weights, case["weights"], "weights", abs_=1e-9)


MH = cases("mh") + cases("peto")


@pytest.mark.parametrize("case", MH, ids=[c["id"] + "/" + c["measure"] for c in MH])
def test_mantel_haenszel_and_peto(case):
    measure = "OR" if case["method"] == "PETO" else case["measure"]
    # rma.mh/rma.peto take every table (drop00 leaves double-zero ones out of Q only).
    es = effects(case["dataset"], measure, drop00=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DoubleZeroWarning)
        fit = meta_analysis(es, method=case["method"], level=case["level"])
    close(fit.estimate, case["estimate"], "estimate")
    close(fit.se, case["se"], "se")
    close(fit.stat, case["zval"], "zval")
    close(fit.p, case["pval"], "pval", abs_=1e-300)
    close(fit.ci_low, case["ci_lb"], "ci_lb")
    close(fit.ci_high, case["ci_ub"], "ci_ub")
    close(fit.q, case["QE"], "QE")
    assert fit.q_df == case["QEdf"]
    close(fit.q_p, case["QEp"], "QEp", abs_=1e-300)
    close(fit.i2, case["I2"], "I2", abs_=1e-7)
    close(fit.h2, case["H2"], "H2")
    assert fit.k == case["k"]
    close(fit.weights, case["weights"], "weights", abs_=1e-9)
    for ours, theirs in (("mh_stat", "MH"), ("mh_stat_p", "MHp"), ("tarone", "TA"),
                         ("tarone_p", "TAp")):
        if theirs in case:
            close(fit.extra[ours], case[theirs], theirs)


SUB = cases("subgroup")


@pytest.mark.parametrize("case", SUB, ids=[c["id"] for c in SUB])
def test_subgroups_and_test_for_differences(case):
    es = effects(case["dataset"], case["measure"])
    res = subgroup_analysis(es, case["group_var"], method=case["method"], test=case["test"])
    assert sorted(res.groups) == sorted(case["groups"])
    for g in case["subgroups"]:
        fit = res.groups[g["group"]]
        assert fit.k == g["k"]
        for ours, theirs in (("estimate", "estimate"), ("se", "se"), ("ci_low", "ci_lb"),
                             ("ci_high", "ci_ub"), ("tau2", "tau2"), ("i2", "I2"), ("q", "QE")):
            close(getattr(fit, ours), g[theirs], f"{g['group']} {theirs}", abs_=1e-9)
    test = case["test_subgroup_differences"]
    close(res.q, test["QM"], "Q between")
    assert res.df == test["QMdf"]
    close(res.p, test["QMp"], "p between")


def test_k_too_small_is_an_input_error():
    es = effects("hine1989", "RR").subset(np.array([0]))
    with pytest.raises(InputError, match="too few"):
        meta_analysis(es, method="REML")
    # A single study under FE with a z test is fine, and is that study.
    fit = meta_analysis(es, method="FE")
    assert fit.estimate == pytest.approx(es.yi[0])


def test_reference_covers_the_issue_grid():
    """Every measure x method x test combination is in the reference, on >= 8 datasets."""
    grid = {(c["measure"], c["method"], c["test"]) for c in RMA}
    measures = {"MD", "SMD", "ROM", "RR", "OR", "RD", "PLO", "PR", "PFT", "PAS", "ZCOR", "COR",
                "GEN"}
    methods = {"FE", "DL", "REML", "ML", "PM", "HS", "SJ", "HE", "EB"}
    assert grid >= {(m, x, t) for m in measures for x in methods for t in ("z", "t", "knha")}
    assert len({c["dataset"] for c in RMA}) >= 8
    assert reference()["meta"]["metafor_version"].startswith("3.8")
    assert dataset("bcg").shape[0] == 13
