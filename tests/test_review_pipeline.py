"""The review layer and report pieces on a small constructed review with known answers."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from metareview import InputError, effect_sizes, meta_analysis
from metareview.report.tables import describe_result, evidence_tables, number_appendix
from metareview.studies import load_folder as load_review
from metareview.synthesis.pooling import pool_arms

PROTOCOL = """\
id: toy
title: Toy review
pico:
  population: adults with chronic pain
  intervention: ketamine
  comparator: placebo
  outcomes: [pain]
  intervention_name: Ketamine
criteria:
  - {domain: Population, include: adults, exclude: children}
questions:
  - {id: Q1, text: "Does it work?"}
  - {id: Q3, text: "What harms?"}
documents:
  - {id: doc, citation: A document, kind: evidence review}
arm_categories:
  - {id: any, title: Any adverse event, question: Q3}
tables:
  - {title: "Primary studies: does it work?", question: Q1, kinds: [primary study]}
source: {document: doc, location: Table 3}
"""


def study(sid: str, label: str, kind: str = "primary study", rating: str = "weak") -> str:
    return textwrap.dedent(f"""\
        id: {sid}
        label: {label}
        citation: {label}. A trial.
        year: 2010
        kind: {kind}
        design: RCT
        evidence_level: II
        population: adults
        populations: [neuropathic]
        intervention: {{drug: ketamine, route: IV, regimen: single}}
        comparator: placebo
        quality:
          instrument: EPHPP
          rating: {rating}
          source: {{document: doc, location: Table 5}}
        questions: [Q1, Q3]
        source: {{document: doc, location: Table 5}}
        reliability: V
        """)


ARMS = """\
study,outcome,category,arm,role,events,total,population,route,regimen,window,timepoint,source,reliability
a,any AE,any,ketamine,intervention,10,20,neuropathic,IV,single,immediate/24-48 h,infusion,doc Table 8,V
a,any AE,any,placebo,control,4,20,neuropathic,IV,single,immediate/24-48 h,infusion,doc Table 8,V
b,any AE,any,ketamine,intervention,6,30,neuropathic,IV,single,immediate/24-48 h,infusion,doc Table 8,V
b,any AE,any,placebo,control,3,30,neuropathic,IV,single,immediate/24-48 h,infusion,doc Table 8,V
"""

OUTCOMES = """\
study,question,outcome,comparison,population,route,regimen,window,timepoint,measure,estimate,ci_low,ci_high,p,direction,reported,source,reliability
a,Q1,pain intensity,ketamine vs placebo,neuropathic,IV,single,1-2 weeks,2 weeks,MD,-1.83,-2.35,-1.31,<0.001,benefit,pain fell,doc Table 4,V
"""


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    (tmp_path / "studies").mkdir()
    (tmp_path / "protocol.yaml").write_text(PROTOCOL)
    (tmp_path / "studies" / "a.yaml").write_text(study("a", "Alpha 2010"))
    (tmp_path / "studies" / "b.yaml").write_text(study("b", "Beta 2011", rating="strong"))
    (tmp_path / "arms.csv").write_text(ARMS)
    (tmp_path / "outcomes.csv").write_text(OUTCOMES)
    return tmp_path


def test_load_and_tables(toy):
    review = load_review(toy)
    assert sorted(review.studies) == ["a", "b"]
    row = review.outcomes[0]
    assert describe_result(row) == ("pain intensity (2 weeks): MD -1.83 [-2.35, -1.31], "
                                    "p <0.001 [V]")
    tables = evidence_tables(review)
    primary = next(t for t in tables if t.title.startswith("Primary studies"))
    assert [r[0].split(":")[0] for r in primary.rows] == ["Alpha 2010", "Beta 2011"]
    assert "MD -1.83" in primary.rows[0][6] and primary.rows[0][7] == "weak (EPHPP)"
    values = {(r[0], r[1]): r[2] for r in number_appendix(review).rows}
    assert values[("Alpha 2010", "any AE, ketamine arm")] == "10/20"
    assert values[("Alpha 2010", "pain intensity, 2 weeks: MD estimate")] == "-1.83"


def test_pooling_equals_the_engine_on_the_same_tables(toy):
    pooled = pool_arms(load_review(toy))
    (any_ae,) = pooled
    import pandas as pd

    df = pd.DataFrame({"ai": [10, 6], "n1i": [20, 30], "ci": [4, 3], "n2i": [20, 30]})
    direct = meta_analysis(effect_sizes(df, "RR"), method="REML")
    assert any_ae.ratio.estimate == pytest.approx(direct.estimate, rel=1e-12)
    assert any_ae.ratio.ci_low == pytest.approx(direct.ci_low, rel=1e-12)
    # Pooled proportion of the ketamine arms: 10/20 and 6/30 on the logit scale.
    prop = any_ae.proportion
    assert prop.k == 2
    assert prop.yi == pytest.approx(np.log([10 / 10, 6 / 24]))


@pytest.mark.parametrize(
    ("target", "edit", "words"),
    [
        ("studies/a.yaml", ("rating: weak", "rating: excellent"), ["a.yaml line 14",
                                                                    "quality.rating"]),
        ("studies/a.yaml", ("year: 2010", "year: soon"), ["a.yaml line 4", "year"]),
        ("arms.csv", ("10,20,", "30,20,"), ["arms.csv line 2", "exceed"]),
        ("outcomes.csv", ("-2.35,-1.31", "-1.31,-2.35"), ["outcomes.csv line 2", "ci_low"]),
        ("outcomes.csv", ("doc Table 4", "elsewhere Table 4"), ["outcomes.csv line 2",
                                                               "source"]),
        ("arms.csv", ("\na,any AE", "\nzzz,any AE"), ["arms.csv line 2", "unknown study"]),
        ("arms.csv", (",infusion,doc Table 8,V\nb,any AE,any,ketamine", ",infusion\nb,any AE,any,"
                      "ketamine"), ["arms.csv line 3, column source",
                                    "fewer cells than the header has columns"]),
    ],
)
def test_bad_data_is_located_by_file_and_line(toy, target, edit, words):
    path = toy / target
    text = path.read_text()
    assert edit[0] in text
    path.write_text(text.replace(edit[0], edit[1], 1))
    with pytest.raises(InputError) as err:
        load_review(toy)
    msg = str(err.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, (w, msg)


SINGLE_ARM = textwrap.dedent("""\
    id: c
    label: Gamma 2025
    citation: Gamma 2025. A cohort.
    year: 2025
    kind: primary study
    design: retrospective single-arm cohort
    evidence_level: IV
    population: adults with refractory chronic pain
    populations: [mixed]
    n_participants: 200
    intervention: {drug: ketamine, route: IV, regimen: multi-day}
    comparator: none
    questions: [Q4]
    source: {document: doc, location: abstract}
    reliability: V
    """)

PLACEBO = """\
study,condition,responder_definition,events,total,n_trials,follow_up,source,reliability
P1,fibromyalgia,>=30% pain reduction,10,50,1,12 weeks,doc §4.2,V
P2,neuropathic,>=30% pain reduction,12,50,1,12 weeks,doc §4.2,V
P3,neuropathic,>=30% pain reduction,8,50,1,12 weeks,doc §4.2,V
"""

SINGLE_ROW = ("c,Q4,responders,single-arm,mixed,IV,multi-day,1-2 weeks,last infusion,range (%),"
              "20,,46,,unclear,20% to 46% improved,doc abstract,V\n")


@pytest.fixture
def toy_full(toy: Path) -> Path:
    (toy / "studies" / "c.yaml").write_text(SINGLE_ARM)
    (toy / "placebo_response.csv").write_text(PLACEBO)
    with (toy / "outcomes.csv").open("a") as fh:
        fh.write(SINGLE_ROW)
    proto = (toy / "protocol.yaml").read_text().replace(
        '  - {id: Q3, text: "What harms?"}',
        '  - {id: Q3, text: "What harms?"}\n  - {id: Q4, text: "Why do they disagree?", answer: reconciliation}')
    (toy / "protocol.yaml").write_text(proto)
    return toy


def test_report_numbers_equal_data_and_engine_and_bytes_are_stable(toy_full, tmp_path):
    from metareview.report.review_report import build_report, render_html, write_report
    from metareview.synthesis import ControlArm, SingleArmResult, reconcile_single_arm
    from metareview.synthesis.review import synthesize

    review = load_review(toy_full)
    report = build_report(synthesize(review))
    html = render_html(report)
    # Every data number appears (appendix) with its source.
    assert "10/20" in html and "doc Table 8" in html and "-1.83" in html
    # The pooled RR is the engine's, as printed in the pooled section.
    (any_ae,) = pool_arms(review)
    bt = any_ae.ratio.back_transformed
    assert f"{bt['estimate']:.2f}" in report.pooled[0].text
    # The reconciliation is the library function's on the same inputs.
    arms = [ControlArm("P1", 10, 50), ControlArm("P2", 12, 50), ControlArm("P3", 8, 50)]
    rec = reconcile_single_arm(SingleArmResult("Gamma 2025", 200, proportion_range=(0.2, 0.46),
                                               has_control=False), arms)
    assert f"{100 * rec.pooled.estimate:.1f}" in html
    q4 = next(a for a in report.answers if a.id == "Q4")
    assert "no control group" in q4.text
    # Self-contained and deterministic.
    import re

    assert "<script" not in html and "<link" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing fetched: opens offline
    a = write_report(review, tmp_path / "a" / "report.html").read_bytes()
    b = write_report(load_review(toy_full), tmp_path / "b" / "report.html").read_bytes()
    assert a == b


JUDGEMENTS_HEAD = "question,outcome,comparison,window,domain,change,reason,by,source,reliability\n"


def test_a_reviewers_judgement_replaces_the_proposal_and_says_why(toy):
    """judgements.csv: a reviewer's GRADE judgement of one domain, with its reason, replaces
    the proposed one in the assessment, the statement and the answer."""
    from metareview.synthesis.review import synthesize

    before = {g.key: g for g in synthesize(load_review(toy)).grades}
    key = ("Q1", "pain intensity", "ketamine vs placebo", "1-2 weeks")
    # No review-level row in the toy data: only the pooled arms are graded.
    assert key not in before
    pooled = ("Q3", "Any adverse event", None, None)
    assert pooled in before
    proposed = before[pooled].certainty.domains["risk_of_bias"]
    # Proposed: very serious, since 63% of the weight is from the trial rated weak (EPHPP).
    assert proposed.change == -2
    (toy / "judgements.csv").write_text(
        JUDGEMENTS_HEAD + "Q3,Any adverse event,,,risk_of_bias,-1,the weak rating concerns "
        "follow-up only,AB,doc Table 8,I\n")
    after = {g.key: g for g in synthesize(load_review(toy)).grades}[pooled]
    dom = after.certainty.domains["risk_of_bias"]
    assert dom.change == -1 and dom.overridden and dom.by == "AB"
    assert dom.rationale == "Reviewer override: the weak rating concerns follow-up only"
    lines = {d.name: d for d in after.domains()}
    # issue 11: the line shows who judged and the rule's proposal beside the override
    assert lines["risk of bias"].why.startswith(dom.rationale + " (AB). Proposed: very serious")
    assert lines["risk of bias"].judgement == "serious (−1) (reviewer override)"
    levels = ("high", "moderate", "low", "very low")
    assert levels.index(after.level) == levels.index(before[pooled].level) - 1
    assert f"({after.level} certainty)" in after.statement


@pytest.mark.parametrize(("row", "words"), [
    ("Q3,Any adverse event,,,risk_of_bias,-1,x,AB,doc Table 8,I\nQ3,Any adverse event,,,"
     "blinding,-1,x,AB,doc Table 8,I\n", ["judgements.csv line 3, column domain",
                                         "unknown GRADE domain 'blinding'"]),
    ("Q3,No such outcome,,,risk_of_bias,-1,x,AB,doc Table 8,I\n",
     ["no graded outcome Q3 / No such outcome"]),
    ("Q7,Any adverse event,,,risk_of_bias,-1,x,AB,doc Table 8,I\n",
     ["judgements.csv line 2, column question: unknown question 'Q7'"]),
    ("Q3,Any adverse event,,,risk_of_bias,-1,,AB,doc Table 8,I\n",
     ["judgements.csv line 2, column reason"]),
])
def test_bad_judgements_are_located(toy, row, words):
    from metareview.synthesis.review import synthesize

    (toy / "judgements.csv").write_text(JUDGEMENTS_HEAD + row)
    with pytest.raises(InputError) as err:
        synthesize(load_review(toy))
    for w in words:
        assert w in str(err.value), (w, str(err.value))
