"""Appraisal instruments: each published rule on hand-worked cases, invariants, bad input."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metareview.appraisal import (
    NHMRC_LEVELS,
    ROB_MAPPING,
    Amstar2Assessment,
    EphppAssessment,
    HealthEvidenceAssessment,
    Rob2Assessment,
    RobinsIAssessment,
    amstar2_rating,
    ephpp_confounder_rating,
    ephpp_design_rating,
    ephpp_rating,
    ephpp_withdrawal_rating,
    health_evidence_rating,
    nhmrc_level,
    nhmrc_rank,
    nhmrc_worst,
    risk_of_bias_category,
    rob2_overall,
    robins_i_overall,
)
from metareview.appraisal.amstar2 import CRITICAL_ITEMS, META_ANALYSIS_ITEMS, PARTIAL_YES_ITEMS
from metareview.appraisal.ephpp import KEYS as EPHPP_KEYS
from metareview.appraisal.ephpp import RATINGS as EPHPP_RATINGS
from metareview.appraisal.health_evidence import ITEMS as HE_ITEMS
from metareview.appraisal.rob2 import DOMAINS as ROB2_DOMAINS
from metareview.appraisal.rob2 import JUDGEMENTS as ROB2_JUDGEMENTS
from metareview.appraisal.robins_i import DOMAINS as ROBINS_DOMAINS
from metareview.appraisal.robins_i import JUDGEMENTS as ROBINS_JUDGEMENTS
from metareview.appraisal.robins_i import SEVERITY as ROBINS_SEVERITY
from metareview.errors import InputError


def _roundtrip(result) -> dict:
    out = result.to_dict()
    assert json.loads(json.dumps(out, allow_nan=False)) == out
    return out


# ---- EPHPP -----------------------------------------------------------------------------------
def _ephpp(*ratings):
    return dict(zip("ABCDEF", ratings, strict=True))


def test_ephpp_no_weak_is_strong():
    # Rule (EPHPP dictionary): STRONG = no WEAK ratings; moderates do not count.
    r = ephpp_rating(_ephpp("strong", "moderate", "moderate", "moderate", "moderate", "strong"))
    assert r.global_rating == "strong"
    assert r.n_weak == 0
    assert r.risk_of_bias == "low"


def test_ephpp_exactly_one_weak_is_moderate():
    # Rule: MODERATE = exactly one WEAK rating, whatever the others.
    r = ephpp_rating(_ephpp("strong", "strong", "strong", "strong", "strong", "weak"))
    assert r.global_rating == "moderate"
    assert r.weak_components == ("withdrawals_and_dropouts",)
    assert r.risk_of_bias == "some concerns"


def test_ephpp_two_weak_is_weak():
    # Rule: WEAK = two or more WEAK ratings.
    r = ephpp_rating(_ephpp("weak", "strong", "strong", "weak", "strong", "strong"))
    assert r.global_rating == "weak"
    assert r.n_weak == 2
    assert r.weak_components == ("selection_bias", "blinding")
    assert r.risk_of_bias == "high"
    assert ephpp_rating(_ephpp(*["weak"] * 6)).global_rating == "weak"


def test_ephpp_accepts_codes_names_and_case():
    by_code = ephpp_rating({"a": 2, "b": 1, "c": "3", "d": 2, "e": 1, "f": 1})
    by_name = ephpp_rating({
        "Selection bias": "MODERATE", "Study design": "Strong", "confounders": "weak",
        "BLINDING": "moderate", "data-collection-methods": "strong",
        "Withdrawals and drop-outs": "strong",
    })
    by_key = ephpp_rating(dict(zip(EPHPP_KEYS, ["moderate", "strong", "weak", "moderate",
                                                "strong", "strong"], strict=True)))
    assert by_code == by_name == by_key
    assert by_code.global_rating == "moderate"
    assert by_code.codes == {"selection_bias": 2, "study_design": 1, "confounders": 3,
                             "blinding": 2, "data_collection_methods": 1,
                             "withdrawals_and_dropouts": 1}
    out = _roundtrip(by_code)
    assert out["global_rating"] == "moderate"
    assert out["weak_components"] == ["confounders"]
    assert "Global rating: MODERATE (1 weak component)" in by_code.summary()
    assert isinstance(by_code, EphppAssessment)


@pytest.mark.parametrize(
    ("components", "message"),
    [
        ({**_ephpp(*["strong"] * 6), "G": "strong"}, "not rated by the tool"),
        ({**_ephpp(*["strong"] * 6), "sampling": "strong"}, "unknown"),
        (_ephpp(*["strong"] * 5, "excellent"), "not strong/moderate/weak"),
        (_ephpp(*["strong"] * 5, 4), "not strong/moderate/weak"),
        (_ephpp(*["strong"] * 5, True), "not strong/moderate/weak"),
        (_ephpp(*["strong"] * 5, None), "not strong/moderate/weak"),
        (dict(zip("ABCDE", ["strong"] * 5, strict=True)), "missing: withdrawals_and_dropouts"),
        ({**_ephpp(*["strong"] * 6), "design": "weak"}, "given twice"),
        (["strong"] * 6, "expected a mapping"),
    ],
)
def test_ephpp_bad_input(components, message):
    with pytest.raises(InputError, match=message):
        ephpp_rating(components)


@pytest.mark.parametrize(
    ("design", "expected"),
    [
        # Dictionary, component B: STRONG = RCT or CCT.
        ("RCT", "strong"),
        ("Randomized controlled trial", "strong"),
        ("controlled clinical trial", "strong"),
        ("non-randomised controlled trial", "strong"),
        # MODERATE = cohort analytic, case-control, cohort (one group pre + post) or ITS.
        ("Cohort analytic (two group pre + post)", "moderate"),
        ("case-control study", "moderate"),
        ("Cohort (one group pre + post (before and after))", "moderate"),
        ("before-and-after", "moderate"),
        ("interrupted time series", "moderate"),
        ("ITS", "moderate"),
        # WEAK = any other design, or not stated.
        ("case series", "weak"),
        ("cross-sectional survey", "weak"),
        ("can't tell", "weak"),
        ("other", "weak"),
    ],
)
def test_ephpp_design_rating(design, expected):
    assert ephpp_design_rating(design) == expected


@pytest.mark.parametrize(
    ("percent", "expected"),
    [
        # Dictionary, component F: 80-100% completing STRONG; 60-79% MODERATE; <60% WEAK.
        (100, "strong"), (80, "strong"), (79.9, "moderate"), (79, "moderate"),
        (60, "moderate"), (59.9, "weak"), (0, "weak"),
        # Withdrawals not described (can't tell) -> WEAK.
        (None, "weak"),
    ],
)
def test_ephpp_withdrawal_rating(percent, expected):
    assert ephpp_withdrawal_rating(percent) == expected


def test_ephpp_withdrawal_not_applicable_is_moderate():
    # Dictionary, component F: "not applicable" (e.g. one-time survey) -> MODERATE.
    assert ephpp_withdrawal_rating(None, not_applicable=True) == "moderate"
    with pytest.raises(InputError, match="not applicable"):
        ephpp_withdrawal_rating(90, not_applicable=True)


@pytest.mark.parametrize("bad", [101, -1, float("nan"), "80%", True])
def test_ephpp_withdrawal_bad_percent(bad):
    with pytest.raises(InputError, match="percent"):
        ephpp_withdrawal_rating(bad)


@pytest.mark.parametrize(
    ("differences", "percent", "expected"),
    [
        # Dictionary, component C: no important baseline differences -> STRONG.
        (False, None, "strong"),
        # Differences present: >=80% of confounders controlled STRONG, 60-79% MODERATE,
        # <60% WEAK; control not described WEAK.
        (True, 85, "strong"),
        (True, 80, "strong"),
        (True, 70, "moderate"),
        (True, 59, "weak"),
        (True, None, "weak"),
        (None, None, "weak"),
        (None, 90, "strong"),
    ],
)
def test_ephpp_confounder_rating(differences, percent, expected):
    assert ephpp_confounder_rating(differences, percent) == expected


def test_ephpp_component_helpers_bad_input():
    with pytest.raises(InputError, match="design"):
        ephpp_design_rating("")
    with pytest.raises(InputError, match="design"):
        ephpp_design_rating(3)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="important_differences"):
        ephpp_confounder_rating("yes", 80)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="outside 0-100"):
        ephpp_confounder_rating(True, 120)


ephpp_values = st.lists(st.sampled_from(EPHPP_RATINGS), min_size=6, max_size=6)


@settings(max_examples=200, deadline=None)
@given(ephpp_values, st.integers(0, 5), st.sampled_from(EPHPP_RATINGS))
def test_ephpp_global_never_better_when_a_component_worsens(values, i, new):
    before = ephpp_rating(_ephpp(*values))
    worse = list(values)
    if EPHPP_RATINGS.index(new) < EPHPP_RATINGS.index(values[i]):
        new = values[i]
    worse[i] = new
    after = ephpp_rating(_ephpp(*worse))
    assert EPHPP_RATINGS.index(after.global_rating) >= EPHPP_RATINGS.index(before.global_rating)


@settings(max_examples=100, deadline=None)
@given(ephpp_values)
def test_ephpp_global_depends_only_on_number_of_weak(values):
    n_weak = values.count("weak")
    expected = "strong" if n_weak == 0 else "moderate" if n_weak == 1 else "weak"
    assert ephpp_rating(_ephpp(*values)).global_rating == expected


# ---- Health Evidence --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("score", "expected"),
    # Rule (healthevidence.org): STRONG 8-10, MODERATE 5-7, WEAK 0-4.
    [(10, "strong"), (8, "strong"), (7, "moderate"), (5, "moderate"), (4, "weak"), (0, "weak")],
)
def test_health_evidence_score_bands(score, expected):
    assert health_evidence_rating(score=score).rating == expected
    assert health_evidence_rating(score).rating == expected  # positional score


def test_health_evidence_items_sum_to_score():
    # Seven yes and three no: score 7 -> MODERATE (one short of STRONG's 8).
    r = health_evidence_rating([True] * 7 + [False] * 3)
    assert (r.score, r.rating) == (7, "moderate")
    assert r.items is not None and r.items["conclusions_supported"] is False
    assert r.risk_of_bias == "some concerns"
    # Eight yes: STRONG.
    r8 = health_evidence_rating([1, 1, 1, 1, 1, 1, 1, 1, 0, 0])
    assert (r8.score, r8.rating) == (8, "strong")
    # Four yes: WEAK.
    r4 = health_evidence_rating(["yes"] * 4 + ["no"] * 6)
    assert (r4.score, r4.rating, r4.risk_of_bias) == (4, "weak", "high")


def test_health_evidence_mapping_keys():
    keys = [k for k, _ in HE_ITEMS["current"]]
    by_key = health_evidence_rating({k: i % 2 == 0 for i, k in enumerate(keys)})
    by_number = health_evidence_rating({i + 1: i % 2 == 0 for i in range(10)})
    by_q = health_evidence_rating({f"Q{i + 1}": i % 2 == 0 for i in range(10)})
    assert by_key == by_number == by_q
    assert by_key.score == 5 and by_key.rating == "moderate"
    old = health_evidence_rating({f"q{i + 1}": True for i in range(10)}, version="2016")
    assert old.items is not None and "data_support_interpretation" in old.items
    assert "Do the data support the author's interpretation?" in old.summary()


def test_health_evidence_score_only_output():
    r = health_evidence_rating(score=6)
    assert isinstance(r, HealthEvidenceAssessment)
    assert r.items is None
    out = _roundtrip(r)
    assert out == {"instrument": "Health Evidence", "version": "current", "score": 6,
                   "rating": "moderate", "items": None, "risk_of_bias": "some concerns"}
    assert "6/10" in r.summary() and "MODERATE" in r.summary()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"score": 11}, "0 to 10"),
        ({"score": -1}, "0 to 10"),
        ({"score": 7.5}, "0 to 10"),
        ({"score": True}, "0 to 10"),
        ({}, "either"),
        ({"items": [True] * 10, "score": 10}, "either"),
        ({"items": 7, "score": 7}, "not both"),
        ({"items": [True] * 9}, "expected 10 values"),
        ({"items": [True] * 9 + ["maybe"]}, "not yes/no"),
        ({"items": [True] * 9 + [2]}, "not yes/no"),
        ({"items": {i: True for i in range(1, 10)}}, "missing"),
        ({"items": {**{i: True for i in range(1, 11)}, "q11": True}}, "unknown"),
        ({"score": 5, "version": "2020"}, "version"),
    ],
)
def test_health_evidence_bad_input(kwargs, message):
    with pytest.raises(InputError, match=message):
        health_evidence_rating(**kwargs)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.booleans(), min_size=10, max_size=10))
def test_health_evidence_items_agree_with_score(answers):
    r = health_evidence_rating(answers)
    assert r.score == sum(answers)
    assert r.rating == health_evidence_rating(score=sum(answers)).rating


# ---- RoB 2 ------------------------------------------------------------------------------------
def test_rob2_all_low_is_low():
    # Rule (Sterne et al. 2019): low risk of bias in all domains -> low.
    r = rob2_overall(["low"] * 5)
    assert r.overall == "low"
    assert r.reason == "low risk of bias in all domains"


def test_rob2_some_concerns_without_high():
    # Rule: some concerns in at least one domain, none high -> some concerns.
    r = rob2_overall(["low", "some concerns", "low", "some concerns", "low"])
    assert r.overall == "some concerns"
    assert r.n_some_concerns == 2
    assert "D2, D4" in r.reason


def test_rob2_any_high_is_high():
    # Rule: high risk in at least one domain -> high, whatever the others.
    r = rob2_overall({"D1": "low", "D2": "low", "D3": "high risk of bias", "D4": "low",
                      "D5": "low"})
    assert r.overall == "high"
    assert r.n_high == 1
    assert r.reason == "high risk of bias in D3"


def test_rob2_many_concerns_rule():
    # Rule: some concerns in multiple domains that substantially lower confidence -> high;
    # here the reviewer's threshold is 3 domains.
    two = ["some concerns", "some concerns", "low", "low", "low"]
    three = ["some concerns", "some concerns", "some concerns", "low", "low"]
    assert rob2_overall(two, many_concerns_is_high=3).overall == "some concerns"
    r = rob2_overall(three, many_concerns_is_high=3)
    assert r.overall == "high"
    assert "threshold 3" in r.reason
    assert rob2_overall(three).overall == "some concerns"  # default: no such rule


def test_rob2_domain_names_and_output():
    r = rob2_overall({
        "Bias arising from the randomization process": "Low risk of bias",
        "deviations_from_intended_interventions": "Some concerns",
        "missing outcome data": "LOW",
        "Measurement of the outcome": "low risk",
        "selective reporting": "low",
    })
    assert isinstance(r, Rob2Assessment)
    assert r.domains == {"D1": "low", "D2": "some concerns", "D3": "low", "D4": "low",
                         "D5": "low"}
    out = _roundtrip(r)
    assert out["overall"] == "some concerns" and out["risk_of_bias"] == "some concerns"
    assert "Overall: Some concerns" in r.summary()
    assert [d.key for d in ROB2_DOMAINS] == ["D1", "D2", "D3", "D4", "D5"]
    assert ROB2_DOMAINS[0].name == "Bias arising from the randomisation process"


@pytest.mark.parametrize(
    ("domains", "kwargs", "message"),
    [
        (["low"] * 4, {}, "expected 5 values"),
        (["low"] * 4 + ["unclear"], {}, "not a judgement"),
        (["low"] * 4 + ["no information"], {}, "not a judgement"),
        ({"D1": "low", "D2": "low", "D3": "low", "D4": "low", "D6": "low"}, {}, "unknown"),
        ({"D1": "low", "D2": "low", "D3": "low", "D4": "low"}, {}, "missing: D5"),
        (["low"] * 5, {"many_concerns_is_high": 1}, "from 2 to 5"),
        (["low"] * 5, {"many_concerns_is_high": 6}, "from 2 to 5"),
        (["low"] * 5, {"many_concerns_is_high": 2.0}, "from 2 to 5"),
        ("low", {}, "expected a mapping or a sequence"),
    ],
)
def test_rob2_bad_input(domains, kwargs, message):
    with pytest.raises(InputError, match=message):
        rob2_overall(domains, **kwargs)


rob2_values = st.lists(st.sampled_from(ROB2_JUDGEMENTS), min_size=5, max_size=5)
thresholds = st.one_of(st.none(), st.integers(2, 5))


@settings(max_examples=200, deadline=None)
@given(rob2_values, st.integers(0, 4), st.sampled_from(ROB2_JUDGEMENTS), thresholds)
def test_rob2_overall_monotone_in_domains(values, i, new, threshold):
    before = rob2_overall(values, many_concerns_is_high=threshold)
    worse = list(values)
    worse[i] = max(new, values[i], key=ROB2_JUDGEMENTS.index)
    after = rob2_overall(worse, many_concerns_is_high=threshold)
    assert ROB2_JUDGEMENTS.index(after.overall) >= ROB2_JUDGEMENTS.index(before.overall)


@settings(max_examples=100, deadline=None)
@given(rob2_values, thresholds)
def test_rob2_overall_is_worst_domain_unless_many_concerns(values, threshold):
    plain = rob2_overall(values).overall
    assert plain == max(values, key=ROB2_JUDGEMENTS.index)
    ruled = rob2_overall(values, many_concerns_is_high=threshold).overall
    assert ROB2_JUDGEMENTS.index(ruled) >= ROB2_JUDGEMENTS.index(plain)


# ---- ROBINS-I ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("domains", "expected"),
    [
        # Rule (Sterne et al. 2016, Table 2): low in all domains -> low.
        (["low"] * 7, "low"),
        # Low or moderate in all domains -> moderate.
        (["low", "moderate", "low", "low", "moderate", "low", "low"], "moderate"),
        # Serious in at least one domain, none critical -> serious, even with no information
        # elsewhere (there is a clear indication of serious risk).
        (["serious", "no information", "low", "low", "low", "low", "moderate"], "serious"),
        # Critical in at least one domain -> critical, whatever else.
        (["critical", "serious", "no information", "low", "low", "low", "low"], "critical"),
        # No clear indication of serious/critical risk and information lacking -> no info.
        (["moderate", "low", "no information", "low", "low", "low", "low"], "no information"),
        (["low", "low", "low", "low", "NI", "low", "low"], "no information"),
    ],
)
def test_robins_i_overall(domains, expected):
    assert robins_i_overall(domains).overall == expected


def test_robins_i_names_and_output():
    r = robins_i_overall({
        "confounding": "Serious risk of bias",
        "Bias in selection of participants into the study": "low",
        "classification of interventions": "low risk",
        "D4": "moderate",
        "missing-data": "No information",
        "measurement of outcomes": "low",
        "selection_of_the_reported_result": "low",
    })
    assert isinstance(r, RobinsIAssessment)
    assert r.domains["D1"] == "serious" and r.domains["D5"] == "no information"
    assert r.overall == "serious"
    assert r.reason == "serious risk of bias in D1, none critical"
    assert r.risk_of_bias == "high"
    out = _roundtrip(r)
    assert out["overall"] == "serious"
    assert "Overall: Serious risk of bias" in r.summary()
    assert len(ROBINS_DOMAINS) == 7 and ROBINS_DOMAINS[0].name == "Bias due to confounding"


@pytest.mark.parametrize(
    ("domains", "message"),
    [
        (["low"] * 6, "expected 7 values"),
        (["low"] * 6 + ["some concerns"], "not a judgement"),
        (["low"] * 6 + ["high"], "not a judgement"),
        ({"D1": "low", "D2": "low", "D3": "low", "D4": "low", "D5": "low", "D6": "low",
          "D8": "low"}, "unknown"),
    ],
)
def test_robins_i_bad_input(domains, message):
    with pytest.raises(InputError, match=message):
        robins_i_overall(domains)


robins_values = st.lists(st.sampled_from(ROBINS_JUDGEMENTS), min_size=7, max_size=7)


@settings(max_examples=200, deadline=None)
@given(robins_values)
def test_robins_i_overall_follows_published_steps(values):
    # The published steps, written out in order.
    if "critical" in values:
        expected = "critical"
    elif "serious" in values:
        expected = "serious"
    elif "no information" in values:
        expected = "no information"
    elif "moderate" in values:
        expected = "moderate"
    else:
        expected = "low"
    assert robins_i_overall(values).overall == expected


@settings(max_examples=200, deadline=None)
@given(robins_values, st.integers(0, 6), st.sampled_from(ROBINS_JUDGEMENTS))
def test_robins_i_overall_monotone(values, i, new):
    before = robins_i_overall(values).overall
    worse = list(values)
    worse[i] = max(new, values[i], key=ROBINS_SEVERITY.index)
    after = robins_i_overall(worse).overall
    assert ROBINS_SEVERITY.index(after) >= ROBINS_SEVERITY.index(before)


# ---- AMSTAR 2 ---------------------------------------------------------------------------------
def _amstar(no=(), partial=(), no_ma=()):
    answers = {i: "yes" for i in range(1, 17)}
    answers.update({i: "no" for i in no})
    answers.update({i: "partial yes" for i in partial})
    answers.update({i: "no meta-analysis" for i in no_ma})
    return answers


@pytest.mark.parametrize(
    ("no", "expected"),
    [
        # Rule (Shea et al. 2017, Box 2): HIGH = no or one non-critical weakness.
        ((), "high"),
        ((3,), "high"),
        # MODERATE = more than one non-critical weakness (no critical flaw).
        ((3, 5), "moderate"),
        ((1, 3, 5, 6, 8, 10, 12, 14, 16), "moderate"),
        # LOW = one critical flaw, with or without non-critical weaknesses.
        ((7,), "low"),
        ((7, 3, 5, 6), "low"),
        # CRITICALLY LOW = more than one critical flaw.
        ((2, 4), "critically low"),
        (CRITICAL_ITEMS, "critically low"),
    ],
)
def test_amstar2_confidence(no, expected):
    r = amstar2_rating(_amstar(no=no))
    assert r.confidence == expected


def test_amstar2_partial_yes_and_no_meta_analysis_are_not_weaknesses():
    # Partial yes (items 2, 4, 7, 8, 9) and "no meta-analysis" (11, 12, 15) are not "no".
    r = amstar2_rating(_amstar(partial=PARTIAL_YES_ITEMS, no_ma=META_ANALYSIS_ITEMS))
    assert r.confidence == "high"
    assert r.critical_flaws == () and r.noncritical_weaknesses == ()


def test_amstar2_fields_and_output():
    r = amstar2_rating(["yes", "partial yes", "yes", "no", "yes", "no", "yes", "yes", "PY",
                        "yes", "No meta-analysis", "NA", "yes", "no", "N/A", "Yes"])
    assert isinstance(r, Amstar2Assessment)
    assert r.critical_flaws == (4,)
    assert r.noncritical_weaknesses == (6, 14)
    assert r.confidence == "low"
    assert r.risk_of_bias == "high"
    out = _roundtrip(r)
    assert out["items"]["11"] == "no meta-analysis"
    assert out["critical_items"] == [2, 4, 7, 9, 11, 13, 15]
    assert "Overall confidence: LOW" in r.summary()
    by_key = amstar2_rating({f"Q{i}": a for i, a in r.items.items()})
    assert by_key == r


def test_amstar2_custom_critical_items():
    # Shea et al. allow appraisers to substitute critical domains: with item 3 critical and
    # item 7 not, a "no" on item 3 is a critical flaw and one on item 7 a weakness.
    r = amstar2_rating(_amstar(no=(3, 7)), critical_items=(2, 3, 4, 9, 11, 13, 15))
    assert r.critical_flaws == (3,) and r.noncritical_weaknesses == (7,)
    assert r.confidence == "low"


@pytest.mark.parametrize(
    ("items", "kwargs", "message"),
    [
        (["yes"] * 15, {}, "expected 16 values"),
        (_amstar(partial=(1,)), {}, "'partial yes' is not an option"),
        (_amstar(no_ma=(4,)), {}, "'no meta-analysis' is not an option"),
        ({**_amstar(), 17: "yes"}, {}, "unknown"),
        (["yes"] * 15 + ["maybe"], {}, "not a judgement"),
        (_amstar(), {"critical_items": (0, 2)}, "not an item number"),
    ],
)
def test_amstar2_bad_input(items, kwargs, message):
    with pytest.raises(InputError, match=message):
        amstar2_rating(items, **kwargs)


def _options(i):
    out = ["yes", "no"]
    if i in PARTIAL_YES_ITEMS:
        out.append("partial yes")
    if i in META_ANALYSIS_ITEMS:
        out.append("no meta-analysis")
    return st.sampled_from(out)


amstar_answers = st.tuples(*[_options(i) for i in range(1, 17)])
CONFIDENCE = ("high", "moderate", "low", "critically low")


@settings(max_examples=200, deadline=None)
@given(amstar_answers, st.integers(1, 16))
def test_amstar2_monotone(answers, i):
    # Turning any answer into "no" never raises confidence.
    before = amstar2_rating(list(answers)).confidence
    worse = list(answers)
    worse[i - 1] = "no"
    after = amstar2_rating(worse).confidence
    assert CONFIDENCE.index(after) >= CONFIDENCE.index(before)


@settings(max_examples=100, deadline=None)
@given(amstar_answers)
def test_amstar2_counts(answers):
    r = amstar2_rating(list(answers))
    nos = [i for i, a in enumerate(answers, start=1) if a == "no"]
    assert r.critical_flaws == tuple(i for i in nos if i in CRITICAL_ITEMS)
    assert len(r.critical_flaws) + len(r.noncritical_weaknesses) == len(nos)


# ---- NHMRC ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("design", "expected"),
    [
        # NHMRC 2009, Table 3, intervention column.
        ("systematic review of RCTs", "I"),
        ("Meta-analysis of randomized controlled trials", "I"),
        ("RCT", "II"),
        ("cluster randomised trial", "II"),
        ("pseudo-RCT", "III-1"),
        ("pseudorandomised controlled trial", "III-1"),
        ("alternate allocation", "III-1"),
        ("non-randomised trial", "III-2"),
        ("non-randomised experimental trial", "III-2"),
        ("cohort", "III-2"),
        ("retrospective cohort study", "III-2"),
        ("case-control study", "III-2"),
        ("ITS with a control group", "III-2"),
        ("controlled before-and-after study", "III-2"),  # footnote to III-2
        ("historical control study", "III-3"),
        ("two or more single-arm studies", "III-3"),
        ("interrupted time series without a parallel control group", "III-3"),
        ("ITS", "III-3"),  # project choice: a bare ITS has no parallel control group
        ("case series", "IV"),
        ("single-arm trial", "IV"),  # one single-arm study is a case series
        ("pre-post", "IV"),
        ("pre-test/post-test", "IV"),
        ("retrospective cohort without control", "IV"),
    ],
)
def test_nhmrc_level(design, expected):
    assert nhmrc_level(design) == expected


def test_nhmrc_systematic_review_takes_level_of_its_studies():
    # NHMRC 2009 footnote: a systematic review is level I only if it reviews level II studies;
    # otherwise it is "only assigned a level of evidence as high as the studies it contains".
    assert nhmrc_level("systematic review", included_levels=["II", "II", "II"]) == "I"
    assert nhmrc_level("systematic review", included_levels=["III-2", "III-2"]) == "III-2"
    assert nhmrc_level("meta-analysis", included_levels=["IV"]) == "IV"
    # Mixed levels: this project takes the lowest (documented choice).
    assert nhmrc_level("systematic review and meta-analysis",
                       included_levels=["II", "III-2", "IV"]) == "IV"
    assert nhmrc_level("systematic review", included_levels=["II", "III-1"]) == "III-1"
    # Named in the design: a review of cohort studies is III-2.
    assert nhmrc_level("systematic review of cohort studies") == "III-2"
    assert nhmrc_level("systematic review of level III-3 studies") == "III-3"
    # An overview of level I reviews rests on level II studies.
    assert nhmrc_level("systematic review", included_levels=["I", "II"]) == "I"
    assert nhmrc_level("systematic review of RCTs", included_levels=["II"]) == "I"


def test_nhmrc_ordering():
    assert list(NHMRC_LEVELS) == ["I", "II", "III-1", "III-2", "III-3", "IV"]
    assert [nhmrc_rank(x) for x in NHMRC_LEVELS] == [0, 1, 2, 3, 4, 5]
    assert nhmrc_rank("level iii-2") == 3
    assert nhmrc_worst(["II", "III-3", "III-1"]) == "III-3"
    assert NHMRC_LEVELS["II"] == "A randomised controlled trial"


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("systematic review",), {}, "pass included_levels"),
        (("meta-analysis",), {}, "pass included_levels"),
        (("systematic review",), {"included_levels": []}, "empty"),
        (("systematic review",), {"included_levels": ["V"]}, "not an NHMRC level"),
        (("RCT",), {"included_levels": ["II"]}, "systematic reviews only"),
        (("systematic review of RCTs",), {"included_levels": ["III-2"]}, "contradict"),
        (("expert opinion",), {}, "unknown"),
        (("",), {}, "not a design name"),
    ],
)
def test_nhmrc_bad_input(args, kwargs, message):
    with pytest.raises(InputError, match=message):
        nhmrc_level(*args, **kwargs)


def test_nhmrc_rank_bad_level():
    with pytest.raises(InputError, match="not an NHMRC level"):
        nhmrc_rank("III-4")
    with pytest.raises(InputError, match="none given"):
        nhmrc_worst([])


level_lists = st.lists(st.sampled_from(list(NHMRC_LEVELS)[1:]), min_size=1, max_size=8)


@settings(max_examples=100, deadline=None)
@given(level_lists)
def test_nhmrc_review_level_rule(levels):
    got = nhmrc_level("systematic review", included_levels=levels)
    if set(levels) == {"II"}:
        assert got == "I"
    else:
        # Never better than its weakest included study.
        assert got == max(levels, key=nhmrc_rank)


# ---- the project's risk-of-bias mapping -------------------------------------------------------
def test_risk_of_bias_category_of_each_instrument():
    # Project convention (appraisal.common.ROB_MAPPING).
    cases = [
        (ephpp_rating(_ephpp(*["strong"] * 6)), "low"),
        (ephpp_rating(_ephpp(*["weak"] * 2, *["strong"] * 4)), "high"),
        (health_evidence_rating(score=9), "low"),
        (health_evidence_rating(score=5), "some concerns"),
        (health_evidence_rating(score=3), "high"),
        (rob2_overall(["low"] * 5), "low"),
        (rob2_overall(["low"] * 4 + ["some concerns"]), "some concerns"),
        (rob2_overall(["low"] * 4 + ["high"]), "high"),
        (robins_i_overall(["low"] * 7), "low"),
        (robins_i_overall(["moderate"] * 7), "some concerns"),
        (robins_i_overall(["low"] * 6 + ["no information"]), "some concerns"),
        (robins_i_overall(["low"] * 6 + ["serious"]), "high"),
        (robins_i_overall(["low"] * 6 + ["critical"]), "high"),
        (amstar2_rating(_amstar()), "low"),
        (amstar2_rating(_amstar(no=(3, 5))), "some concerns"),
        (amstar2_rating(_amstar(no=(2,))), "high"),
        (amstar2_rating(_amstar(no=(2, 4))), "high"),
    ]
    for result, expected in cases:
        assert risk_of_bias_category(result) == expected, result.rating
        assert result.risk_of_bias == expected


def test_risk_of_bias_category_of_bare_ratings():
    assert risk_of_bias_category("strong") == "low"
    assert risk_of_bias_category("Moderate") == "some concerns"
    assert risk_of_bias_category("weak") == "high"
    assert risk_of_bias_category("some concerns") == "some concerns"
    assert risk_of_bias_category("High risk of bias") == "high"
    assert risk_of_bias_category("low", instrument="none") == "low"
    # AMSTAR 2 runs the other way: high confidence = low risk of bias.
    assert risk_of_bias_category("high", instrument="AMSTAR 2") == "low"
    assert risk_of_bias_category("low", instrument="amstar2") == "high"
    assert risk_of_bias_category("critically low") == "high"
    assert risk_of_bias_category("NI", instrument="ROBINS-I") == "some concerns"
    for instrument, table in ROB_MAPPING.items():
        for rating, category in table.items():
            assert risk_of_bias_category(rating, instrument=instrument) == category


def test_risk_of_bias_category_bad_input():
    with pytest.raises(InputError, match="not a rating"):
        risk_of_bias_category("excellent")
    with pytest.raises(InputError, match="not a rating of EPHPP"):
        risk_of_bias_category("serious", instrument="EPHPP")
    with pytest.raises(InputError, match="unknown"):
        risk_of_bias_category("low", instrument="Jadad")
    with pytest.raises(InputError, match="cannot read a rating"):
        risk_of_bias_category(3)
    with pytest.raises(InputError, match="given for a RoB 2 result"):
        risk_of_bias_category(rob2_overall(["low"] * 5), instrument="AMSTAR 2")
