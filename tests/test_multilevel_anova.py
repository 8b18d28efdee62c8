"""anova and robust of multilevel fits: which coefficients a test takes by default (the fit's
own ``btt``) and which t df it uses with containment df, as metafor 3.8-1 and clubSandwich
0.5.8 (``tests/reference/anova_mv.R`` printed ``anova_mv.json``).

The fits hold the variance components at metafor's values, so every number is compared at
1e-8 relative.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import metareview as mr

REF = json.loads((Path(__file__).parent / "reference" / "anova_mv.json").read_text())


def _fit(X: str = "X", sigma2: str = "sigma2", **kw):
    es = mr.effect_sizes(pd.DataFrame(REF["data"]), "GEN", yi="yi", vi="vi")
    names = REF["coef_names"] if X == "X" else ["covert", "general", "overt"]
    return mr.meta_analysis_mv(es, "~ 1 | study/esid", mods=np.array(REF[X], dtype=float),
                               intercept=False, coef_names=names, sigma2=REF[sigma2], **kw)


def _same(test, ref: dict) -> None:
    assert test.qm == pytest.approx(ref["QM"], rel=1e-8)
    assert test.qm_p == pytest.approx(ref["QMp"], rel=1e-8)
    ddf = None if ref["QMdf"][1] == "NA" else ref["QMdf"][1]
    assert test.qm_df[0] == ref["QMdf"][0]
    assert test.qm_df[1] == ddf


@pytest.fixture(scope="module")
def contain():
    return _fit(test="t", dfs="contain")


def test_containment_df_differ_between_coefficients(contain):
    assert contain.coef_df.tolist() == REF["ddf"]
    assert contain.btt == tuple(REF["fit"]["btt"])
    _same(contain, REF["fit"])


@pytest.mark.parametrize(("btt", "key"), [(None, "anova_default"), (4, "anova_btt4"),
                                          (1, "anova_btt1")])
def test_anova_of_chosen_coefficients_uses_the_fits_df(contain, btt, key):
    # metafor's anova takes the df of the fit's own test of moderators (QMdf[2]) whichever
    # coefficients it tests: 96 for the intercept too, whose own df is 13
    _same(mr.anova(contain, btt=btt), REF[key])


def test_anova_of_contrasts_uses_each_rows_smallest_df(contain):
    ref = REF["anova_X"]
    w = mr.anova(contain, X=ref["L"])
    _same(w, ref)
    np.testing.assert_allclose(w.estimate, ref["Xb"], rtol=1e-8)
    np.testing.assert_allclose(w.se, ref["se"], rtol=1e-8)
    np.testing.assert_allclose(w.stat, ref["zval"], rtol=1e-8)
    np.testing.assert_allclose(w.p, ref["pval"], rtol=1e-8)  # rows on 96, 96 and 13 df


def test_a_chosen_btt_is_kept_by_the_fit_anova_and_robust():
    fit = _fit(sigma2="sigma2_btt4", test="t", dfs="contain", btt=4)
    assert fit.btt == (REF["fit_btt4"]["btt"],)
    _same(fit, REF["fit_btt4"])
    assert "Test of Moderators (coefficient 4)" in fit.summary()
    _same(mr.anova(fit), REF["anova_fit_btt4"])
    rob = mr.robust(fit, cluster=REF["data"]["study"], clubsandwich=True)
    assert rob.qm == pytest.approx(REF["robust_btt4"]["QM"], rel=1e-6)
    assert rob.qm_df[1] == pytest.approx(REF["robust_btt4"]["QMdf"][1], rel=1e-6)
    assert rob.qm_p == pytest.approx(REF["robust_btt4"]["QMp"], rel=1e-6)


def test_without_an_intercept_every_coefficient_is_tested():
    fit = _fit(X="X0", sigma2="sigma2_noint")
    assert fit.btt == tuple(REF["fit_noint"]["btt"])
    _same(fit, REF["fit_noint"])
    _same(mr.anova(fit), REF["anova_noint"])
