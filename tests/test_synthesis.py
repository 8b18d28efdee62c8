"""Tests for metareview.synthesis: single-arm reconciliation, review overlap, evidence maps.

Expected values are worked by hand or from the defining formulas: Clopper-Pearson limits from
beta quantiles (``0/10`` gives ``[0, 1 - 0.025^(1/10)] = [0, 0.3085]``), MOVER limits from the
two component intervals (Zou & Donner 2008), the CCA from Pieper et al. 2014's formula.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import Polygon
from scipy import stats

import metareview as mr
from metareview.errors import InputError
from metareview.synthesis import (
    FACTORS,
    GRADE_SYMBOLS,
    WINDOWS,
    ControlArm,
    SingleArmResult,
    clopper_pearson,
    corrected_covered_area,
    evidence_map,
    mover_difference,
    reconcile_single_arm,
)
from metareview.synthesis.evidence_map import normalise_window
from metareview.synthesis.overlap import cca_band
from metareview.synthesis.reconcile import follow_up_weeks

ARMS = [ControlArm("A", 10, 50), ControlArm("B", 12, 50), ControlArm("C", 8, 50)]


def uncontrolled(**kw) -> SingleArmResult:
    base = dict(label="Cohort", n=100, responders=20, has_control=False)
    base.update(kw)
    return SingleArmResult(**base)


# ------------------------------------------------------------------------------------------------
# Clopper-Pearson and MOVER
# ------------------------------------------------------------------------------------------------
def test_clopper_pearson_zero_events():
    lo, hi = clopper_pearson(0, 10)
    assert lo == 0.0
    assert hi == pytest.approx(1 - 0.025 ** (1 / 10), abs=1e-12)
    assert round(hi, 4) == 0.3085


def test_clopper_pearson_all_events():
    lo, hi = clopper_pearson(10, 10)
    assert lo == pytest.approx(0.025 ** (1 / 10), abs=1e-12)
    assert hi == 1.0


@pytest.mark.parametrize(("x", "n", "level"), [(20, 100, 95), (3, 17, 90), (60, 100, 99)])
def test_clopper_pearson_matches_beta_quantiles(x, n, level):
    a = 1 - level / 100
    lo, hi = clopper_pearson(x, n, level)
    assert lo == pytest.approx(stats.beta.ppf(a / 2, x, n - x + 1), rel=1e-12)
    assert hi == pytest.approx(stats.beta.ppf(1 - a / 2, x + 1, n - x), rel=1e-12)


def test_clopper_pearson_hand_value():
    # 1/2: exact limits solve P(X >= 1) = 0.025 and P(X <= 1) = 0.025 for a binomial(2, p).
    lo, hi = clopper_pearson(1, 2)
    assert lo == pytest.approx(1 - math.sqrt(1 - 0.025), abs=1e-10)
    assert hi == pytest.approx(math.sqrt(1 - 0.025), abs=1e-10)


def test_mover_difference_by_hand():
    d, lo, hi = mover_difference(0.6, (0.5, 0.7), 0.2, (0.15, 0.27))
    assert d == pytest.approx(0.4)
    assert lo == pytest.approx(0.4 - math.sqrt(0.1**2 + 0.07**2))
    assert hi == pytest.approx(0.4 + math.sqrt(0.1**2 + 0.05**2))


# ------------------------------------------------------------------------------------------------
# Reconciliation: numbers
# ------------------------------------------------------------------------------------------------
def test_pooled_control_is_the_logit_random_effects_model():
    rec = reconcile_single_arm(uncontrolled(), ARMS)
    df = pd.DataFrame({"study": ["A", "B", "C"], "xi": [10, 12, 8], "ni": [50, 50, 50]})
    fit = mr.meta_analysis(mr.effect_sizes(df, "PLO"), "REML")
    bt = fit.back_transformed
    pc = rec.pooled
    assert pc.estimate == pytest.approx(bt["estimate"])
    assert (pc.ci_low, pc.ci_high) == pytest.approx((bt["ci_low"], bt["ci_high"]))
    assert (pc.pi_low, pc.pi_high) == pytest.approx((bt["pi_low"], bt["pi_high"]))
    assert pc.estimate == pytest.approx(0.20, abs=0.01)
    assert pc.ci_low < 0.2 < pc.ci_high
    assert (pc.k, pc.events, pc.n) == (3, 30, 150)
    assert [a.proportion for a in rec.arms] == pytest.approx([0.2, 0.24, 0.16])
    assert rec.arms[0].ci_low == pytest.approx(clopper_pearson(10, 50)[0])


def test_single_arm_at_control_level_is_within():
    rec = reconcile_single_arm(uncontrolled(), ARMS)
    (c,) = rec.comparisons
    s = rec.single[0]
    assert s.proportion == 0.2
    assert (s.ci_low, s.ci_high) == pytest.approx(clopper_pearson(20, 100))
    assert c.diff_ci_low < 0 < c.diff_ci_high
    assert c.position == "within" and rec.position == "within"
    assert c.inside_prediction is True
    # The MOVER limits are those of the two parts.
    pc = rec.pooled
    d, lo, hi = mover_difference(0.2, (s.ci_low, s.ci_high), pc.estimate, (pc.ci_low, pc.ci_high))
    assert (c.difference, c.diff_ci_low, c.diff_ci_high) == pytest.approx((d, lo, hi))
    assert c.share == pytest.approx(pc.estimate / 0.2)
    assert c.share_low == pytest.approx(pc.pi_low / 0.2)
    assert c.share_high == pytest.approx(pc.pi_high / 0.2)
    assert rec.explanation("no control group").applies is True
    assert rec.explanation("placebo response").applies is True
    assert "within" in rec.summary()


def test_single_arm_well_above_control():
    rec = reconcile_single_arm(uncontrolled(responders=60), ARMS)
    (c,) = rec.comparisons
    assert c.diff_ci_low > 0.2
    assert c.position == "above" and rec.position == "above"
    assert c.inside_prediction is False
    assert c.share == pytest.approx(rec.pooled.estimate / 0.6)
    placebo = rec.explanation("placebo response")
    assert placebo.applies is False
    assert "not all of it" in placebo.why
    assert "above that" in rec.summary()


def test_single_arm_below_control():
    rec = reconcile_single_arm(uncontrolled(responders=2), ARMS)
    assert rec.position == "below"
    assert rec.explanation("placebo response").applies is False


def test_proportion_range_gets_an_exact_interval_per_bound():
    sa = SingleArmResult("Ketamine cohort", n=1034, proportion_range=(0.203, 0.464),
                         range_labels=("pain interference", "depression"), has_control=False)
    rec = reconcile_single_arm(sa, ARMS)
    assert len(rec.single) == 2 == len(rec.comparisons)
    for s, p in zip(rec.single, (0.203, 0.464), strict=True):
        assert s.proportion == p
        a = 0.05
        x = p * 1034
        assert s.ci_low == pytest.approx(stats.beta.ppf(a / 2, x, 1034 - x + 1))
        assert s.ci_high == pytest.approx(stats.beta.ppf(1 - a / 2, x + 1, 1034 - x))
    assert rec.single[0].label == "Ketamine cohort: pain interference"
    assert [c.position for c in rec.comparisons] == ["within", "above"]
    assert rec.position == "partly above"
    assert rec.explanation("placebo response").applies is True
    assert "20.3–46.4%" in rec.summary()


def test_proportion_input_equals_counts_input():
    a = reconcile_single_arm(uncontrolled(), ARMS)
    b = reconcile_single_arm(uncontrolled(responders=None, proportion=0.2), ARMS)
    assert a.comparisons == b.comparisons


def test_dataframe_input_equals_list_input():
    arms = [ControlArm("A", 10, 50, ">= 30% pain reduction", "12 weeks", "CRPS"),
            ControlArm("B", 12, 50, ">= 30% pain reduction", "12 weeks", "CRPS"),
            ControlArm("C", 8, 50, ">= 50% pain reduction", 4, "neuropathic pain")]
    df = pd.DataFrame({
        "study": ["A", "B", "C"], "events": [10, 12, 8], "n": [50, 50, 50],
        "responder_definition": [">= 30% pain reduction"] * 2 + [">= 50% pain reduction"],
        "follow_up": ["12 weeks", "12 weeks", 4], "condition": ["CRPS", "CRPS", "neuropathic pain"],
    })
    sa = uncontrolled(outcome=">= 30% pain reduction", follow_up="12 weeks", condition="CRPS")
    from_list = reconcile_single_arm(sa, arms)
    from_frame = reconcile_single_arm(sa, df)
    assert from_frame.control_arms == from_list.control_arms
    assert from_frame.to_dict() == from_list.to_dict()
    alias = df.rename(columns={"events": "xi", "n": "ni"})
    assert reconcile_single_arm(sa, alias).to_dict() == from_list.to_dict()
    mappings = df.to_dict("records")
    assert reconcile_single_arm(sa, mappings).to_dict() == from_list.to_dict()


def test_single_control_arm_has_no_prediction_interval():
    rec = reconcile_single_arm(uncontrolled(), [ControlArm("A", 10, 50)])
    assert rec.pooled.estimate == pytest.approx(0.2)
    assert math.isnan(rec.pooled.pi_low)
    assert rec.comparisons[0].inside_prediction is None
    assert any("only one control arm" in w for w in rec.warnings)
    assert rec.to_dict()["pooled"]["pi_low"] is None


@pytest.mark.parametrize("measure", ["PFT", "PAS", "PR"])
def test_other_pooling_scales_agree_roughly(measure):
    rec = reconcile_single_arm(uncontrolled(), ARMS, measure=measure)
    assert rec.pooled.estimate == pytest.approx(0.2, abs=0.01)
    assert rec.pooled.measure == measure


def test_level_applies_to_every_interval():
    rec = reconcile_single_arm(uncontrolled(), ARMS, level=90)
    assert (rec.single[0].ci_low, rec.single[0].ci_high) == pytest.approx(
        clopper_pearson(20, 100, 90))
    assert rec.fit.level == 90
    assert "90% CI" in rec.summary()


# ------------------------------------------------------------------------------------------------
# Reconciliation: explanations
# ------------------------------------------------------------------------------------------------
def test_missing_attributes_make_explanations_unknown():
    sa = SingleArmResult("Cohort", n=100, responders=60)
    rec = reconcile_single_arm(sa, ARMS)
    assert [e.factor for e in rec.explanations] == list(FACTORS)
    for e in rec.explanations:
        if e.factor == "placebo response":
            assert e.applies is False  # quantified from the numbers, never unknown
            continue
        assert e.applies is None, e.factor
        assert "not recorded" in e.why
    assert "(has_control)" in rec.explanation("no control group").why
    assert "(analysed)" in rec.explanation("who was analysed").why


def test_explanations_follow_the_attributes():
    sa = uncontrolled(
        outcome="PROMIS T-score improved by >= MCID", mcid_definition="0.5 SD",
        follow_up="6 weeks", analysed="completers",
        baseline_selection="T-score >= 60 required", change_from_baseline=True,
        natural_course="CRPS often improves spontaneously", condition="CRPS",
    )
    arms = [ControlArm("A", 10, 50, ">= 30% reduction in NRS", "12 weeks", "CRPS"),
            ControlArm("B", 12, 50, ">= 30% reduction in NRS", "3 months", "CRPS")]
    rec = reconcile_single_arm(sa, arms)
    applies = {e.factor: e.applies for e in rec.explanations}
    assert applies == {
        "no control group": True,
        "placebo response": True,
        "regression to the mean": True,
        "natural course": True,
        "outcome and MCID definitions differ": True,
        "follow-up differs": True,
        "who was analysed": True,
        "population differs": False,
    }
    rtm = rec.explanation("regression to the mean")
    assert "T-score >= 60 required" in rtm.why and "change" in rtm.why
    assert "CRPS often improves spontaneously" in rec.explanation("natural course").why
    assert ">= 30% reduction in NRS" in rec.explanation("outcome and MCID definitions differ").why
    assert "6 weeks" in rec.explanation("follow-up differs").why


def test_matching_design_does_not_apply():
    sa = SingleArmResult("Open arm", n=100, responders=25, has_control=True,
                         outcome=">= 30% Reduction in NRS.", follow_up=12, analysed="ITT",
                         baseline_selection=False, natural_course=False, condition="crps")
    arms = [ControlArm("A", 10, 50, ">=30% reduction  in NRS", "12 weeks", "CRPS"),
            ControlArm("B", 12, 50, "≥ 30% reduction in NRS", "3 months", "CRPS")]
    rec = reconcile_single_arm(sa, arms)
    for factor in FACTORS:
        if factor == "placebo response":
            continue
        assert rec.explanation(factor).applies is False, factor


def test_partly_missing_control_information_is_unknown():
    sa = uncontrolled(outcome=">= 30% reduction", follow_up="12 weeks", condition="CRPS")
    arms = [ControlArm("A", 10, 50, ">= 30% reduction", "12 weeks", "CRPS"),
            ControlArm("B", 12, 50)]
    rec = reconcile_single_arm(sa, arms)
    for factor in ("outcome and MCID definitions differ", "follow-up differs",
                   "population differs"):
        e = rec.explanation(factor)
        assert e.applies is None, factor
        assert "B" in e.why


def test_regression_to_the_mean_cases():
    def rtm(**kw):
        return reconcile_single_arm(uncontrolled(**kw), ARMS).explanation(
            "regression to the mean")

    assert rtm(baseline_selection="none").applies is False
    assert rtm(baseline_selection=True).applies is True
    unknown = rtm(change_from_baseline=True)
    assert unknown.applies is None and "change from baseline" in unknown.why


@pytest.mark.parametrize(("analysed", "applies"), [
    ("completers", True), ("Per-protocol", True), ("unknown", True), ("ITT", False),
    ("intention to treat", False), ("all enrolled", False), (None, None),
])
def test_who_was_analysed(analysed, applies):
    rec = reconcile_single_arm(uncontrolled(analysed=analysed), ARMS)
    assert rec.explanation("who was analysed").applies is applies


def test_follow_up_parsing():
    assert follow_up_weeks(12) == (12.0, 12.0)
    assert follow_up_weeks("12 weeks") == (12.0, 12.0)
    lo, hi = follow_up_weeks("24-48 h")
    assert (lo, hi) == pytest.approx((24 / 168, 48 / 168))
    lo, hi = follow_up_weeks("1–3 months")
    assert (lo, hi) == pytest.approx((365.25 / 12 / 7, 3 * 365.25 / 12 / 7))
    assert follow_up_weeks("end of treatment") is None
    assert follow_up_weeks(None) is None


# ------------------------------------------------------------------------------------------------
# Reconciliation: input checks and output
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("kw", "match"), [
    (dict(responders=20, proportion=0.2), "exactly one"),
    (dict(responders=None), "exactly one"),
    (dict(responders=120), "larger than n"),
    (dict(responders=None, proportion=20.3), "fraction"),
    (dict(responders=None, proportion_range=(0.5, 0.2)), "above high"),
    (dict(n=0), "positive"),
    (dict(responders=2.5), "whole number"),
    (dict(analysed="some"), "analysed must be one of"),
    (dict(has_control="no"), "has_control"),
])
def test_single_arm_input_errors(kw, match):
    with pytest.raises(InputError, match=match):
        uncontrolled(**kw)


def test_control_arm_input_errors():
    with pytest.raises(InputError, match="larger than n"):
        ControlArm("A", 60, 50)
    df = pd.DataFrame({"study": ["A", "B"], "events": [10, 70], "n": [50, 50]})
    with pytest.raises(InputError, match=r"row 3 \(B\), column events: responders"):
        reconcile_single_arm(uncontrolled(), df)
    with pytest.raises(InputError, match="missing column n or ni"):
        reconcile_single_arm(uncontrolled(), df.drop(columns="n"))
    with pytest.raises(InputError, match="none given"):
        reconcile_single_arm(uncontrolled(), [])
    with pytest.raises(InputError, match="measure"):
        reconcile_single_arm(uncontrolled(), ARMS, measure="OR")


def test_to_dict_is_plain_json():
    sa = SingleArmResult("Cohort", n=1034, proportion_range=(0.203, 0.464), has_control=False)
    d = reconcile_single_arm(sa, ARMS).to_dict()
    text = json.dumps(d, allow_nan=False)
    assert json.loads(text)["position"] == "partly above"
    assert d["explanations"][0] == {"factor": "no control group", "applies": True,
                                    "why": d["explanations"][0]["why"]}
    assert d["meta_analysis"]["k"] == 3


def test_summary_plain_language():
    rec = reconcile_single_arm(uncontrolled(responders=60), ARMS)
    text = rec.summary()
    assert "A control arm would be expected to show 20." in text
    assert "prediction interval" in text
    assert "[applies] no control group" in text
    assert str(rec) == text


def test_plot(tmp_path):
    sa = SingleArmResult("Cohort", n=1034, proportion_range=(0.203, 0.464), has_control=False)
    rec = reconcile_single_arm(sa, ARMS)
    out = tmp_path / "reconcile.svg"
    fig = rec.plot(out)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xlim() == (0, 100)
    diamonds = [p for p in ax.patches if p.get_gid() == "pooled-diamond"]
    assert len(diamonds) == 1 and isinstance(diamonds[0], Polygon)
    x = sorted({round(v, 6) for v in diamonds[0].get_xy()[:, 0]})
    assert x == pytest.approx(sorted({round(100 * v, 6) for v in (
        rec.pooled.ci_low, rec.pooled.estimate, rec.pooled.ci_high)}))
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0].startswith("Cohort") and labels[-1].startswith("Pooled control")
    assert out.read_text().lstrip().startswith("<?xml")
    with pytest.raises(ValueError, match="image format"):
        rec.plot(tmp_path / "x.gif")


# ------------------------------------------------------------------------------------------------
# Overlap (corrected covered area)
# ------------------------------------------------------------------------------------------------
def test_cca_hand_worked():
    res = corrected_covered_area({"R1": ["a", "b", "c"], "R2": ["b", "c", "d"],
                                  "R3": ["c", "d", "e"]})
    assert (res.n_inclusions, res.r, res.c) == (9, 5, 3)
    assert res.cca == pytest.approx(100 * 4 / 10)
    assert res.interpretation == "very high"
    assert res.citation_matrix.shape == (5, 3)
    assert int(res.citation_matrix.to_numpy().sum()) == 9
    assert list(res.citation_matrix.index) == ["a", "b", "c", "d", "e"]
    assert res.citation_matrix.loc["c"].all() and not res.citation_matrix.loc["a", "R2"]
    # Pairwise: shared / distinct studies of the pair.
    assert res.pairwise.loc["R1", "R2"] == pytest.approx(100 * 2 / 4)
    assert res.pairwise.loc["R1", "R3"] == pytest.approx(100 * 1 / 5)
    assert res.pairwise.loc["R2", "R3"] == pytest.approx(100 * 2 / 4)
    assert np.isnan(res.pairwise.loc["R1", "R1"])
    assert res.shared_studies == ("b", "c", "d")
    assert "CCA = 40.0%" in res.summary()


def test_cca_identical_and_disjoint():
    same = corrected_covered_area({"A": ["x", "y", "z"], "B": ["z", "y", "x"], "C": ["x", "y",
                                                                                   "z"]})
    assert same.cca == pytest.approx(100.0)
    apart = corrected_covered_area({"A": ["1", "2"], "B": ["3"], "C": ["4", "5", "6"]})
    assert apart.cca == 0.0
    assert apart.interpretation == "slight"


def test_cca_bands():
    assert [cca_band(v) for v in (0, 5, 5.5, 10, 10.2, 15, 15.1, 80)] == [
        "slight", "slight", "moderate", "moderate", "high", "high", "very high", "very high"]
    assert cca_band(math.nan) is None
    # 2 reviews sharing 1 of 20 distinct studies: 1/20 = 5%, slight; 1 of 12: 8.3%, moderate.
    a = corrected_covered_area({"A": [str(i) for i in range(11)],
                                "B": [str(i) for i in range(10, 20)]})
    assert a.cca == pytest.approx(5.0) and a.interpretation == "slight"
    b = corrected_covered_area({"A": [str(i) for i in range(7)],
                                "B": [str(i) for i in range(6, 12)]})
    assert b.cca == pytest.approx(100 / 12) and b.interpretation == "moderate"


def test_cca_excludes_reviews_with_unknown_studies():
    res = corrected_covered_area({"R1": ["a", "b"], "R2": None, "R3": ["b", "c"],
                                  "R4": float("nan")})
    assert res.excluded == ("R2", "R4")
    assert res.reviews == ("R1", "R3")
    assert res.cca == pytest.approx(100 * 1 / 3)
    assert "Excluded" in res.summary()


def test_cca_input_errors():
    with pytest.raises(InputError, match="at least two reviews"):
        corrected_covered_area({"R1": ["a", "b"]})
    with pytest.raises(InputError, match="at least two reviews"):
        corrected_covered_area({"R1": ["a"], "R2": None})
    with pytest.raises(InputError, match="not one string"):
        corrected_covered_area({"R1": "abc", "R2": ["a"]})
    with pytest.raises(InputError, match="no primary studies"):
        corrected_covered_area({"R1": [], "R2": []})


def test_cca_duplicates_counted_once_and_json():
    res = corrected_covered_area({"R1": ["a", "a ", "b"], "R2": ["b", "c"]})
    assert res.n_inclusions == 4 and res.r == 3
    assert any("more than once" in w for w in res.warnings)
    d = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert d["pairwise"]["R1"]["R1"] is None
    assert d["pairwise"]["R1"]["R2"] == pytest.approx(100 / 3)
    assert d["citations"]["b"] == ["R1", "R2"]


# ------------------------------------------------------------------------------------------------
# Evidence map
# ------------------------------------------------------------------------------------------------
ENTRIES = [
    dict(pain_type="CRPS", route="IV", regimen="infusion", window="1-3 months", study="S1",
         design="RCT", certainty="low", direction="benefit", n=40),
    dict(pain_type="CRPS", route="IV", regimen="infusion", window="immediate/24-48 h",
         study="S1", design="RCT", certainty="low", direction="benefit", n=40),
    dict(pain_type="CRPS", route="IV", regimen="infusion", window="1-3 months", study="S2",
         design="RCT", certainty="very low", direction="no difference", n=60),
    dict(pain_type="CRPS", route="IV", regimen="infusion", window="1-3 months", study="S2",
         design="RCT", certainty="moderate", direction="no difference", n=58),
    dict(pain_type="Neuropathic", route="oral", regimen="daily", window="> 3 months",
         study="S3 <Smith & Co>", design="cohort", certainty=None, direction=None, n=None),
    dict(pain_type="Neuropathic", route="IV", regimen="infusion", window="1-2 weeks",
         study="S4", design="cohort", certainty="very low", direction="unclear", n=25),
]


def test_evidence_map_counts_and_n():
    m = evidence_map(ENTRIES, rows="pain_type")
    c = m.cell("CRPS", "1-3 months")
    assert c.n_studies == 2
    assert c.total_n == 40 + 60  # S2 counts once, with its largest n
    assert c.studies == ("S1", "S2")
    assert c.best_certainty == "moderate" and c.worst_certainty == "very low"
    assert c.directions == {"benefit": 1, "no difference": 1}
    assert c.designs == ("RCT",)
    assert m.cell("CRPS", "1-2 weeks") is None
    neuro = m.cell("Neuropathic", "> 3 months")
    assert neuro.total_n is None and neuro.n_unknown == 1 and neuro.best_certainty is None
    counts = m.to_frame()
    assert counts.loc["CRPS", "1-3 months"] == 2
    assert counts.loc["CRPS", "immediate/24-48 h"] == 1
    assert counts.to_numpy().sum() == 5
    assert m.to_frame("total_n").loc["Neuropathic", "1-2 weeks"] == 25


def test_evidence_map_window_order_is_fixed():
    shuffled = list(reversed(ENTRIES))
    m = evidence_map(shuffled)
    assert [k[0] for k in m.col_keys] == list(WINDOWS)
    assert list(m.to_frame().columns) == list(WINDOWS)
    html = m.to_html()
    positions = [html.index(f">{w.replace('>', '&gt;')}</th>") for w in WINDOWS]
    assert positions == sorted(positions)
    # Windows as rows are ordered too (only those used).
    rows = evidence_map(shuffled, rows="window", cols="pain_type")
    assert [k[0] for k in rows.row_keys] == ["immediate/24-48 h", "1-2 weeks", "1-3 months",
                                             "> 3 months"]


def test_evidence_map_unclear_and_unknown_windows():
    extra = [*ENTRIES, dict(pain_type="CRPS", window=None, study="S5", n=10)]
    m = evidence_map(extra)
    assert [k[0] for k in m.col_keys] == [*WINDOWS, "unclear"]
    assert m.cell("CRPS", "unclear").n_studies == 1
    bad = [*ENTRIES, dict(pain_type="CRPS", window="6 months", study="S6")]
    with pytest.raises(InputError, match=r"row 8 \(S6\), column window: unknown time window"):
        evidence_map(bad)
    assert normalise_window("1–2 Weeks") == "1-2 weeks"
    assert normalise_window(">3 months") == "> 3 months"
    assert normalise_window("24-48 hours") == "immediate/24-48 h"
    assert normalise_window("Unknown") == "unclear"
    assert normalise_window("6 months") is None


def test_evidence_map_multi_dimension_rows():
    m = evidence_map(ENTRIES, rows=("pain_type", "route", "regimen"))
    frame = m.to_frame()
    assert isinstance(frame.index, pd.MultiIndex)
    assert list(frame.index.names) == ["pain_type", "route", "regimen"]
    assert frame.loc[("CRPS", "IV", "infusion"), "1-3 months"] == 2
    assert frame.loc[("Neuropathic", "IV", "infusion"), "1-2 weeks"] == 1
    assert m.cell(("Neuropathic", "oral", "daily"), "> 3 months").n_studies == 1
    assert len(m.row_keys) == 3


def test_evidence_map_frame_and_list_inputs_agree():
    a = evidence_map(ENTRIES, rows=("pain_type", "route"))
    b = evidence_map(pd.DataFrame(ENTRIES), rows=("pain_type", "route"))
    assert a.to_dict() == b.to_dict()
    json.dumps(a.to_dict(), allow_nan=False)


def test_evidence_map_html():
    m = evidence_map(ENTRIES, rows=("pain_type", "route"), cols="window")
    html = m.to_html(title="IV & oral <ketamine>")
    assert "<caption>IV &amp; oral &lt;ketamine&gt;</caption>" in html
    assert "S3 &lt;Smith &amp; Co&gt;" in html
    assert "<Smith" not in html
    assert GRADE_SYMBOLS["moderate"] in html and GRADE_SYMBOLS["low"] in html
    for css in ("em-moderate", "em-low", "em-very-low", "em-ungraded", "em-empty"):
        assert css in html
    assert "N = 100" in html and "2 studies" in html
    assert html.count("<tr>") == 1 + len(m.row_keys)
    assert "<style>" not in m.to_html(style=False)


def test_evidence_map_input_errors():
    with pytest.raises(InputError, match="no entries"):
        evidence_map([])
    with pytest.raises(InputError, match="missing column route"):
        evidence_map([dict(pain_type="CRPS", window="1-2 weeks", study="S")], rows="route")
    with pytest.raises(InputError, match="unknown certainty"):
        evidence_map([dict(pain_type="CRPS", window="1-2 weeks", study="S", certainty="good")])
    with pytest.raises(InputError, match="n must not be negative"):
        evidence_map([dict(pain_type="CRPS", window="1-2 weeks", study="S", n=-3)])
    with pytest.raises(InputError, match="both a row and a column"):
        evidence_map(ENTRIES, rows="window", cols="window")


def test_evidence_map_plot(tmp_path):
    m = evidence_map(ENTRIES, rows=("pain_type", "route"))
    fig = m.plot(tmp_path / "map.png", size="total_n")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(WINDOWS)
    assert len(ax.collections) == len(m.cells)
    assert (tmp_path / "map.png").read_bytes()[:4] == b"\x89PNG"


def test_reported_proportions_enter_on_the_logit_scale_with_variance_from_the_ci():
    """Known answer: a CI symmetric on the logit scale comes back unchanged (k = 1), and two
    reported groups pool to the inverse-variance mean of their logits (tau^2 = 0 here)."""
    import math

    from metareview.synthesis import ReportedProportion

    ilogit = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    z = 1.959963984540054
    lg, se = math.log(0.3 / 0.7), 0.1
    one = ReportedProportion("P", 0.3, ilogit(lg - z * se), ilogit(lg + z * se), n=400)
    single = SingleArmResult("S", 100, responders=40, has_control=False)
    rec = reconcile_single_arm(single, [one])
    assert rec.pooled.estimate == pytest.approx(0.3, rel=1e-12)
    assert rec.pooled.ci_low == pytest.approx(one.ci_low, rel=1e-9)
    assert rec.pooled.ci_high == pytest.approx(one.ci_high, rel=1e-9)
    assert one.logit()[1] == pytest.approx(se**2, rel=1e-9)
    # Two groups with equal variances and logits +-0.1 around logit(0.3): the same logits in
    # FE give their mean; as they are far closer than their SEs, REML's tau^2 is 0.
    a = ReportedProportion("A", ilogit(lg - 0.01), ilogit(lg - 0.01 - z * se),
                           ilogit(lg - 0.01 + z * se))
    b = ReportedProportion("B", ilogit(lg + 0.01), ilogit(lg + 0.01 - z * se),
                           ilogit(lg + 0.01 + z * se))
    rec2 = reconcile_single_arm(single, [a, b])
    assert rec2.fit.tau2 == pytest.approx(0.0, abs=1e-12)
    assert rec2.pooled.estimate == pytest.approx(0.3, rel=1e-9)
    assert rec2.fit.se == pytest.approx(se / math.sqrt(2), rel=1e-9)
    with pytest.raises(InputError):
        ReportedProportion("bad", 0.5, 0.6, 0.7)
