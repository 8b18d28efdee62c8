"""Multilevel and multivariate models (``meta_analysis_mv``) against metafor 3.8's ``rma.mv``.

Reference: tests/reference/multilevel.R (R 4.2.2, metafor 3.8-1; the numbers it printed are
tests/reference/multilevel.json, how they were made is in multilevel_notes.md).

Two kinds of check per case:

* **At metafor's variance components** (held fixed): every number computed from them --
  coefficients, SEs, tests, CIs, vcov, QE, QM, log-likelihood, I^2 per level, BLUPs,
  predictions, fitted values, standardized residuals -- matches at 1e-8 relative (1e-10
  absolute for values near 0).
* **Free fit**: our optimum is at least as high as metafor's (log-likelihood no more than
  1e-9 lower), and the free components agree within what metafor's own optimisers agree on:
  the recorded difference between nlminb and BFGS (``check.max_rel_diff``) times 10, at least
  1e-6 and at most 1e-4 relative (components below 1e-6 absolute are compared absolutely:
  metafor leaves them at ~1e-10 where the optimum is 0). Coefficients and their SEs agree at
  1e-6 relative, up to 1e-5 where metafor's optimisers disagree by more than 1e-6.
  ``bench/agreement_multilevel.py`` prints the actual differences.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import metareview as mr
from metareview.models.multilevel import meta_analysis_mv
from metareview.models.multilevel_tools import confint, ranef

ROOT = Path(__file__).resolve().parent
REF = json.loads((ROOT / "reference" / "multilevel.json").read_text())["cases"]
CASES = [n for n in REF if not n.startswith("robust/")]
COMPONENTS = ("sigma2", "tau2", "rho", "gamma2", "phi")


def _effects(c: dict) -> tuple[mr.EffectSizes, np.ndarray | None]:
    if c["dataset"] == "inline":
        d = pd.DataFrame(c["inline"])
    else:
        d = pd.read_csv(ROOT / "data" / c["dataset"])
    V = None if c["V"] is None else np.array(c["V"], dtype=float)
    if c.get("escalc"):  # hasselblad's arms: escalc(measure = "PLO", add = 1/2, to = "all")
        es = mr.effect_sizes(d, "PLO", xi="xi", ni="ni", add=0.5, to="all")
        assert np.allclose(es.yi, c["yi"], rtol=1e-12)
        return es, V
    d = d.copy()
    d["yi"] = c["yi"]
    if V is not None:
        d["vi"] = np.diag(V)
    return mr.effect_sizes(d, "GEN", yi="yi", vi="vi"), V


def _fit(name: str, at_reference: bool = False, **extra):
    c = REF[name]
    es, V = _effects(c)
    kw = {k: v for k, v in (c["fixed"] or {}).items() if v is not None}
    if at_reference:
        kw |= {k: c[k] for k in COMPONENTS if c.get(k) is not None and len(c[k])}
        if c["struct"][0] in ("ID", "DIAG"):
            kw.pop("rho", None)
        if len(c["struct"]) > 1 and c["struct"][1] in ("ID", "DIAG"):
            kw.pop("phi", None)
    btt = c["btt"] if c.get("btt") and c["btt"] != list(range(2, c["p"] + 1)) else None
    fit = meta_analysis_mv(
        es, c["random"], V=V, struct=c["struct"], method=c["method"], test=c["test"],
        dfs=c["dfs"], mods=np.array(c["X"], dtype=float), intercept=False,
        coef_names=c["coef_names"], btt=btt, **kw, **extra)
    return c, fit


def _close(ours, theirs, rel=1e-8, abs_=1e-10):
    ours = np.asarray(ours, dtype=float)
    theirs = np.asarray(theirs, dtype=float)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=rel, atol=abs_)


def _spread(c: dict) -> float:
    """metafor's own nlminb-vs-BFGS relative difference for the case (0 if not recorded)."""
    return c["check"]["max_rel_diff"] if isinstance(c.get("check"), dict) else 0.0


def _component_tol(c: dict) -> float:
    """Relative tolerance for the free components: ten times metafor's spread, 1e-6 to 1e-4.

    The cap: the spread exceeds 1e-4 only where it is a ratio of near-zero components (senn
    and hasselblad inconsistency, sim/01, 03, 07: there metafor's ``max_abs_diff`` is at most
    2.5e-8), which the absolute check covers; elsewhere it is at most 5.6e-5 (UN). Our largest
    difference on a component above 1e-6 is 1.7e-5 (sim/09, UN).
    """
    return min(max(1e-6, 10 * _spread(c)), 1e-4)


@pytest.mark.parametrize("name", CASES)
def test_free_fit_reaches_metafors_optimum(name):
    c, fit = _fit(name)
    assert fit.converged
    ll = c["fitstats"]["logLik"]
    assert fit.ll >= ll - 1e-9 * max(1.0, abs(ll))
    tol = _component_tol(c)
    fixed = c["fixed"] or {}
    for kind in COMPONENTS:
        theirs = np.array(c.get(kind) or [], dtype=float)
        ours = np.asarray(getattr(fit, kind), dtype=float)
        if not len(ours):  # ID/DIAG: metafor reports the fixed rho = 0
            assert np.all(theirs == 0)
            continue
        # values we were given (rho = 0.5, sigma2 = 0) would only compare the input with
        # metafor's copy of it: only the estimated ones are checked
        free = np.array([v is None for v in (fixed.get(kind) or [None] * len(theirs))])
        big = free & (np.abs(theirs) > 1e-6)
        small = free & ~big
        np.testing.assert_allclose(ours[big], theirs[big], rtol=tol)
        np.testing.assert_allclose(ours[small], theirs[small], atol=1e-6)
    # The coefficients are GLS at the components, so they carry the components' differences:
    # 1e-6, except where metafor's optimisers themselves disagree by more (UN with moderators,
    # HCS; largest: 6.6e-6 for a coefficient in berkey/UN/year/ML, 2.0e-6 for an SE in
    # berkey/HCS), capped at 1e-5 as the spread is inflated by near-zero components.
    coef_tol = min(max(1e-6, _spread(c)), 1e-5)
    np.testing.assert_allclose(fit.coef, c["beta"], rtol=coef_tol, atol=1e-9)
    np.testing.assert_allclose(fit.coef_se, c["se"], rtol=coef_tol)
    fs = c["fitstats"]
    ours = fit.fitstats()
    for key in ("AIC", "BIC", "AICc"):
        assert ours[key] == pytest.approx(fs[key], rel=1e-7, abs=1e-7)


@pytest.mark.parametrize("name", CASES)
def test_every_number_given_metafors_components(name):
    c, fit = _fit(name, at_reference=True)
    _close(fit.coef, c["beta"])
    _close(fit.coef_se, c["se"])
    _close(fit.coef_stat, c["zval"])
    _close(fit.coef_p, c["pval"], abs_=1e-14)
    _close(fit.coef_ci_low, c["ci_lb"])
    _close(fit.coef_ci_high, c["ci_ub"])
    _close(fit.vcov, c["vb"], abs_=1e-14)
    assert fit.qe == pytest.approx(c["QE"], rel=1e-10)
    assert fit.qe_df == c["QEdf"]
    assert fit.qe_p == pytest.approx(c["QEp"], rel=1e-7, abs=1e-300)
    assert fit.qm == pytest.approx(c["QM"], rel=1e-8)
    assert fit.qm_p == pytest.approx(c["QMp"], rel=1e-7, abs=1e-300)
    assert fit.qm_df[0] == c["QMdf"][0]
    if c["test"] == "t":
        assert fit.qm_df[1] == c["QMdf"][1]
        _close(fit.coef_df, c["ddf"])
    # the log-likelihood of the fitted kind at these components
    assert fit.ll == pytest.approx(c["fitstats"]["logLik"], rel=1e-9, abs=1e-9)
    other = "ML" if c["method"] == "REML" else "REML"
    assert (fit.ll_ml if other == "ML" else fit.ll_reml) == pytest.approx(
        c["fitstats"][other][0], rel=1e-9, abs=1e-9)
    if c.get("I2"):
        _close(fit.i2, c["I2"]["I2"], rel=1e-8, abs_=1e-8)
        assert fit.i2_total == pytest.approx(c["I2"]["I2_total"], rel=1e-8)
    if c.get("fitted"):
        _close(fit.fitted, c["fitted"])
        _close(fit.residuals, c["residuals"])
    if c.get("rstandard"):
        rs = mr.rstandard(fit)
        _close(rs.se, c["rstandard"]["se"])
        _close(rs.z, c["rstandard"]["z"])


def _key(name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in name.split("|"))


@pytest.mark.parametrize("name", [n for n in CASES if REF[n].get("ranef")])
def test_blups_given_metafors_components(name):
    c, fit = _fit(name, at_reference=True)
    ours = ranef(fit)
    assert len(ours) == len(c["ranef"])
    for (term, theirs), mine in zip(c["ranef"].items(), ours.values(), strict=True):
        got = {_key(n): (p, s, lo, hi) for n, p, s, lo, hi in zip(
            mine.names, mine.pred, mine.se, mine.pi_low, mine.pi_high, strict=True)}
        assert len(got) == len(theirs["names"]), term
        for i, n in enumerate(theirs["names"]):
            p, s, lo, hi = got[_key(n)]
            assert p == pytest.approx(theirs["intrcpt"][i], rel=1e-8, abs=1e-10), (term, n)
            assert s == pytest.approx(theirs["se"][i], rel=1e-8, abs=1e-10), (term, n)
            assert lo == pytest.approx(theirs["pi.lb"][i], rel=1e-8, abs=1e-10)
            assert hi == pytest.approx(theirs["pi.ub"][i], rel=1e-8, abs=1e-10)


@pytest.mark.parametrize("name", [n for n in CASES if REF[n].get("predict")])
def test_predictions_given_metafors_components(name):
    c, fit = _fit(name, at_reference=True)
    pr = c["predict"]
    levels = pr["args"].get("tau2.levels") if isinstance(pr["args"], dict) else None
    got = mr.predict(fit, np.array(pr["newmods"], dtype=float),
                     **({"tau2_levels": levels} if levels else {}))
    _close(got.pred, pr["pred"])
    _close(got.se, pr["se"])
    _close(got.ci_low, pr["ci_lb"])
    _close(got.ci_high, pr["ci_ub"])
    _close(got.pi_low, pr["pi_lb"])
    _close(got.pi_high, pr["pi_ub"])


@pytest.mark.parametrize("name", [n for n in CASES if REF[n].get("confint")])
def test_profile_likelihood_intervals(name):
    """metafor's bounds were found with uniroot at tol 1e-10 on refits at nlminb's default
    tolerances; ours refit to 1e-10, so the bounds agree to what the refits allow (1e-5)."""
    c, fit = _fit(name)
    ci = confint(fit).frame()
    for row, theirs in c["confint"].items():
        got = ci.loc[row]
        for key, col in (("ci_lb", "ci.lb"), ("ci_ub", "ci.ub")):
            assert got[col] == pytest.approx(theirs[key], rel=1e-5, abs=1e-7), (row, key)


def test_anova_wald_and_likelihood_ratio():
    c, fit = _fit("assink/ml3/deltype")
    w = mr.anova(fit, btt=c["anova_btt"]["btt"])
    assert w.qm == pytest.approx(c["anova_btt"]["QM"], rel=1e-6)
    assert w.qm_p == pytest.approx(c["anova_btt"]["QMp"], rel=1e-6)
    ref = REF["assink/ml3/deltype/ML"]["anova_full_reduced"]
    _, full = _fit("assink/ml3/deltype/ML")
    _, reduced = _fit("assink/ml3/ML")
    lrt = mr.anova(full, reduced)
    assert lrt.lrt == pytest.approx(ref["LRT"], rel=1e-6)
    assert lrt.p == pytest.approx(ref["pval"], rel=1e-6)
    assert lrt.df == ref["df_full"] - ref["df_reduced"]
    assert lrt.full.aic == pytest.approx(ref["fit_stats_full"][2], rel=1e-7)
    c, fit = _fit("berkey/UN")
    w = mr.anova(fit, X=np.array([c["anova_X"]["X"]], dtype=float))
    assert w.estimate[0] == pytest.approx(c["anova_X"]["Xb"][0], rel=1e-6)
    assert w.qm == pytest.approx(c["anova_X"]["QM"], rel=1e-5)


def test_vcalc_builds_metafors_matrix():
    """assink's V from vcalc(vi, cluster = study, obs = esid, rho = 0.6), as in the R script."""
    c = REF["assink/ml3/V"]
    d = pd.read_csv(ROOT / "data" / c["dataset"])
    V = mr.vcalc("vi", "study", data=d, obs="esid", rho=0.6)
    np.testing.assert_allclose(V.toarray(), np.array(c["V"]), rtol=1e-12, atol=1e-15)


def test_three_level_model_equals_compound_symmetry():
    """``~ 1 | district/school`` and ``~ school | district`` (CS) are the same model:
    tau^2 = sigma2_1 + sigma2_2 and rho = sigma2_1 / tau^2 (school is one row each)."""
    _, ml3 = _fit("k11/ml3/REML")
    _, cs = _fit("k11/CS")
    assert cs.ll == pytest.approx(ml3.ll, abs=1e-9)
    assert cs.tau2[0] == pytest.approx(ml3.sigma2.sum(), rel=1e-7)
    assert cs.rho[0] == pytest.approx(ml3.sigma2[0] / ml3.sigma2.sum(), rel=1e-7)
    np.testing.assert_allclose(cs.coef, ml3.coef, rtol=1e-8)


@pytest.mark.parametrize("name", [n for n in REF if n.startswith("robust/")])
def test_cluster_robust_inference(name):
    """metafor's robust() (CR1) and clubSandwich's CR2 with Satterthwaite df and the HTZ test,
    on the free fits (tolerance as the components': metafor's optimum is good to ~1e-7)."""
    r = REF[name]
    c, fit = _fit(r["model"])
    tol = _component_tol(c)
    es, _ = _effects(c)
    d = es.data
    for kind, cr2 in (("CR1", False), ("CR2", True)):
        got = mr.robust(fit, d[r["cluster"]].to_numpy(), clubsandwich=cr2)
        ref = r[kind]
        np.testing.assert_allclose(got.robust_se, ref["se"], rtol=tol)
        np.testing.assert_allclose(got.robust_stat, ref["tval"], rtol=tol)
        np.testing.assert_allclose(got.robust_df, np.broadcast_to(ref["df"], got.robust_df.shape),
                                   rtol=tol)
        np.testing.assert_allclose(got.robust_p, ref["pval"], rtol=tol)
        np.testing.assert_allclose(got.ci_low, ref["ci_lb"], rtol=tol)
        np.testing.assert_allclose(got.ci_high, ref["ci_ub"], rtol=tol)
        assert got.qm == pytest.approx(ref["QM"], rel=tol)
        assert got.qm_p == pytest.approx(ref["QMp"], rel=tol)
        assert got.qm_df[1] == pytest.approx(ref["QMdf"][1], rel=tol)


def test_functions_for_univariate_models_refuse_a_multilevel_fit():
    from metareview.batch import permutest
    from metareview.diagnostics import influence, leave_one_out, regtest, trimfill
    from metareview.models.inference import weights

    _, fit = _fit("k11/ml3/REML")
    for func in (weights, leave_one_out, influence, regtest, trimfill, permutest):
        with pytest.raises(mr.InputError, match="not available for multilevel models"):
            func(fit)


def test_effect_sizes_frame_with_study_yi_and_vi_columns():
    d = pd.read_csv(ROOT / "data" / "dat.konstantopoulos2011.csv").assign(study="s")
    es = mr.effect_sizes(d, "GEN", yi="yi", vi="vi")
    frame = es.to_frame()
    assert list(frame.columns[:3]) == ["study", "yi", "vi"]
    assert frame.columns.is_unique
    np.testing.assert_array_equal(frame["yi"], es.yi)


def test_many_models_with_levels_some_do_not_have():
    """A group without an inner level reports no variance for it (NaN), and its other numbers
    are its own fit's."""
    from metareview.models.multilevel import fit_mv_groups

    rows = [(g, s, lv) for g, levels in ((0, "ab"), (1, "abc")) for s in range(8) for lv in levels]
    d = pd.DataFrame(rows, columns=["g", "study", "outcome"])
    rng = np.random.default_rng(3)
    d["vi"] = rng.uniform(0.01, 0.1, len(d))
    d["yi"] = 0.2 + rng.normal(0, 0.3, len(d))
    many = fit_mv_groups(d, "g", "~ outcome | study", struct="HCS").to_frame()
    assert np.isnan(many.loc[0, "tau2.3"]) and np.isfinite(many.loc[1, "tau2.3"])
    one = meta_analysis_mv(mr.effect_sizes(d[d.g == 0], "GEN"), "~ outcome | study",
                           struct="HCS")
    np.testing.assert_allclose(many.loc[0, ["tau2.1", "tau2.2"]].astype(float), one.tau2,
                               rtol=1e-6)
    assert many.loc[0, "rho"] == pytest.approx(one.rho[0], rel=1e-6)
    assert many.loc[0, "estimate"] == pytest.approx(one.coef[0], rel=1e-8)


def test_predict_checks_newmods_and_level_as_for_univariate_fits():
    _, fit = _fit("assink/ml3/deltype")
    with pytest.raises(mr.InputError, match=r"newmods: give 2 values per prediction "
                                         r"\(deltypecovert, deltypeovert\); got 4"):
        mr.predict(fit, [[1, 0, 0, 1]])
    with pytest.raises(mr.InputError, match="every moderator value must be a finite number"):
        mr.predict(fit, [[np.nan, 0]])
    with pytest.raises(mr.InputError, match="level must be between 0 and 100"):
        mr.predict(fit, [[0, 1]], level=100)
    whole = mr.predict(fit, [[1, 0, 1]])  # rows with the intercept column, as rma.mv takes
    np.testing.assert_allclose(whole.pred, mr.predict(fit, [[0, 1]]).pred, rtol=1e-12)
