"""The flagship review's report: its numbers are the data's and the engine's, byte for byte."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from metareview._util.textfmt import source_num as fmt_num
from metareview.report.review_report import build_report, render_html, write_report
from metareview.studies import load_folder
from metareview.synthesis import reconcile_single_arm
from metareview.synthesis.review import synthesize
from metareview.synthesis.single_arm import control_arms, single_arm_results

REVIEW = Path(__file__).resolve().parents[1] / "reviews" / "ketamine-chronic-pain"


@pytest.fixture(scope="module")
def built():
    review = load_folder(REVIEW)
    report = build_report(synthesize(review))
    return review, report, html.unescape(render_html(report))


def test_every_number_in_the_data_is_in_the_appendix_with_its_source(built):
    review, report, _ = built
    rows = {(r[0], r[1], r[2], r[3], r[4]) for r in report.appendix.rows}
    for r in review.outcomes:
        label = review.studies[r.study].label
        for name, val in (("estimate", r.estimate), ("CI low", r.ci_low),
                          ("CI high", r.ci_high)):
            if val is not None:
                key = (label, f"{r.outcome}, {r.timepoint}: {r.measure} {name}", fmt_num(val),
                       r.source, r.reliability)
                assert key in rows, key


def test_headline_numbers_appear_as_in_the_sources(built):
    _, _, text = built
    # reference: evidence/sources.md §1.2 (Cochrane 2025) and §2 (Tankha 2025 abstract)
    for s in ("-15.79", "-32.09", "0.51", "3.26", "1.05", "10.09", "20.3", "46.4"):
        assert s in text, s
    assert re.search(r"1,?034", text)


def test_reconciliation_is_the_library_function_on_the_data(built):
    review, report, text = built
    singles = single_arm_results(review)
    assert [s.label for s in singles] == ["Tankha 2025"]
    assert singles[0].proportion_range == pytest.approx((0.203, 0.464))
    groups, _ = control_arms(review)
    for arms in groups.values():
        rec = reconcile_single_arm(singles[0], arms)
        assert f"{100 * rec.pooled.estimate:.1f}%" in text
    q4 = next(a for a in report.answers if a.id == "Q4")
    assert "no control group" in q4.text and "regression to the mean" in q4.text


def test_answers_cover_the_four_questions_with_certainty(built):
    _, report, _ = built
    assert [a.id for a in report.answers] == ["Q1", "Q2", "Q3", "Q4"]
    for a in report.answers[:3]:
        assert a.certainty in ("high", "moderate", "low", "very low")


def test_same_data_same_bytes(tmp_path):
    a = write_report(load_folder(REVIEW), tmp_path / "a.html").read_bytes()
    b = write_report(load_folder(REVIEW), tmp_path / "b.html").read_bytes()
    assert a == b
    assert b"<script" not in a and not re.search(rb'(src|href)="(https?:)?//', a)


def test_evidence_map_carries_our_grade_where_a_row_was_graded(built):
    from metareview.synthesis.review import map_entries

    review, report, _ = built
    grades = report.synthesis.grades
    keyed = [g for g in grades if g.row_key is not None]
    assert keyed
    entries = map_entries(review, grades)
    by_row = dict(zip([(r.study, r.question, r.outcome, r.comparison, r.window)
                       for r in review.outcomes], entries, strict=False))
    for g in keyed:
        assert by_row[g.row_key]["certainty"] == g.level


def test_findings_are_those_of_the_report_before_the_generic_path(built):
    """The generic path gives the flagship's findings unchanged.

    ``tests/data/findings/ketamine-before-issue10.json`` was written by the report code of
    commit e2899cd (topic-specific layers), from the same review data: every graded outcome
    with its certainty and statement, the answers, and every row of the evidence tables, the
    review-level estimates and the number appendix.
    """
    import json

    review, report, _ = built
    before = json.loads((Path(__file__).parent / "data" / "findings"
                         / "ketamine-before-issue10.json").read_text(encoding="utf-8"))
    # Issue 11's GRADE rules change findings on purpose: indirectness from the protocol's
    # rules (rule 1), no grade above the source review's own certainty (rule 2) and
    # "little or no difference" only when the interval excludes the MID (rule 5) change the
    # certainty and statement of the outcomes they touch, and so the answers' texts and
    # certainties. What is graded, and on what basis, is unchanged; so is every outcome the
    # rules leave alone.
    # Issue 11 rule "pool where three or more trials share an outcome" adds one graded outcome
    # from the trials file (document "trials"); it is left out of the comparison here and
    # tested in tests/test_trial_pooling.py.
    new = [g for g in report.synthesis.grades if g.basis.startswith("pooled from arms.csv")]
    assert [g.name for g in new] == ["Responders immediately after a single infusion"]
    old = [g for g in report.synthesis.grades if g not in new]
    grades = [{"question": g.question, "outcome": g.name, "basis": g.basis} for g in old]
    assert grades == [{k: g[k] for k in ("question", "outcome", "basis")}
                      for g in before["grades"]]
    untouched = [(g, b) for g, b in zip(old, before["grades"], strict=True)
                 if _untouched_by_issue11_rules(g)]
    assert len(untouched) >= 3
    for g, b in untouched:
        assert (g.level, g.statement) == (b["certainty"], b["statement"])
    assert [a.id for a in report.answers] == [a["id"] for a in before["answers"]]
    # Issue 11 (sources): the data's errors were fixed from the sources' own text and dropped
    # seed content was entered, so the answers, appendix, estimates and tables differ from the
    # snapshot exactly there: the Cochrane sentence is quoted in English (seed 000), not from
    # a Spanish translation; Michelet's N is no longer credited to ISCRR Table 4, which has no
    # N; Marchetti's 16% is a percentage, not a count; the Pickering row cites estimates.csv
    # by line; guideline recommendations (Tables 10-11) and the 2021 review's own 40% / 10% /
    # 75% and Cleveland's completion and return figures are new rows; the appendix gained a
    # column naming the text to open. Everything else is asserted unchanged.
    now_app = [list(r[:5]) for r in report.appendix.rows]
    gone = [r for r in before["appendix"] if r not in now_app]
    assert gone == [
        ["Michelet 2018", "participants", "195", "iscrr2021 Table 4", "V"],
        ["Marchetti 2015", "discontinuation due to adverse effects, not stated: count estimate",
         "16", "iscrr2021 Table 8", "V"],
        ["Marchetti 2015", "discontinuation due to adverse effects, not stated: count events",
         "8", "iscrr2021 Table 8", "V"],
        *[["Pickering 2020", "pain intensity, AUC of daily pain over 35 days: effect size "
           f"(placebo vs ketamine/Mg, as reported) {q}", v, "evidence estimates.csv", "V"]
          for q, v in (("estimate", "0.2"), ("CI low", "-0.3"), ("CI high", "0.6"),
                       ("participants", "20"))]]
    estimates = [list(r) for r in report.review_estimates.rows]
    assert [r for r in before["review_estimates"] if r not in estimates] == []
    assert {r[0] for r in estimates if r not in before["review_estimates"]} == {
        "ISCRR 2021 (review's own synthesis)"}
    trials = tuple(sorted({review.studies[a.study].label for a in review.arms
                           if a.source.startswith("trials ")}))
    changed = ("Michelet 2018", "Ferraro 2025", "Marchetti 2015", "Cohen 2018", "ACOEM 2017",
               "ISCRR 2021", "Tankha 2025", *trials)
    now_tables = [{"title": t.title, "rows": [list(r) for r in t.rows]} for t in report.tables]
    assert [t["title"] for t in now_tables] == [t["title"] for t in before["tables"]]
    for t_now, t_old in zip(now_tables, before["tables"], strict=True):
        keep = [r for r in t_now["rows"] if not r[0].startswith(changed)]
        assert keep == [r for r in t_old["rows"] if not r[0].startswith(changed)]
    assert [p["estimate"] for p in before["pooled"]] == [
        fit.estimate for p in report.synthesis.pooled for _, fit in p.fits()
        if p.category != "responder_immediate"]


def _untouched_by_issue11_rules(g) -> bool:
    """Whether no issue-11 GRADE rule (indirectness rules, the source review's cap, wording
    against the MID) applies to a graded outcome."""
    c = g.certainty
    null = 1.0 if c.measure in ("RR", "OR", "HR", "IRR") else 0.0
    return (c.domains["indirectness"].change == 0 and c.ceiling is None
            and c.ci_low is not None and not c.ci_low <= null <= c.ci_high)
