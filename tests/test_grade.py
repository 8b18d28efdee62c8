"""Tests for metareview.grade: GRADE certainty per outcome and Summary of Findings tables.

Every expected answer is worked by hand in the comments (GRADE guidelines 3-9, Guyatt et al.,
J Clin Epidemiol 2011;64). Levels are scored 1 (very low) to 4 (high): randomised evidence
starts at 4 and observational at 2; the final level is the start plus every change, clamped
to [1, 4], and rating up counts only for observational evidence that was not rated down.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metareview import effect_sizes, meta_analysis
from metareview.errors import InputError
from metareview.grade import (
    DOWNGRADE_DOMAINS,
    LEVELS,
    SYMBOLS,
    UPGRADE_DOMAINS,
    Certainty,
    Override,
    Thresholds,
    absolute_effect_per_1000,
    assess_certainty,
    optimal_information_size_binary,
    optimal_information_size_continuous,
    sof_row,
    summary_of_findings,
)

HERE = Path(__file__).parent
Z_975 = 1.959963984540054
Z_80 = 0.8416212335729143


# ---- data ------------------------------------------------------------------------------------
def pain_fit():
    """Five RCTs of a pain score (0-10), SD 2 in every arm; MD = intervention - control.

    Random-effects (REML): MD -0.368 (95% CI -0.894 to 0.157), I^2 = 68.4%, N = 720.
    """
    d = [-1.2, 0.3, -0.8, 0.0, -0.3]
    n = [60, 80, 50, 100, 70]
    df = pd.DataFrame({"study": list("ABCDE"), "m1i": [5 + x for x in d], "sd1i": [2.0] * 5,
                       "n1i": n, "m2i": [5.0] * 5, "sd2i": [2.0] * 5, "n2i": n})
    return meta_analysis(effect_sizes(df, "MD"))


def cohort_fit():
    """Three large cohorts with a risk ratio near 0.15 and no heterogeneity.

    RR per study 30/2000 / 200/2000 = 0.15, 20/1500 / 140/1500 = 0.143, 25/1800 / 160/1800 =
    0.156; N = 10,600; pooled control risk 500/5300 = 0.0943.
    """
    df = pd.DataFrame({"study": ["Cohort 1", "Cohort 2", "Cohort 3"], "ai": [30, 20, 25],
                       "n1i": [2000, 1500, 1800], "ci": [200, 140, 160],
                       "n2i": [2000, 1500, 1800]})
    return meta_analysis(effect_sizes(df, "RR"))


# ---- optimal information size ----------------------------------------------------------------
def test_ois_continuous_by_hand():
    # 2 * 2 * (1.959964 + 0.841621)^2 * 2^2 / 1^2 = 125.58 total, i.e. 62.79 -> 63 per group.
    total = 2 * 2 * (Z_975 + Z_80) ** 2 * 4
    assert total == pytest.approx(125.58, abs=0.01)
    assert optimal_information_size_continuous(mid=1, sd=2) == 126
    # mid 0.5 on SD 2: 2 * 7.8489 * 4 / 0.25 = 251.2 -> 252 per group.
    assert optimal_information_size_continuous(0.5, 2) == 504
    # 90% power: z_b = 1.281552; 2 * (3.241516)^2 * 1 / 1 = 21.01 -> 22 per group.
    assert optimal_information_size_continuous(1, 1, power=0.9) == 44


def test_ois_binary_by_hand():
    # p0 = 0.2, RRR 25% -> p1 = 0.15, pbar = 0.175:
    # (1.959964 sqrt(2 .175 .825) + 0.841621 sqrt(.2 .8 + .15 .85))^2 / 0.05^2
    # = (1.959964 * 0.537355 + 0.841621 * 0.536190)^2 / 0.0025 = 905.4 -> 906 per group
    # (R: power.prop.test(p1 = .2, p2 = .15, power = .8) gives n = 905.3).
    num = Z_975 * math.sqrt(2 * 0.175 * 0.825) + Z_80 * math.sqrt(0.2 * 0.8 + 0.15 * 0.85)
    assert num**2 / 0.05**2 == pytest.approx(905.4, abs=0.05)
    assert optimal_information_size_binary(0.2, 0.25) == 1812
    with pytest.raises(InputError, match="control_risk"):
        optimal_information_size_binary(1.2, 0.25)
    with pytest.raises(InputError, match="mid"):
        optimal_information_size_continuous(0, 2)


# ---- absolute effects ------------------------------------------------------------------------
def test_absolute_effect_rr_by_hand():
    # RR 0.5 at a comparator risk of 0.2: 200 per 1000 with the comparator, 0.5 * 200 = 100
    # with the intervention, difference 100 fewer; CI: 0.3 * 200 - 200 = -140, 0.8 * 200 - 200
    # = -40.
    a = absolute_effect_per_1000("RR", 0.5, 0.3, 0.8, 0.2)
    assert a.risk_comparator == pytest.approx(200)
    assert a.risk_intervention == pytest.approx(100)
    assert a.difference == pytest.approx(-100)
    assert (a.difference_low, a.difference_high) == pytest.approx((-140, -40))
    assert a.comparator_text == "200 per 1,000"
    assert a.difference_text == "100 fewer per 1,000 (from 140 fewer to 40 fewer)"
    assert a.intervention_text == "100 per 1,000 (60 to 160)"


def test_absolute_effect_other_measures_by_hand():
    # OR 0.5 at 0.2: 0.5 * 0.2 / (1 - 0.2 + 0.5 * 0.2) = 0.1 / 0.9 = 0.1111 -> 111 per 1000,
    # 89 fewer. The upper limit OR 1.5: 0.3 / 1.1 = 0.2727 -> 73 more.
    a = absolute_effect_per_1000("OR", 0.5, 0.25, 1.5, 0.2)
    assert a.risk_intervention == pytest.approx(1000 / 9)
    assert a.difference_text == "89 fewer per 1,000 (from 141 fewer to 73 more)"
    # HR 0.5 at 0.2: 1 - 0.8^0.5 = 0.10557 -> 106 per 1000, 94 fewer.
    h = absolute_effect_per_1000("HR", 0.5, 0.5, 0.5, 0.2)
    assert h.risk_intervention == pytest.approx(1000 * (1 - math.sqrt(0.8)))
    # RD -0.05 (-0.08 to 0.01) at 0.2: 50 fewer (from 80 fewer to 10 more).
    d = absolute_effect_per_1000("RD", -0.05, -0.08, 0.01, 0.2)
    assert d.difference_text == "50 fewer per 1,000 (from 80 fewer to 10 more)"
    # A risk above 1 is capped: RR 6 at 0.2 -> 1000 per 1000.
    assert absolute_effect_per_1000("RR", 6, 5, 7, 0.2).risk_intervention == 1000


@pytest.mark.parametrize(
    "args, match",
    [
        (("MD", 1, 0, 2, 0.2), "RR, OR, HR or RD"),
        (("RR", -0.7, -1.0, -0.3, 0.2), "not its log"),
        (("RR", 0.5, 0.3, 0.8, 20), "proportion"),
        (("RR", 0.9, 0.3, 0.8, 0.2), "outside its CI"),
    ],
)
def test_absolute_effect_bad_input(args, match):
    with pytest.raises(InputError, match=match):
        absolute_effect_per_1000(*args)


# ---- the worked cases ------------------------------------------------------------------------
def test_rct_serious_inconsistency_and_imprecision_is_low():
    # pain_fit: I^2 = 68.4%, in [50, 75) -> inconsistency serious (-1).
    # MID 0.5 points: the CI (-0.894 to 0.157) crosses 0 and includes -0.5 but not +0.5 ->
    # imprecision serious (-1). OIS for MID 0.5, pooled SD 2: 504 <= N = 720, so no extra
    # downgrade. Risk of bias low; indirectness not assessed; k = 5 < 10 -> publication bias
    # not assessable. HIGH (4) - 1 - 1 = 2 = LOW.
    fit = pain_fit()
    assert fit.i2 == pytest.approx(68.38, abs=0.01)
    assert (fit.ci_low, fit.ci_high) == pytest.approx((-0.8938, 0.1568), abs=1e-4)
    c = assess_certainty("Pain at 6 weeks", design="randomised", fit=fit, risk_of_bias="low",
                         mid=0.5, mid_scale="points on a 0-10 scale")
    assert c.start == "high"
    assert c.domains["inconsistency"].change == -1
    assert c.domains["imprecision"].change == -1
    assert c.domains["risk_of_bias"].change == 0
    assert c.domains["imprecision"].values["ois"] == 504
    assert c.domains["imprecision"].values["n"] == 720
    assert not c.domains["publication_bias"].assessable
    assert not c.domains["indirectness"].assessable
    assert "reviewer judgement required" in c.domains["indirectness"].rationale
    assert c.final == "low"
    assert c.symbols == "⊕⊕◯◯" == SYMBOLS["low"]
    assert len(c.footnotes) == 2
    assert "68%" in c.footnotes[0] and "inconsistency" in c.footnotes[0]
    assert "-0.5" in c.footnotes[1] and "imprecision" in c.footnotes[1]
    assert "68%" in c.domains["inconsistency"].rationale
    assert c.measure == "MD" and c.k == 5 and c.n_participants == 720
    assert "LOW" in c.summary()
    json.dumps(c.to_dict(), allow_nan=False)


def test_observational_very_large_effect_is_high():
    # Cohorts start LOW (2). RR ~ 0.15 < 0.2 -> very large effect, +2 (GRADE guidelines 9).
    # No downgrade: I^2 = 0; CI excludes 1; N = 10,600 is above the OIS (control risk 0.094,
    # RRR 25% -> 4,190); risk of bias low; k = 3 -> publication bias not assessable.
    # LOW + 2 = HIGH.
    fit = cohort_fit()
    rr = math.exp(fit.estimate)
    assert 0.14 < rr < 0.16
    c = assess_certainty("Hip fracture", design="observational", fit=fit, risk_of_bias="low")
    assert c.start == "low"
    assert c.downgrade == 0
    assert c.domains["large_effect"].change == 2
    assert c.domains["large_effect"].applied
    assert c.domains["imprecision"].values["ois"] < 10600
    assert c.final == "high"
    assert "0.15" in c.footnotes[0] and "large effect" in c.footnotes[0]


def test_observational_large_effect_without_fit():
    # RR 0.4 (< 0.5 but not < 0.2): +1. LOW + 1 = MODERATE.
    kw = dict(design="observational", measure="RR", ci_low=0.3, ci_high=0.55, i2=10, k=4,
              risk_of_bias="low")
    c = assess_certainty("Death", estimate=0.4, **kw)
    assert c.domains["large_effect"].change == 1
    assert c.final == "moderate"
    # RR 0.15 (0.1 to 0.25): +2 -> HIGH; exactly 0.5 is not "< 0.5": no upgrade -> LOW.
    c2 = assess_certainty("Death", **{**kw, "estimate": 0.15, "ci_low": 0.1, "ci_high": 0.25})
    assert c2.final == "high"
    c3 = assess_certainty("Death", **{**kw, "estimate": 0.5, "ci_low": 0.4, "ci_high": 0.6})
    assert c3.domains["large_effect"].change == 0
    assert c3.final == "low"


def test_upgrade_not_applied_after_a_downgrade():
    # The same very large effect with risk of bias serious (-1): GRADE rates up only evidence
    # not rated down, so the +2 is recorded but not applied: LOW - 1 = VERY LOW.
    c = assess_certainty("Hip fracture", design="observational", fit=cohort_fit(),
                         risk_of_bias="some concerns")
    assert c.domains["risk_of_bias"].change == -1
    assert c.domains["large_effect"].change == 2
    assert not c.domains["large_effect"].applied
    assert c.upgrade == 0
    assert c.final == "very low"
    assert any("Not upgraded for large effect" in f for f in c.footnotes)


def test_randomised_evidence_is_not_rated_up():
    c = assess_certainty("Death", design="randomised", measure="RR", estimate=0.15,
                         ci_low=0.1, ci_high=0.25, i2=0, k=3, risk_of_bias="low")
    assert c.domains["large_effect"].change == 0
    assert not c.domains["large_effect"].assessable
    assert c.final == "high"


def test_four_downgrades_clamp_to_very_low():
    # Randomised, HIGH (4): risk of bias very serious (-2, all weight high risk), inconsistency
    # serious (-1, I^2 60%), imprecision serious (-1: the CI -1.5 to 0.5 crosses 0 and includes
    # -1 = -MID), indirectness serious (-1, reviewer). 4 - 5 = -1 -> clamped to VERY LOW (1).
    c = assess_certainty("Function", design="randomised", measure="MD", estimate=-0.5,
                         ci_low=-1.5, ci_high=0.5, i2=60, k=4, mid=1, risk_of_bias="high",
                         indirectness=Override(-1, "Older population than the question's"))
    assert [c.domains[d].change for d in DOWNGRADE_DOMAINS] == [-2, -1, -1, -1, 0]
    assert c.downgrade == -5
    assert c.final == "very low"
    assert c.score == 1
    assert c.symbols == "⊕◯◯◯"
    assert len(c.footnotes) == 4
    assert "Older population" in c.footnotes[2]


# ---- overrides -------------------------------------------------------------------------------
def test_override_recorded_and_changes_final():
    # The LOW case above; the reviewer judges imprecision not serious (MID of 1 point from the
    # trial population). HIGH - 1 (inconsistency) = MODERATE.
    fit = pain_fit()
    ov = Override(0, "The MID for this population is 1 point; the CI excludes -1 and 1.",
                  by="JS")
    c = assess_certainty("Pain", design="randomised", fit=fit, risk_of_bias="low", mid=0.5,
                         overrides={"imprecision": ov})
    d = c.domains["imprecision"]
    assert d.overridden and d.change == 0
    assert d.reason == "The MID for this population is 1 point; the CI excludes -1 and 1."
    assert d.by == "JS"
    assert d.proposed is not None and d.proposed.change == -1 and not d.proposed.overridden
    assert "-0.5" in d.proposed.rationale
    assert c.final == "moderate"
    assert any("MID for this population" in f and "reviewer override" in f
               for f in c.footnotes)
    out = c.to_dict()
    assert out["domains"]["imprecision"]["proposed"]["change"] == -1
    assert out["domains"]["imprecision"]["reason"].startswith("The MID")
    json.dumps(out, allow_nan=False)

    # A mapping from a YAML file works the same, and domain names may use spaces.
    c2 = assess_certainty("Pain", design="randomised", fit=fit, risk_of_bias="low", mid=0.5,
                          overrides={"Risk of bias": {"change": -2, "reason": "Unblinded"}})
    assert c2.domains["risk_of_bias"].change == -2 and c2.domains["risk_of_bias"].overridden
    assert c2.final == "very low"  # 4 - 2 - 1 - 1 = 0 -> clamped


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_override_without_reason_is_an_error(reason):
    with pytest.raises(InputError, match="reason"):
        Override(-1, reason)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="reason"):
        assess_certainty("Pain", design="randomised",
                         overrides={"imprecision": {"change": -1, "reason": reason}})
    with pytest.raises(InputError, match="reason"):
        assess_certainty("Pain", design="randomised", overrides={"imprecision": {"change": -1}})


def test_override_bad_domain_or_change():
    with pytest.raises(InputError, match="unknown domain"):
        assess_certainty("Pain", design="randomised", overrides={"blinding": Override(-1, "x")})
    with pytest.raises(InputError, match="level change"):
        assess_certainty("Pain", design="randomised", overrides={"imprecision": Override(-3, "x")})
    with pytest.raises(InputError, match="level change"):
        assess_certainty("Pain", design="randomised", overrides={"large_effect": Override(-1, "x")})
    with pytest.raises(InputError, match="design"):
        assess_certainty("Pain", design="case series")


# ---- risk of bias ----------------------------------------------------------------------------
def test_risk_of_bias_weighting():
    # 60% of the weight high risk -> share_high 0.6 >= 0.5 -> very serious (-2).
    c = assess_certainty("x", design="randomised", risk_of_bias=["high", "low"],
                         weights=[60, 40])
    assert c.domains["risk_of_bias"].change == -2
    assert c.domains["risk_of_bias"].values["share_high"] == pytest.approx(0.6)
    assert "60%" in c.domains["risk_of_bias"].rationale
    # 40% high and 60% some concerns: high < 0.5 but together 1.0 >= 0.5 -> serious (-1).
    c = assess_certainty("x", design="randomised", risk_of_bias=["high", "some concerns"],
                         weights=[40, 60])
    assert c.domains["risk_of_bias"].change == -1
    # 30% some concerns, 70% low -> not serious; 50% exactly some concerns -> serious.
    c = assess_certainty("x", design="randomised", risk_of_bias=["Some concerns", "low"],
                         weights=[30, 70])
    assert c.domains["risk_of_bias"].change == 0
    c = assess_certainty("x", design="randomised", risk_of_bias=["unclear", "low"],
                         weights=[50, 50])
    assert c.domains["risk_of_bias"].change == -1


def test_risk_of_bias_uses_the_fit_weights():
    fit = pain_fit()
    w = fit.weights / 100
    cats = {"A": "high", "B": "low", "C": "high", "D": "low", "E": "some concerns"}
    c = assess_certainty("Pain", design="randomised", fit=fit, risk_of_bias=cats)
    share_high = w[0] + w[2]
    assert c.domains["risk_of_bias"].values["share_high"] == pytest.approx(share_high)
    assert c.domains["risk_of_bias"].values["share_some_concerns"] == pytest.approx(w[4])
    expected = -2 if share_high >= 0.5 else (-1 if share_high + w[4] >= 0.5 else 0)
    assert c.domains["risk_of_bias"].change == expected
    with pytest.raises(InputError, match="'E'"):
        assess_certainty("Pain", design="randomised", fit=fit,
                         risk_of_bias={k: v for k, v in cats.items() if k != "E"})
    with pytest.raises(InputError, match="5 studies"):
        assess_certainty("Pain", design="randomised", fit=fit, risk_of_bias=["low"] * 4)
    with pytest.raises(InputError, match="unknown category"):
        assess_certainty("Pain", design="randomised", fit=fit, risk_of_bias="dubious")


# ---- inconsistency ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "i2, pi, change",
    [
        (49.9, None, 0),
        (50.0, None, -1),
        (74.9, (-2.0, 2.0), -1),
        (75.0, (-2.0, 2.0), -2),  # PI beyond -1 and +1 (MID 1): appreciable benefit and harm
        (75.0, (-2.0, 0.5), -1),  # PI crosses 0 but not beyond +1
        (90.0, None, -1),  # no PI: very serious cannot be judged
    ],
)
def test_inconsistency_bands(i2, pi, change):
    kw = {} if pi is None else {"pi_low": pi[0], "pi_high": pi[1]}
    c = assess_certainty("x", design="randomised", measure="MD", estimate=-0.8, ci_low=-1.0,
                         ci_high=-0.6, k=6, i2=i2, mid=1, **kw)
    assert c.domains["inconsistency"].change == change


def test_inconsistency_single_study_not_assessable():
    c = assess_certainty("x", design="randomised", measure="MD", estimate=-0.8, ci_low=-1.0,
                         ci_high=-0.6, k=1, i2=0)
    assert c.domains["inconsistency"].change == 0
    assert not c.domains["inconsistency"].assessable
    assert "k = 1" in c.domains["inconsistency"].rationale


# ---- imprecision -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "ci, change",
    [
        ((-1.5, 0.5), -1),  # crosses 0, includes -1 (one MID) but not +1
        ((-1.2, 1.1), -2),  # includes both -1 and +1: appreciable benefit and harm
        ((-0.8, 0.6), 0),  # crosses 0 but excludes both MIDs: no important difference
        ((-2.0, -0.5), 0),  # excludes 0
    ],
)
def test_imprecision_against_null_and_mid(ci, change):
    est = (ci[0] + ci[1]) / 2
    c = assess_certainty("x", design="randomised", measure="MD", estimate=est, ci_low=ci[0],
                         ci_high=ci[1], mid=1)
    assert c.domains["imprecision"].change == change


def test_imprecision_optimal_information_size():
    # The CI excludes 0 and both MIDs are outside it, but N = 100 < OIS 126 -> serious.
    kw = dict(design="randomised", measure="MD", estimate=-1.5, ci_low=-2.0, ci_high=-1.0,
              mid=1)
    c = assess_certainty("x", n_participants=100, ois=126, **kw)
    assert c.domains["imprecision"].change == -1
    assert "below the optimal information size of 126" in c.domains["imprecision"].rationale
    assert assess_certainty("x", n_participants=130, ois=126, **kw).domains[
        "imprecision"].change == 0
    # The OIS never softens a very serious judgement.
    c = assess_certainty("x", design="randomised", measure="MD", estimate=0, ci_low=-1.2,
                         ci_high=1.2, mid=1, n_participants=100, ois=126)
    assert c.domains["imprecision"].change == -2


def test_imprecision_ratio_default_mid():
    # RR 0.9 (0.7 to 1.15): crosses 1 and includes 0.75 (default MID), not 1.25 -> serious.
    c = assess_certainty("x", design="randomised", measure="RR", estimate=0.9, ci_low=0.7,
                         ci_high=1.15)
    assert c.domains["imprecision"].change == -1
    assert c.domains["imprecision"].values["mid_low"] == pytest.approx(0.75)
    # RR 1.0 (0.6 to 1.6): both 0.75 and 1.25 -> very serious.
    c = assess_certainty("x", design="randomised", measure="RR", estimate=1.0, ci_low=0.6,
                         ci_high=1.6)
    assert c.domains["imprecision"].change == -2
    # A log-scale MID: log(1.5) -> thresholds 0.667 and 1.5; (0.7, 1.15) includes neither.
    c = assess_certainty("x", design="randomised", measure="RR", estimate=0.9, ci_low=0.7,
                         ci_high=1.15, mid=math.log(1.5))
    assert c.domains["imprecision"].change == 0
    with pytest.raises(InputError, match="not its log"):
        assess_certainty("x", design="randomised", measure="RR", estimate=-0.1, ci_low=-0.3,
                         ci_high=0.1)


# ---- publication bias ------------------------------------------------------------------------
def test_publication_bias_rules():
    kw = dict(design="randomised", measure="MD", estimate=-1, ci_low=-1.5, ci_high=-0.5)
    assert assess_certainty("x", k=10, egger_p=0.05, **kw).domains[
        "publication_bias"].change == -1
    assert assess_certainty("x", k=10, egger_p=0.10, **kw).domains[
        "publication_bias"].change == 0
    few = assess_certainty("x", k=9, egger_p=0.01, **kw).domains["publication_bias"]
    assert few.change == 0 and not few.assessable and "k = 9" in few.rationale


def test_publication_bias_from_the_fit():
    # Magnesium trials (Egger 2001, 16 trials): Egger's test p < 0.001 -> suspected (-1).
    df = pd.read_csv(HERE / "data" / "dat.egger2001.csv")
    fit = meta_analysis(effect_sizes(df, "OR"))
    c = assess_certainty("Mortality", design="randomised", fit=fit)
    d = c.domains["publication_bias"]
    assert d.change == -1 and d.values["egger_p"] < 0.001
    mh = assess_certainty("Mortality", design="randomised",
                          fit=meta_analysis(effect_sizes(df, "OR"), method="MH"))
    assert mh.domains["publication_bias"].change == -1


# ---- Summary of Findings ---------------------------------------------------------------------
def binary_fit():
    # Control risks 80/400, 120/600, 40/200: pooled 240/1200 = 0.2. N = 2,400 is above the
    # OIS for a 25% RRR at a control risk of 0.2 (1,812), so imprecision is not serious.
    df = pd.DataFrame({"study": ["T1", "T2", "T3"], "ai": [40, 66, 18], "n1i": [400, 600, 200],
                       "ci": [80, 120, 40], "n2i": [400, 600, 200]})
    return meta_analysis(effect_sizes(df, "RR"), method="FE")


def test_sof_binary_row_from_fit():
    fit = binary_fit()
    cert = assess_certainty("Stroke", design="randomised", fit=fit, risk_of_bias="low")
    row = sof_row(certainty=cert, fit=fit, follow_up="12 months")
    rr, lo, hi = (math.exp(x) for x in (fit.estimate, fit.ci_low, fit.ci_high))
    assert row.estimate == pytest.approx(rr)
    assert row.absolute is not None
    assert row.absolute.comparator_risk == pytest.approx(0.2)
    assert row.absolute.risk_intervention == pytest.approx(1000 * rr * 0.2)
    assert row.absolute.difference_low == pytest.approx(1000 * (lo - 1) * 0.2)
    assert row.participants == 2400 and row.studies == 3
    assert row.participants_text == "2,400 (3 RCTs)"
    assert row.relative_text == f"RR {rr:.2f} ({lo:.2f} to {hi:.2f})"
    assert row.comparator_text == "200 per 1,000"
    # The median control risk of 0.2, 0.2, 0.2 is also 0.2; a given risk replaces it.
    given = sof_row(certainty=cert, fit=fit, comparator_risk=0.1,
                    comparator_source="Risk in the UK population (registry)")
    assert given.comparator_text == "100 per 1,000"
    assert given.comparator_note == "Risk in the UK population (registry)"


def test_sof_table_layout_and_escaping():
    fit_b = binary_fit()
    cert_b = assess_certainty("Stroke", design="randomised", fit=fit_b, risk_of_bias="high")
    fit_c = pain_fit()
    cert_c = assess_certainty("Pain <script>alert(1)</script>", design="randomised", fit=fit_c,
                              risk_of_bias="low", mid=0.5)
    rows = [
        sof_row(certainty=cert_b, fit=fit_b, follow_up="12 months", comments="Fewer strokes"),
        sof_row(certainty=cert_c, fit=fit_c, scale="points", follow_up="6 weeks"),
    ]
    sof = summary_of_findings(rows, title="Drug compared to placebo for adults & children",
                              population="Adults", setting="Outpatients", intervention="Drug",
                              comparison="placebo")
    # Footnotes: risk of bias of row 1 (a), comparator risk of row 1 (b), inconsistency and
    # imprecision of row 2 (c, d).
    assert len(sof.footnotes) == 4
    assert "risk of bias" in sof.footnotes[0]
    assert sof.footnotes[1].startswith("The risk with the comparator is the pooled")
    frame = sof.to_frame()
    assert list(frame.columns) == [
        "Outcomes", "№ of participants (studies)", "Certainty of the evidence (GRADE)",
        "Relative effect (95% CI)", "Risk with placebo", "Risk difference with Drug",
        "Comments",
    ]
    assert frame.iloc[0, 2] == "⊕⊕◯◯ LOW a"
    assert frame.iloc[0, 4] == "200 per 1,000 b"
    assert frame.iloc[1, 2] == "⊕⊕◯◯ LOW c,d"
    assert frame.iloc[1, 3] == "—"
    assert frame.iloc[1, 5].startswith("MD 0.37 points lower (0.89 lower to 0.16 higher)")
    assert frame.iloc[1, 4] == "The mean pain <script>alert(1)</script> was 5 points"

    page = sof.to_html()
    assert page.startswith("<table") and page.rstrip().endswith("</table>")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "adults &amp; children" in page
    for heading in ("Outcomes", "№ of participants (studies)",
                    "Certainty of the evidence (GRADE)", "Relative effect (95% CI)",
                    "Anticipated absolute effects", "Risk with placebo",
                    "Risk difference with Drug", "Comments"):
        assert heading in page
    assert "<sup>a</sup>" in page and "<sup>c,d</sup>" in page
    assert "follow-up: 12 months" in page
    assert "<link" not in page and "<style" not in page

    out = sof.to_dict()
    json.dumps(out, allow_nan=False)
    assert out["rows"][0]["footnote_letters"] == {"certainty": ["a"], "comparator": ["b"]}
    assert [f["letter"] for f in out["footnotes"]] == ["a", "b", "c", "d"]
    assert "Stroke" in sof.summary()


def test_sof_row_review_level_estimate():
    cert = assess_certainty("Death at 30 days", design="observational", measure="OR",
                            estimate=0.5, ci_low=0.25, ci_high=1.5, k=4, n_participants=900)
    row = sof_row(certainty=cert, comparator_risk=0.2)
    assert row.relative_text == "OR 0.50 (0.25 to 1.50)"
    assert row.effect_text == "89 fewer per 1,000 (from 141 fewer to 73 more)"
    assert row.participants_text == "900 (4 observational studies)"
    # No comparator risk available: the absolute cells are dashes.
    bare = sof_row(certainty=cert)
    assert bare.absolute is None and bare.comparator_text == "—"
    with pytest.raises(InputError, match="comparator_risk"):
        sof_row(certainty=cert, comparator_risk="mean")


# ---- properties ------------------------------------------------------------------------------
_changes = st.fixed_dictionaries({
    **{d: st.sampled_from([0, -1, -2]) for d in DOWNGRADE_DOMAINS},
    "large_effect": st.sampled_from([0, 1, 2]),
    "dose_response": st.sampled_from([0, 1]),
    "plausible_confounding": st.sampled_from([0, 1]),
})


def _grade(design: str, changes: dict[str, int]) -> Certainty:
    return assess_certainty("x", design=design, overrides={
        d: Override(c, "judged by the review team") for d, c in changes.items()})


@settings(max_examples=150, deadline=None)
@given(design=st.sampled_from(["randomised", "observational"]), changes=_changes,
       extra=st.sampled_from(DOWNGRADE_DOMAINS))
def test_adding_a_downgrade_never_raises_certainty(design, changes, extra):
    before = _grade(design, changes)
    worse = dict(changes)
    worse[extra] = max(-2, worse[extra] - 1)
    after = _grade(design, worse)
    assert after.score <= before.score


@settings(max_examples=150, deadline=None)
@given(design=st.sampled_from(["randomised", "observational"]), changes=_changes)
def test_final_level_is_clamped_sum(design, changes):
    c = _grade(design, changes)
    down = sum(changes[d] for d in DOWNGRADE_DOMAINS)
    up = sum(changes[d] for d in UPGRADE_DOMAINS)
    start = 4 if design == "randomised" else 2
    if design == "randomised" or down < 0:
        up = 0
    assert c.final in LEVELS
    assert c.score == min(4, max(1, start + down + up))
    assert c.symbols == SYMBOLS[c.final]
    assert c.symbols.count("⊕") == c.score
    assert all(c.domains[d].overridden for d in changes)


def test_thresholds_are_parameters():
    kw = dict(design="randomised", measure="MD", estimate=-0.8, ci_low=-1.0, ci_high=-0.6, k=6)
    assert assess_certainty("x", i2=45, **kw).domains["inconsistency"].change == 0
    th = Thresholds(i2_serious=40)
    assert assess_certainty("x", i2=45, thresholds=th, **kw).domains["inconsistency"].change == -1
    with pytest.raises(InputError, match="ratio_mid"):
        Thresholds(ratio_mid=(1.1, 1.25))


def test_inputs_validated():
    with pytest.raises(InputError, match="measure is required"):
        assess_certainty("x", design="randomised", estimate=0.5, ci_low=0.2, ci_high=0.9)
    with pytest.raises(InputError, match="outside its confidence interval"):
        assess_certainty("x", design="randomised", measure="MD", estimate=2, ci_low=0,
                         ci_high=1)
    with pytest.raises(InputError, match="i2"):
        assess_certainty("x", design="randomised", i2=120)
    fit = meta_analysis(effect_sizes(pd.DataFrame({
        "study": list("ABCD"), "yi": [0.1, 0.3, 0.2, 0.5], "vi": [0.01, 0.02, 0.01, 0.03],
        "x": [1.0, 2.0, 3.0, 4.0]}), "GEN"), mods=["x"])
    with pytest.raises(InputError, match="meta-regression"):
        assess_certainty("x", design="randomised", fit=fit)
    # Nothing to assess: every data-driven domain says so, and the start level stands.
    c = assess_certainty("x", design="observational")
    assert c.final == "low"
    assert not any(c.domains[d].assessable for d in ("risk_of_bias", "imprecision"))
    assert np.isfinite(c.score)
