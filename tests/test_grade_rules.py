"""Issue 11's GRADE rules, declared by a review's protocol as data: indirectness from rules,
never above the source review's own certainty without a shown reason, a question's certainty
from its critical outcomes, GRADE-26 wording against the MID, overrides that keep the proposal,
author and date. On small constructed review folders and on the flagship."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from metareview import InputError
from metareview.grade.statements import change_from_interval, statement
from metareview.studies import load_folder, write_folder
from metareview.synthesis.grading import question_certainty
from metareview.synthesis.review import synthesize

ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "reviews" / "ketamine-chronic-pain"

PROTOCOL = """\
id: toy
title: Toy review
pico:
  population: adults with chronic pain
  intervention: drug X
  comparator: placebo
  outcomes: [pain]
  intervention_name: Drug X
criteria:
  - {domain: Population, include: adults, exclude: children}
questions:
  - {id: Q1, text: "Does it work?"}
  - {id: Q2, text: "Does it spare opioids?"}
documents:
  - {id: doc, citation: A document, kind: evidence review}
mids:
  - {outcome: pain intensity, value: 1.0, scale: 0-10 NRS, source: doc §4, reliability: V}
vocabularies:
  population: {label: pain type, values: [neuropathic, perioperative, volunteers, other]}
kept_apart:
  populations: [perioperative]
  label: In surgery
  rest: In chronic pain
  name: perioperative
  rest_name: chronic-pain
indirectness:
  direct: [neuropathic]
  rules:
    - {population: volunteers, change: -2, reason: healthy volunteers with experimental pain}
    - {population: perioperative, change: -1, reason: acute post-surgical pain}
critical_outcomes:
  - {question: Q1, outcomes: [pain intensity]}
source: {document: doc, location: Table 3}
"""

STUDY = """\
id: {sid}
label: {label}
citation: {label}. A review.
year: {year}
kind: systematic review
design: systematic review of RCTs
evidence_level: I
population: adults
populations: [neuropathic]
intervention: {{drug: X, route: IV, regimen: single}}
comparator: placebo
questions: [Q1, Q2]
source: {{document: doc, location: Table 4}}
reliability: V
"""

HEAD = ("study,question,outcome,comparison,population,route,regimen,window,timepoint,measure,"
        "estimate,ci_low,ci_high,n_studies,n_participants,scale,i2,certainty_reported,direction,"
        "reported,source,reliability\n")
# r1: precise benefit, the review said very low; r2: healthy volunteers; r3: no population
# rule and not direct; r4: imprecise, CI includes no effect and the MID; r5: function (not
# critical), r6: perioperative (kept apart).


def row(sid: str, q: str, outcome: str, comparison: str, population: str, window: str,
        effect: str, size: str, scale: str = "0-10 NRS", cert: str = "",
        direction: str = "benefit") -> str:
    """One outcomes.csv row: ``effect`` "MD est low high", ``size`` "k n i2"."""
    measure, est, lo, hi = effect.split()
    k, n, i2 = size.split()
    return ",".join((sid, q, outcome, comparison, population, "IV", "single", window, "as reported",
                     measure, est, lo, hi, k, n, scale, i2, cert, direction, "as reported",
                     "doc Table 4", "V")) + "\n"


ROWS = "".join((
    row("r1", "Q1", "pain intensity", "X vs placebo", "neuropathic", "1-2 weeks",
        "MD -2.0 -2.6 -1.4", "4 400 10", cert="very low"),
    row("r2", "Q1", "pain intensity", "X vs placebo (experimental)", "volunteers",
        "immediate/24-48 h", "MD -1.5 -2.0 -1.2", "5 500 0"),
    row("r3", "Q1", "pain intensity", "X vs placebo", "other", "1-3 months",
        "MD -2.0 -2.5 -1.5", "5 500 0"),
    row("r4", "Q1", "pain intensity", "X vs placebo", "neuropathic", "> 3 months",
        "MD -1.6 -3.2 0.1", "3 300 20", direction="unclear"),
    row("r5", "Q1", "function", "X vs placebo", "neuropathic", "1-2 weeks",
        "MD -2.0 -2.6 -1.4", "5 500 0"),
    row("r6", "Q2", "opioid consumption", "X vs placebo (surgery)", "perioperative",
        "immediate/24-48 h", "MD -8.0 -9.0 -6.0", "20 2000 0", scale="mg", cert="moderate"),
))


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    (tmp_path / "studies").mkdir()
    (tmp_path / "protocol.yaml").write_text(PROTOCOL)
    for i, sid in enumerate(("r1", "r2", "r3", "r4", "r5", "r6")):
        (tmp_path / "studies" / f"{sid}.yaml").write_text(
            STUDY.format(sid=sid, label=f"Review {sid}", year=2010 + i))
    (tmp_path / "outcomes.csv").write_text(HEAD + ROWS)
    return tmp_path


def grades_by_study(folder: Path) -> dict[str, object]:
    syn = synthesize(load_folder(folder))
    return {g.basis.split(" (")[0].split()[-1]: g for g in syn.grades}


def domain(g, name: str):
    return next(d for d in g.domains() if d.name == name)


# ---- 1. indirectness from the protocol's rules ---------------------------------------------------
def test_indirect_population_downgraded_with_the_rules_reason(toy):
    g = grades_by_study(toy)
    hv = g["r2"].certainty.domains["indirectness"]
    assert hv.change == -2 and hv.assessable and not hv.overridden
    assert "healthy volunteers with experimental pain" in hv.rationale
    # high, -1 risk of bias (no trial ratings), -2 indirectness: very low
    assert g["r2"].level == "very low"
    assert domain(g["r2"], "indirectness").judgement == "very serious (−2)"
    periop = g["r6"].certainty.domains["indirectness"]
    assert periop.change == -1 and "acute post-surgical pain" in periop.rationale
    # a direct population: no change, assessed; a population neither direct nor ruled: left to
    # the reviewer
    direct = g["r1"].certainty.domains["indirectness"]
    assert direct.change == 0 and direct.assessable and "direct" in direct.rationale
    other = g["r3"].certainty.domains["indirectness"]
    assert other.change == 0 and not other.assessable
    assert "not assessable" == domain(g["r3"], "indirectness").judgement


def test_indirectness_rule_must_name_known_vocabulary(toy):
    (toy / "protocol.yaml").write_text(PROTOCOL.replace("population: volunteers, change",
                                                        "population: volunters, change"))
    with pytest.raises(InputError, match="unknown population 'volunters'"):
        load_folder(toy)


# ---- 2. never above the source review's own certainty --------------------------------------------
def test_never_above_the_source_reviews_certainty_without_a_shown_reason(toy):
    g = grades_by_study(toy)["r1"]
    # domains: high, risk of bias -1 -> moderate; the review itself said very low
    assert g.certainty.uncapped == "moderate" and g.level == "very low" and g.certainty.capped
    line = domain(g, "source review's certainty")
    assert line.judgement == "capped at the source review's own rating (very low)"
    assert "Capped at the source review's own rating (very low)" in g.statement
    assert g.to_dict()["assessment"]["uncapped"] == "moderate"
    # a recorded reason lifts the cap, and is printed beside the grade
    (toy / "judgements.csv").write_text(
        "question,outcome,comparison,window,domain,change,reason,by,date\n"
        "Q1,pain intensity,X vs placebo,1-2 weeks,source_certainty,0,"
        "the review rated its older trials only,AB,2026-12-01\n")
    g = grades_by_study(toy)["r1"]
    assert g.level == "moderate" and not g.certainty.capped
    assert "Graded above the source review's own rating (very low): the review rated its " \
           "older trials only (AB, 2026-12-01)." in g.statement
    assert domain(g, "source review's certainty").judgement == "graded above it (very low)"


def test_source_certainty_judgement_changes_no_level(toy):
    (toy / "judgements.csv").write_text(
        "question,outcome,comparison,window,domain,change,reason,by\n"
        "Q1,pain intensity,X vs placebo,1-2 weeks,source_certainty,-1,why,AB\n")
    with pytest.raises(InputError, match=r"judgements\.csv line 2, column change"):
        synthesize(load_folder(toy))


# ---- 3. a question's certainty: the lowest of its critical outcomes ------------------------------
def test_question_certainty_is_the_lowest_critical_outcome(toy):
    review = load_folder(toy)
    syn = synthesize(review)
    levels = {g.basis.split(" (")[0].split()[-1]: g.level for g in syn.grades}
    assert levels["r5"] == "moderate"  # function: not critical, so it does not count
    qc = question_certainty(syn.grades, review.protocol, "Q1")
    critical = [lv for s, lv in levels.items() if s in ("r1", "r2", "r3", "r4")]
    assert qc.level == "very low" == min(critical, key=["very low", "low", "moderate",
                                                         "high"].index)
    assert qc.critical == ("pain intensity",)
    assert all(name.startswith("pain intensity") for name in qc.deciding)
    # only kept-apart evidence: it does not set the chronic-pain question's certainty
    q2 = question_certainty(syn.grades, review.protocol, "Q2")
    assert q2.level is None and "perioperative" in q2.note
    # with no critical outcomes declared, every graded outcome counts
    (toy / "protocol.yaml").write_text(PROTOCOL.replace(
        "critical_outcomes:\n  - {question: Q1, outcomes: [pain intensity]}\n", ""))
    review = load_folder(toy)
    syn = synthesize(review)
    assert question_certainty(syn.grades, review.protocol, "Q1").level == "very low"
    (toy / "outcomes.csv").write_text(HEAD + "".join(
        line + "\n" for line in ROWS.splitlines() if line.startswith(("r5", "r6"))))
    review = load_folder(toy)
    qc = question_certainty(synthesize(review).grades, review.protocol, "Q1")
    assert qc.level == "moderate" and qc.critical == ()
    assert qc.note.startswith(f"the lowest certainty among {len(qc.deciding)} graded estimate")
    assert "(no critical outcomes declared, so every graded outcome counts); set by" in qc.note


# ---- 4. wording against the MID (GRADE guidelines 26) --------------------------------------------
@pytest.mark.parametrize(("lo", "hi", "mid", "change"), [
    (-32.09, 0.51, None, "uncertain"),   # no MID: an interval with no effect is never "none"
    (-32.09, 0.51, 10.0, "uncertain"),   # includes the MID below
    (-3.2, 0.1, 1.0, "uncertain"),
    (-0.4, 0.3, 1.5, "none"),            # excludes the MID on both sides
    (-1.5, 0.3, 1.5, "uncertain"),       # reaches the MID: not excluded
    (0.8, 1.1, (0.75, 1.25), "none"),
    (-2.6, -1.4, 1.0, "reduce"),
])
def test_imprecise_ci_including_no_effect_is_not_little_or_no_difference(lo, hi, mid, change):
    null = 1.0 if isinstance(mid, tuple) else 0.0
    assert change_from_interval(lo, hi, null, mid) == change
    for level in ("high", "moderate", "low"):
        text = statement("Drug X", "pain", change_from_interval(lo, hi, null, mid), level,
                         lean="reduce")
        assert ("little or no difference" in text) == (change == "none")


def test_imprecise_estimate_worded_uncertain_in_the_review(toy):
    g = grades_by_study(toy)["r4"]
    assert g.level == "low"  # risk of bias -1, imprecision -1 (CI includes the MID of 1)
    assert "little or no difference" not in g.statement
    assert g.statement.startswith("X may reduce pain intensity, but the confidence interval "
                                  "includes no effect (low certainty)")


# ---- 5. overrides keep the proposal, author and date ---------------------------------------------
def test_override_keeps_proposal_author_and_date(toy):
    (toy / "judgements.csv").write_text(
        "question,outcome,comparison,window,domain,change,reason,by,date\n"
        "Q1,pain intensity,X vs placebo (experimental),immediate/24-48 h,indirectness,-1,"
        "experimental pain models predict clinical analgesia,AB,2026-12-01\n")
    g = grades_by_study(toy)["r2"]
    d = g.certainty.domains["indirectness"]
    assert d.overridden and d.change == -1 and d.by == "AB" and d.date == "2026-12-01"
    assert d.proposed is not None and d.proposed.change == -2
    assert "healthy volunteers" in d.proposed.rationale
    shown = d.to_dict()
    assert (shown["by"], shown["date"], shown["change"]) == ("AB", "2026-12-01", -1)
    assert shown["proposed"]["change"] == -2
    line = domain(g, "indirectness")
    assert line.judgement == "serious (−1) (reviewer override)"
    assert "(AB, 2026-12-01)" in line.why and "Proposed: very serious (−2)" in line.why
    assert any("reviewer override by AB, 2026-12-01" in n for n in g.certainty.footnotes)
    # the date round-trips through the folder
    review = load_folder(toy)
    out = write_folder(review, toy.parent / "copy")
    assert "by,date,source,reliability\n" in (out / "judgements.csv").read_text()
    assert load_folder(out).judgements[0].date == "2026-12-01"


def test_judgement_date_must_be_an_iso_date(toy):
    (toy / "judgements.csv").write_text(
        "question,outcome,comparison,window,domain,change,reason,by,date\n"
        "Q1,pain intensity,X vs placebo,1-2 weeks,imprecision,-1,why,AB,2026-13-01\n")
    with pytest.raises(InputError, match=r"judgements\.csv line 2"):
        load_folder(toy)


# ---- the flagship --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def flagship():
    review = load_folder(FLAGSHIP)
    return review, synthesize(review)


def test_flagship_no_grade_above_its_source_review_without_a_shown_reason(flagship):
    review, syn = flagship
    order = ["very low", "low", "moderate", "high"]
    rows = {(r.study, r.question, r.outcome, r.comparison, r.window): r for r in review.outcomes}
    checked = 0
    for g in syn.grades:
        r = rows.get(g.row_key) if g.row_key else None
        reported = (r.certainty_reported or "").lower() if r else ""
        if reported not in order:
            continue
        checked += 1
        ceiling = g.certainty.ceiling
        if order.index(g.level) > order.index(reported):
            assert ceiling is not None and ceiling.lifted and ceiling.reason in g.statement
    assert checked >= 4
    levels = {(g.basis.split(" (")[0], g.key[1], g.key[3]): g.level for g in syn.grades}
    assert levels[("Ferraro 2025", "pain intensity", "unclear")] == "very low"
    assert levels[("Ferraro 2025", "any adverse event", "unclear")] == "low"
    assert levels[("Michelet 2018", "pain intensity", "1-3 months")] == "very low"


def test_flagship_indirect_populations_downgraded_with_the_rules_reason(flagship):
    _, syn = flagship
    thompson = [g for g in syn.grades if g.basis.startswith("Thompson 2019")]
    assert thompson and all(g.certainty.domains["indirectness"].change == -2 for g in thompson)
    assert all("healthy volunteers" in g.certainty.domains["indirectness"].rationale
               for g in thompson)
    periop = [g for g in syn.grades if g.kept_apart]
    assert periop and all(g.certainty.domains["indirectness"].change == -1 for g in periop)
    assert all("perioperative" in g.certainty.domains["indirectness"].rationale for g in periop)


def test_flagship_question_certainty_from_critical_outcomes(flagship):
    review, syn = flagship
    q1 = question_certainty(syn.grades, review.protocol, "Q1")
    assert q1.level == "very low"
    assert "pain intensity" in q1.critical
    q2 = question_certainty(syn.grades, review.protocol, "Q2")
    assert q2.level is None  # only perioperative reviews were graded, and they are kept apart
    q3 = question_certainty(syn.grades, review.protocol, "Q3")
    assert q3.level == "low"


def test_flagship_imprecise_md_not_little_or_no_difference(flagship):
    _, syn = flagship
    for g in syn.grades:
        c = g.certainty
        if c.ci_low is not None and c.ci_low <= (1.0 if c.measure in ("RR", "OR") else 0.0) \
                <= c.ci_high:
            assert "little or no difference" not in g.statement or \
                g.certainty.domains["imprecision"].change == 0
    ferraro = next(g for g in syn.grades if g.basis.startswith("Ferraro 2025")
                   and g.key[1] == "pain intensity")
    assert ferraro.certainty.estimate == pytest.approx(-15.79)
    assert "little or no difference" not in ferraro.statement
    assert "very uncertain" in ferraro.statement


def test_flagship_folder_round_trips_with_the_rules(tmp_path):
    out = write_folder(load_folder(FLAGSHIP), tmp_path / "k")
    assert (out / "protocol.yaml").read_bytes() == (FLAGSHIP / "protocol.yaml").read_bytes()
    syn = synthesize(load_folder(FLAGSHIP))
    lines = textwrap.shorten(" ".join(g.statement for g in syn.grades), 100000)
    assert "Capped at the source review's own rating (very low)" in lines


def test_pooled_trials_indirectness_from_their_arm_rows(toy):
    """A pooled outcome takes the worst rule any of its trials' arm rows match."""
    (toy / "protocol.yaml").write_text(PROTOCOL.replace(
        "source: {document: doc, location: Table 3}\n",
        "arm_categories:\n  - {id: any, title: Any adverse event, question: Q1}\n"
        "source: {document: doc, location: Table 3}\n"))
    for sid in ("a", "b"):
        (toy / "studies" / f"{sid}.yaml").write_text(STUDY.format(
            sid=sid, label=f"Trial {sid}", year=2015).replace("kind: systematic review",
                                                             "kind: primary study"))
    head = ("study,outcome,category,arm,role,events,total,population,route,regimen,window,"
            "timepoint,source,reliability\n")
    cells = [("a", "intervention", 10, 20, "neuropathic"), ("a", "control", 4, 20, "neuropathic"),
             ("b", "intervention", 6, 30, "volunteers"), ("b", "control", 3, 30, "volunteers")]
    (toy / "arms.csv").write_text(head + "".join(
        f"{s},any AE,any,{role},{role},{e},{n},{pop},IV,single,immediate/24-48 h,1 h,"
        "doc Table 8,V\n" for s, role, e, n, pop in cells))
    syn = synthesize(load_folder(toy))
    pooled = next(g for g in syn.grades if g.key == ("Q1", "Any adverse event", None, None))
    d = pooled.certainty.domains["indirectness"]
    assert d.change == -2 and "healthy volunteers with experimental pain" in d.rationale
    assert d.values["populations"] == ["neuropathic", "volunteers"]
