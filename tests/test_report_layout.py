"""The report a guideline panel reads: plain answers first, PRISMA and search methods, a usable
Summary of Findings, guideline recommendations, a table of contents and no repeated rows."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from metareview.grade import sof_row, summary_of_findings
from metareview.grade.sof import with_comparator_risk
from metareview.report.review_report import build_report, render_html
from metareview.studies import load_folder
from metareview.synthesis.review import sof_groups, synthesize

ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "reviews" / "ketamine-chronic-pain"
BCG = ROOT / "reviews" / "bcg-tuberculosis"


@pytest.fixture(scope="module")
def flagship():
    review = load_folder(FLAGSHIP)
    syn = synthesize(review)
    report = build_report(syn)
    return review, syn, report, render_html(report)


class _Tables(HTMLParser):
    """Every table's rows as text, and every id and local link of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[str]] = []
        self.ids: set[str] = set()
        self.links: list[str] = []
        self._stack: list[list[str]] = []
        self._row: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and (a.get("href") or "").startswith("#"):
            self.links.append(a["href"][1:])
        if tag == "table":
            self._stack.append([])
        elif tag == "tr" and self._stack:
            self._row = []

    def handle_endtag(self, tag):
        if tag == "tr" and self._stack and self._row is not None:
            self._stack[-1].append(" | ".join(c.strip() for c in self._row if c.strip()))
            self._row = None
        elif tag == "table" and self._stack:
            self.tables.append(self._stack.pop())

    def handle_data(self, data):
        if self._row is not None:
            self._row.append(data)


def _parse(html: str) -> _Tables:
    p = _Tables()
    p.feed(html)
    return p


def test_table_of_contents_links_every_section_and_each_anchor_exists(flagship):
    *_, report, html = flagship
    page = _parse(html)
    assert "<nav class=\"toc\"" in html
    assert [a for a, _ in report.toc] == page.links[:len(report.toc)]
    assert len(page.links) >= 10
    missing = [a for a in page.links if a not in page.ids]
    assert missing == []
    for anchor in ("bottom-line", "answers", "grade", "search", "guidelines", "appendix"):
        assert anchor in page.links


def test_answers_and_reconciliation_come_before_the_evidence_tables(flagship):
    *_, html = flagship
    order = [html.index(f'id="{a}"') for a in
             ("bottom-line", "answers", "reconciliation", "grade", "tables", "appendix")]
    assert order == sorted(order)


def test_every_question_has_a_plain_answer_with_a_certainty(flagship):
    review, syn, _, html = flagship
    assert [a.id for a in syn.answers] == [q.id for q in review.protocol.questions]
    for a in syn.answers:
        assert a.plain and a.headline and a.reason
        assert a.certainty in ("high", "moderate", "low", "very low")
        assert a.plain in html.replace("&#39;", "'").replace("&amp;", "&") or a.plain[:60] in html
    q1 = syn.answers[0]
    # informative-statement wording, not statements glued together
    # The newest source (Cochrane 2025, MD -15.79, 95% CI -32.09 to 0.51, rated very low by the
    # review itself) leads: capped at its own rating, and imprecise, so "very uncertain".
    # The four trials pooled here (responders immediately after one infusion) lead with their
    # own, higher certainty; the critical outcome pain intensity sets the question's.
    assert q1.headline == ("Ketamine may increase responders immediately after a single infusion "
                           "(low certainty). The evidence is very uncertain about the effect of "
                           "ketamine on pain intensity (very low certainty).")
    # The question's certainty is its lowest critical outcome's (GRADE), not the best one's.
    assert q1.certainty == "very low" and "critical outcomes" in q1.certainty_note
    assert "older sources found a reduction" in q1.plain


def test_reconciliation_question_gets_a_conclusion_with_its_own_certainty(flagship):
    _, syn, *_ = flagship
    q4 = next(a for a in syn.answers if a.id == "Q4")
    assert q4.certainty == "very low"
    assert "at most low certainty" in q4.reason
    assert "no control group" in q4.plain and "regression to the mean" in q4.plain
    assert "20.3–46.4%" in q4.plain
    # the regression-to-the-mean reason is the study's selection, not its population text
    rtm = [e for r in syn.reconciliation.results for e in r.reconciliation.explanations
           if e.factor == "regression to the mean"]
    assert rtm and all("selection on baseline severity" in e.why for e in rtm)
    assert all("Adults with" not in e.why and "refractory" not in e.why.lower() for e in rtm)


def test_prisma_flow_says_not_reported_for_unknown_boxes_never_zero(flagship):
    *_, html = flagship
    i = html.index('id="search"')
    section = html[i:html.index("</h2>", html.index("<h2", i + 10))]
    svg = section[section.index("<svg"):section.index("</svg>")]
    assert "Records screened" in svg and "Studies included in review" in svg
    assert svg.count("n = not reported") >= 6
    assert "n = 19" in svg  # the source review's included studies (9 + 1 + 9)
    assert not re.search(r"n = 0\b", svg) and "n = NA" not in svg


def test_methods_list_the_protocol_databases_dates_and_terms(flagship):
    review, *_, html = flagship
    search = review.protocol.search
    i = html.index('id="search"')
    for db in search.databases:
        assert db in html[i:]
    assert search.dates in html and "Ketamine (exploded to include synonyms)" in html
    assert search.databases == ["Medline", "Cochrane", "Embase", "CINAHL"]


def test_sof_ratio_outcomes_have_absolute_effects_from_the_data_control_risk(flagship):
    review, syn, _, html = flagship
    rows = {r.outcome: r for g in sof_groups(review, syn.grades) for r in g.rows}
    any_ae = rows["any adverse event: IV ketamine vs placebo"]
    # control arms: Pickering 2020 placebo 2/20 -> 100 per 1,000; RR 3.26 -> 326 per 1,000
    assert any_ae.absolute is not None and any_ae.comparator_text == "100 per 1,000"
    assert any_ae.effect_text.startswith("226 more per 1,000")
    assert "2 events among 20 participants" in any_ae.comparator_note
    nausea = rows["nausea: IV ketamine vs placebo"]
    assert nausea.effect_text == "not estimable: no control risk in the data"
    assert "not estimable: no control risk in the data" in html


def test_sof_has_one_table_per_population(flagship):
    review, syn, *_ = flagship
    groups = sof_groups(review, syn.grades)
    assert [g.title for g in groups] == ["In chronic pain", "Perioperatively (kept apart)",
                                         "Experimental pain in healthy volunteers (indirect "
                                         "evidence)"]
    main = [r.outcome for r in groups[0].rows]
    assert not any("perioperative" in o or "experimental" in o for o in main)
    assert all("perioperative" in r.outcome for r in groups[1].rows)


def test_sof_units_are_clean_scale_goes_with_the_outcome(flagship):
    review, syn, *_ = flagship
    rows = [r for g in sof_groups(review, syn.grades) for r in g.rows]
    cochrane = next(r for r in rows if r.scale == "0-100 (inferred)")
    assert cochrane.effect_text == "MD 15.79 lower (32.09 lower to 0.51 higher)"
    assert "scale: 0-100 (inferred)" in cochrane.outcome_text
    minutes = next(r for r in rows if r.scale == "minutes")
    assert minutes.effect_text.startswith("MD 54.00 minutes higher")


def test_a_footnote_on_every_row_is_said_once_for_the_table():
    shared, own = "Risk of bias: some concerns.", "Imprecision: wide CI."
    from metareview.grade.certainty import assess_certainty

    c1 = assess_certainty("a", design="randomised", measure="RR", estimate=0.5, ci_low=0.3,
                          ci_high=0.8, k=3, n_participants=400)
    r1 = sof_row("a", certainty=c1)
    r1 = type(r1)(**{**r1.__dict__, "certainty_notes": (shared, own)})
    r2 = type(r1)(**{**r1.__dict__, "outcome": "b", "certainty_notes": (shared,)})
    sof = summary_of_findings([r1, r2], title="T")
    assert sof.general == (shared,)
    assert sof.footnotes == (own,)
    html = sof.to_html()
    assert html.count(shared) == 1 and "All outcomes in this table" in html


def test_with_comparator_risk_computes_absolute_effects_or_says_why_not():
    row = sof_row("events", measure="RR", estimate=0.5, ci_low=0.3, ci_high=0.8,
                  comparator_risk=None)
    assert row.effect_text == "—"
    with_risk = with_comparator_risk(row, 0.2, "control arms")
    assert with_risk.effect_text == "100 fewer per 1,000 (from 140 fewer to 40 fewer)"
    assert with_risk.comparator_note == "control arms"
    without = with_comparator_risk(row, None)
    assert without.comparator_text == "not estimable"
    assert without.effect_text == "not estimable: no control risk in the data"


def test_guideline_recommendations_have_strength_and_source(flagship):
    _, _, report, html = flagship
    rows = report.guidelines.rows
    # reference: iscrr2021 Table 10 (the guidelines' rows of outcomes.csv)
    assert ("ACOEM 2017", "CRPS", "CRPS: Not recommended", "Insufficient evidence",
            "iscrr2021 Table 10 [V]") in rows
    assert any(r[1] == "CRPS" and r[3] == "Grade B, moderate certainty" for r in rows)
    assert len(rows) == len({r[:3] for r in rows}) == 25
    assert "not reported — not rated" not in html


def test_no_table_repeats_a_row(flagship):
    *_, html = flagship
    for rows in _parse(html).tables:
        body = [r for r in rows if r]
        dup = {r for r in body if body.count(r) > 1}
        assert not dup, sorted(dup)[:3]


def test_domain_judgements_are_one_table_with_one_row_per_outcome(flagship):
    _, syn, _, html = flagship
    tables = [t for t in _parse(html).tables if t and t[0].startswith("Question | Outcome")]
    assert len(tables) == 1 and len(tables[0]) == len(syn.grades) + 1
    assert html.count("<details><summary>Why each domain was judged so") == 1


def test_evidence_map_shows_graded_results_first_and_keeps_every_result(flagship):
    _, syn, _, html = flagship
    assert syn.graded_map is not None and syn.evidence_map is not None
    assert all(c.best_certainty for c in syn.graded_map.cells)
    assert any(c.best_certainty is None for c in syn.evidence_map.cells)
    assert len(syn.graded_map.cells) < len(syn.evidence_map.cells)
    i = html.index('id="map"')
    assert html.index("graded results only", i) < html.index("Every result, graded or not", i)


def test_bcg_report_still_builds_with_answers_first(tmp_path):
    review = load_folder(BCG)
    report = build_report(synthesize(review))
    html = render_html(report)
    (answer,) = report.answers
    assert answer.certainty == "very low" and answer.plain.startswith("The evidence is very "
                                                                      "uncertain")
    page = _parse(html)
    assert [a for a in page.links if a not in page.ids] == []
    assert html.index('id="answers"') < html.index('id="tables"')
    assert "<script" not in html


def test_a_project_draws_its_prisma_flow_from_its_own_records(tmp_path, db_url):
    from typer.testing import CliRunner

    from metareview.cli import app
    from metareview.records.model import ImportBatch, Record
    from metareview.store.project import Project

    root = tmp_path / "rv"
    recs = tuple(Record(title=f"Trial {i}", authors=("Alvarez, M",), year=2023,
                        doi=f"10.1/{i}") for i in range(3))
    with Project.create(root, "flow", db_url=db_url, reviewers_required=1) as p:
        p.add_import(ImportBatch(recs, "PubMed", kind="database", format="ris",
                                 filename="p.ris", sha256="s"))
        for rid in (1, 2, 3):
            p.decide(rid, "title_abstract", "ann", "include" if rid < 3 else "exclude")
    runner = CliRunner()
    for args in (["review", "import", str(FLAGSHIP), "--by", "ann", "-r", str(root)],
                 ["report", str(root), "--out", str(tmp_path / "r.html")]):
        res = runner.invoke(app, args)
        assert res.exit_code == 0, res.output
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    i = html.index('id="search"')
    svg = html[html.index("<svg", i):html.index("</svg>", i)]
    assert "counted from this review&#39;s records" in html or \
        "counted from this review's records" in html
    assert "Databases (n = 3)" in svg and "Records excluded" in svg
    assert "not reported" not in svg


def test_answers_quote_what_the_rebuilt_review_concluded(flagship):
    """The protocol's ``source_review`` study holds the 2021 review's own conclusions; each
    answer quotes them with their location, so its nuance (how long relief lasts) and its
    across-study figures (40% with an adverse effect, up to 75% guessing allocation) stay in
    the answers. reference: seed 003 (iscrr2021), Findings; Adverse effects of ketamine;
    Considerations and challenges."""
    review, syn, _, html = flagship
    assert review.protocol.source_review == "iscrr2021"
    by_id = {a.id: a.plain for a in syn.answers}
    assert "first 24-48 hour period" in by_id["Q1"] and "up to three months" in by_id["Q1"]
    assert "(iscrr2021 Findings [V])" in by_id["Q1"]
    assert "only weak evidence showed opioid-sparing effects" in by_id["Q2"]
    assert "approximately 40 per cent" in by_id["Q3"] and "up to 10 per cent" in by_id["Q3"]
    assert "up to 75 per cent of patients correctly guessed allocation" in by_id["Q4"]
    # The uncontrolled cohort's completion and return figures, in its sources' words
    # (reference: seed 002, the Cleveland Clinic press release; evidence §2).
    assert "Tankha 2025 also reported, uncontrolled: treatment completion:" in by_id["Q4"]
    assert "890 (86.1%) completed ≥5 infusions" in by_id["Q4"]
    assert "80% of patients returned for repeat infusions" in by_id["Q4"]
    assert "first 24-48 hour period" in html


def test_an_unknown_source_review_is_one_located_error(tmp_path):
    import shutil

    from metareview.errors import InputError
    from metareview.studies import load_folder

    root = tmp_path / "k"
    shutil.copytree(Path(__file__).resolve().parents[1] / "reviews" / "ketamine-chronic-pain",
                    root)
    proto = root / "protocol.yaml"
    proto.write_text(proto.read_text(encoding="utf-8").replace(
        "source_review: iscrr2021", "source_review: nobody2021"), encoding="utf-8")
    with pytest.raises(InputError, match=r"protocol.yaml, field source_review: unknown study "
                                         r"'nobody2021'"):
        load_folder(root)
