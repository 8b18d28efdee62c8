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
    # Issue 11 rule "pool where three or more trials share an outcome" added trial-level data
    # from the trials file (document "trials"): its pooled outcome is graded and answered, its
    # numbers are in the appendix and its trials in the tables. Everything else is unchanged.
    new = [g for g in report.synthesis.grades if g.basis.startswith("pooled from arms.csv")]
    assert [g.name for g in new] == ["Responders immediately after a single infusion"]
    grades = [{"question": g.question, "outcome": g.name, "certainty": g.level,
               "statement": g.statement, "basis": g.basis}
              for g in report.synthesis.grades if g not in new]
    assert grades == before["grades"]
    answers = [{"id": a.id, "certainty": a.certainty, "text": a.text} for a in report.answers]
    for g in new:
        for a in answers:
            a["text"] = a["text"].replace(g.statement + " ", "")
    assert answers == before["answers"]
    assert [list(r) for r in report.appendix.rows
            if not r[3].startswith("trials ")] == before["appendix"]
    assert [list(r) for r in report.review_estimates.rows] == before["review_estimates"]
    touched = {review.studies[a.study].label for a in review.arms
               if a.source.startswith("trials ")}
    assert [{"title": t.title, "rows": [list(r) for r in t.rows
                                        if r[0].split(":")[0] not in touched]}
            for t in report.tables] == [
        {"title": t["title"], "rows": [r for r in t["rows"] if r[0].split(":")[0] not in touched]}
        for t in before["tables"]]
    assert [p["estimate"] for p in before["pooled"]] == [
        fit.estimate for p in report.synthesis.pooled for _, fit in p.fits()
        if p.category != "responder_immediate"]
