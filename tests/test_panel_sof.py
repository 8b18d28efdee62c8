"""A panel's own Summary of Findings (synthesis/panel.py): chosen outcomes in the chosen
order, assumed comparator risks that change only the absolute effects."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metareview.errors import InputError
from metareview.studies import load_folder
from metareview.synthesis.panel import panel_row, panel_sof
from metareview.synthesis.review import synthesize

REVIEWS = Path(__file__).resolve().parents[1] / "reviews"


@cache
def _syn(name: str):
    return synthesize(load_folder(REVIEWS / name))


def test_all_outcomes_by_default_as_the_report_has_them():
    syn = _syn("ketamine-chronic-pain")
    sof = panel_sof(syn)
    assert [r.outcome for r in sof.rows] == [g.sof_row.outcome for g in syn.grades]
    assert [r.certainty for r in sof.rows] == [g.level for g in syn.grades]


def test_an_assumed_risk_changes_the_absolute_effects_only():
    syn = _syn("bcg-tuberculosis")  # one outcome: tuberculosis cases, RR
    base = panel_row(syn, 0)
    row = panel_row(syn, 0, 0.05)
    # risk with the vaccine per 1,000 = 1,000 × risk × RR (and its CI bounds)
    assert row.absolute.risk_comparator == pytest.approx(50.0, rel=1e-12)
    assert row.absolute.risk_intervention == pytest.approx(50.0 * base.estimate, rel=1e-12)
    assert row.absolute.risk_intervention_low == pytest.approx(50.0 * base.ci_low, rel=1e-12)
    assert row.absolute.risk_intervention_high == pytest.approx(50.0 * base.ci_high, rel=1e-12)
    assert row.absolute.difference == pytest.approx(50.0 * (base.estimate - 1), rel=1e-12)
    assert (row.estimate, row.ci_low, row.ci_high, row.certainty) == (
        base.estimate, base.ci_low, base.ci_high, base.certainty)
    assert "set by the panel: 50 per 1,000" in row.comparator_note
    assert f"data's own is {base.absolute.risk_comparator:.0f} per 1,000" in row.comparator_note
    html = panel_sof(syn, [0], {0: 0.05}).to_html()
    assert "set by the panel" in html


def test_chosen_outcomes_come_in_the_chosen_order():
    syn = _syn("ketamine-chronic-pain")
    sof = panel_sof(syn, [13, 0, 2], {13: 0.1})
    assert [r.outcome for r in sof.rows] == [syn.grades[i].sof_row.outcome for i in (13, 0, 2)]
    assert sof.rows[0].absolute.risk_comparator == pytest.approx(100.0)


@pytest.mark.parametrize(("outcomes", "risks", "message"), [
    ([0, 0], {}, "chosen twice"),
    ([99], {}, "outcome 100: there are 18 graded outcomes"),
    ([], {}, "at least one"),
    ([0], {1: 0.2}, "not shown"),
    ([0], {0: 1.5}, "between 0 and 1"),
    ([2], {2: 0.2}, "(MD) has no risk with the comparator"),
])
def test_bad_choices_are_one_clear_line(outcomes, risks, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        panel_sof(_syn("ketamine-chronic-pain"), outcomes, risks)


@settings(max_examples=40, deadline=None)
@given(st.permutations(range(18)).flatmap(
    lambda p: st.integers(1, 18).map(lambda k: p[:k])),
       st.floats(0.001, 0.999))
def test_any_choice_keeps_each_outcomes_grade_and_relative_effect(order, risk):
    syn = _syn("ketamine-chronic-pain")
    ratio = [i for i in order if syn.grades[i].sof_row.measure in ("RR", "OR")]
    sof = panel_sof(syn, order, {i: risk for i in ratio})
    for i, row in zip(order, sof.rows, strict=True):
        g = syn.grades[i].sof_row
        assert (row.outcome, row.certainty, row.estimate, row.ci_low) == (
            g.outcome, g.certainty, g.estimate, g.ci_low)
        if i in ratio:
            assert row.absolute.risk_comparator == pytest.approx(1000 * risk)


def test_a_judgement_is_the_row_that_makes_it_count():
    from metareview.synthesis.panel import judgement

    syn = _syn("bcg-tuberculosis")
    row = judgement(syn, 0, "inconsistency", -1, "  I² 92%,\nbut all favour the vaccine ",
                    by="ann", date="2026-12-06")
    assert (row.question, row.outcome, row.domain, row.change, row.by) == (
        *syn.grades[0].key[:2], "inconsistency", -1, "ann")
    assert row.reason == "I² 92%, but all favour the vaccine"


@pytest.mark.parametrize(("index", "domain", "change", "reason", "message"), [
    (5, "imprecision", -1, "r", "no such graded outcome"),
    (0, "imprecision", 1, "r", "imprecision: not a judgement GRADE allows here"),
    (0, "large_effect", -1, "r", "large effect: not a judgement GRADE allows here"),
    (0, "made_up", 0, "r", "made_up: not a judgement"),
    (0, "imprecision", -1, "  ", "give the reason"),
])
def test_a_judgement_grade_does_not_allow_is_refused(index, domain, change, reason, message):
    from metareview.synthesis.panel import judgement

    with pytest.raises(InputError, match=message):
        judgement(_syn("bcg-tuberculosis"), index, domain, change, reason, by="a",
                  date="2026-12-06")
