"""The data of the review "ketamine for chronic (persistent) non-cancer pain".

``reviews/ketamine-chronic-pain`` rebuilds the 2021 ISCRR evidence review for WorkSafe Victoria
(``sources/iscrr2021.txt`` in the folder, document ``iscrr2021``) as data, adds the 2025
Cochrane review and the 2025 Cleveland Clinic cohort from the evidence file (``evidence``), and
is loaded with :func:`metareview.studies.load_folder`. These tests pin the counts to the 2021
review's own statement, a handful of key numbers to their sources, and the loader's error
locations.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from metareview import InputError
from metareview.studies import load_folder as load_review

ROOT = Path(__file__).resolve().parents[1] / "reviews" / "ketamine-chronic-pain"


@pytest.fixture(scope="module")
def review():
    return load_review(ROOT)


def _one(rows, **match):
    found = [r for r in rows if all(getattr(r, k) == v for k, v in match.items())]
    assert len(found) == 1, (match, len(found))
    return found[0]


def test_protocol(review):
    p = review.protocol
    assert p.id == "ketamine-chronic-pain"
    assert p.commissioned_by == "WorkSafe Victoria"
    assert p.source.document == "iscrr2021" and p.source.location == "Table 3"
    assert [q.id for q in p.questions] == ["Q1", "Q2", "Q3", "Q4"]
    # Q1-Q3 as worded in the 2021 review's "Objectives and methods".
    assert p.questions[0].text == ("What is the evidence of effectiveness of using ketamine for "
                                   "persistent pain?")
    assert p.questions[2].text == ("What adverse effects are associated with using ketamine for "
                                   "managing persistent pain?")
    assert p.questions[3].text.endswith("?")
    assert [c.domain for c in p.criteria] == ["Population", "Intervention", "Comparator",
                                              "Outcomes", "Setting", "Study design",
                                              "Search terms"]
    assert p.criteria[0].include == ("Adult patients with chronic or persistent pain (> 3 months "
                                     "duration)")
    assert p.criteria[5].exclude.startswith("non-systematic reviews, cohort studies")
    assert {d.id for d in p.documents} == {"iscrr2021", "evidence", "estimates", "news2025",
                                           "cochrane2025news", "clevelandpress2025",
                                           "cochrane2025news2", "trials"}
    for d in p.documents:  # the source texts are part of the review folder
        assert (ROOT / d.file).is_file(), d.file
    first: dict[tuple[str, str], float] = {}
    for m in p.mids:  # the engine uses the first MID per outcome and scale
        first.setdefault((m.outcome, m.scale), m.value)
    assert first[("pain intensity", "0-10 NRS")] == 1.5
    assert first[("pain interference", "PROMIS T-score")] == 2  # chronic-pain samples, 2-3


def test_counts_match_the_2021_review(review):
    # The 2021 review, Findings: "Nine systematic reviews and meta-analyses, one overview of
    # systematic reviews and nine primary studies that examined the effectiveness of ketamine
    # for managing persistent pain were included in the current review. Of the nine included
    # primary studies, five also reported on the opioid-sparing effects of ketamine" (the same
    # counts open the executive summary's Findings). Its Table 10 holds "Two sets of
    # guidelines".
    # Study "iscrr2021" holds the 2021 review's own statements (40% with an adverse effect,
    # ...), not one of its included studies.
    from_2021 = [s for s in review.studies.values()
                 if s.source.document == "iscrr2021" and s.id != "iscrr2021"]
    kinds = Counter(s.kind for s in from_2021)
    assert kinds == {"systematic review": 9, "overview": 1, "primary study": 9, "guideline": 2}
    primary = [s for s in from_2021 if s.kind == "primary study"]
    assert sum("Q2" in s.questions for s in primary) == 5
    # Tables 4 and 6 (reviews), 5 and 7 (primary studies), 10 (guidelines).
    by_table = Counter(s.source.location for s in from_2021)
    assert by_table == {"Table 4": 7, "Table 6": 3, "Table 5": 6, "Table 7": 3, "Table 10": 2}
    # Added: Cochrane 2025, Cleveland 2025, the evidence file's trials and one RTM study, and
    # (issue 11) two crossover trials from the trials file.
    assert {"ferraro2025", "tankha2025", "sigtermans2009", "schwartzman2009", "amr2010",
            "noppers2011", "pickering2020", "whitney1992", "kvarnstrom2003",
            "kvarnstrom2004"} <= set(review.studies)
    assert len(review.studies) == 31  # 28 + the 2021 review's own statements + 2 trials


def test_quality_ratings_as_the_2021_review_gave_them(review):
    for s in review.studies.values():
        if s.source.document != "iscrr2021" or s.kind == "guideline" or s.id == "iscrr2021":
            continue
        assert s.quality is not None, s.id
        expected = "EPHPP" if s.kind == "primary study" else "Health Evidence"
        assert s.quality.instrument == expected, s.id
        assert s.quality.score is None  # the 2021 review gives ratings, not scores
    assert review.study("orhurhu2019").quality.rating == "strong"
    assert review.study("michelet2018").quality.rating == "moderate"
    assert review.study("aiyer2018").quality.rating == "weak"
    assert review.study("brutcher2019").quality.rating == "strong"
    assert review.study("zekry2016").quality.rating == "weak"
    # Not rated by the 2021 review: the 2025 studies.
    assert review.study("ferraro2025").quality is None
    assert review.study("tankha2025").quality is None


def test_key_numbers_are_as_in_the_sources(review):
    # Orhurhu 2019, ISCRR Table 4: mean difference -1.83 [95% CI -2.35, -1.31], p<0.001.
    orh = _one(review.outcomes, study="orhurhu2019", source="iscrr2021 Table 4", measure="MD")
    assert (orh.estimate, orh.ci_low, orh.ci_high, orh.p) == (-1.83, -2.35, -1.31, "<0.001")
    assert (orh.n_studies, orh.n_participants) == (7, 211)
    ev = _one(review.outcomes, study="orhurhu2019", source="evidence §3.1", measure="MD")
    assert (ev.estimate, ev.ci_low, ev.ci_high, ev.scale) == (-1.83, -2.35, -1.31, "0-10 NRS")
    # Orhurhu adverse effects, ISCRR Table 8.
    assert _one(review.outcomes, study="orhurhu2019", outcome="nausea").estimate == 3.52
    psy = _one(review.outcomes, study="orhurhu2019", outcome="psychotomimetic effects")
    assert (psy.estimate, psy.ci_low, psy.ci_high) == (5.92, 2.95, 11.89)
    # Cochrane 2025: IV ketamine adverse events RR 3.26 (1.05 to 10.09), low certainty [V-2].
    ae = _one(review.outcomes, study="ferraro2025", outcome="any adverse event")
    assert (ae.measure, ae.estimate, ae.ci_low, ae.ci_high) == ("RR", 3.26, 1.05, 10.09)
    assert ae.reliability == "V-2" and ae.certainty_reported == "low"
    imm = _one(review.outcomes, study="ferraro2025", measure="MD",
               timepoint="immediate term (definition NOT FOUND)")
    assert (imm.estimate, imm.ci_low, imm.ci_high) == (-15.79, -32.09, 0.51)
    assert imm.window == "unclear" and imm.scale == "0-100 (inferred)"
    st = review.study("ferraro2025")
    assert (st.n_studies, st.n_participants) == (67, 2309)
    # Tankha 2025: 1,034 patients; 20.3% to 46.4% meaningful improvement; 890 completed.
    tk = review.study("tankha2025")
    assert tk.n_participants == 1034 and tk.comparator == "none"
    resp = sorted(r.estimate for r in review.outcomes
                  if r.study == "tankha2025" and r.outcome == "responders"
                  and r.estimate is not None)
    assert resp == [20.3, 46.4]
    done = _one(review.outcomes, study="tankha2025", outcome="treatment completion",
                source="evidence §2")
    assert (done.events, done.total, done.estimate) == (890, 1034, 86.1)
    # Perioperative (Table 6): Riddell SMD -0.82 [-1.24, -0.4], p=0.0001.
    rid = [r for r in review.outcomes if r.study == "riddell2019" and r.estimate == -0.82]
    assert [(r.ci_low, r.ci_high, r.p) for r in rid] == [(-1.24, -0.4, "0.0001")]
    # Noppers 2011 responders (>50% VAS reduction), 15 min: 8/12 vs 3/12.
    nop = [(r.comparison, r.events, r.total) for r in review.outcomes
           if r.study == "noppers2011" and r.timepoint == "15 min"]
    assert [n[1:] for n in nop] == [(8, 12), (3, 12)]
    # Häuser 2011, fibromyalgia placebo arms: ≥30% pain reduction 30.8% (29.4-32.3).
    hau = _one(review.placebo_response, study="Häuser 2011",
               responder_definition="≥30% pain reduction on placebo")
    assert (hau.proportion, hau.ci_low, hau.ci_high, hau.n_trials) == (0.308, 0.294, 0.323, 30)


def test_arms(review):
    arms = {(a.study, a.arm): (a.events, a.total, a.role) for a in review.arms}
    # Pickering 2020: 10% / 20% / 35% of 20 in a crossover (arithmetic, labelled I).
    assert arms[("pickering2020", "placebo")] == (2, 20, "control")
    assert arms[("pickering2020", "ketamine 0.5mg/kg")] == (4, 20, "intervention")
    assert all(a.reliability == "I" for a in review.arms if a.study == "pickering2020")
    # One time point per trial and category: the pooling sums rows within a study.
    seen = Counter((a.study, a.category, a.role, a.arm) for a in review.arms)
    assert max(seen.values()) == 1
    per_trial = {(a.study, a.category): a.timepoint for a in review.arms}
    for a in review.arms:
        assert a.timepoint == per_trial[(a.study, a.category)]


def test_sources_and_labels(review):
    docs = {d.id for d in review.protocol.documents}
    for table in (review.outcomes, review.arms, review.placebo_response):
        for row in table:
            assert row.source.split()[0] in docs, row.source
    for s in review.studies.values():
        assert s.source.document in docs
    # Evidence-file numbers carry the evidence file's labels; Cochrane numbers are secondary.
    for r in review.outcomes:
        if r.study == "ferraro2025" and r.source.startswith("evidence"):
            assert r.reliability in ("V-2", "V-2*", "NF"), r
        if r.reliability == "I":
            assert r.notes, r  # the arithmetic or inference is spelled out
        if (r.events is None) != (r.total is None):
            assert r.denominator_note
    # Cochrane's windows have no definitions: mapped to 'unclear' and said so.
    for r in review.outcomes:
        if r.study == "ferraro2025" and r.measure in ("MD", "RR"):
            assert r.window == "unclear"


def _copy(tmp_path: Path) -> Path:
    dst = tmp_path / "review"
    shutil.copytree(ROOT, dst)
    return dst


def _line_of(path: Path, needle: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    hits = [i for i, line in enumerate(lines, start=1) if needle in line]
    assert len(hits) == 1, (needle, hits)
    return hits[0]


def test_bad_rating_is_located_by_file_and_line(tmp_path):
    root = _copy(tmp_path)
    path = root / "studies" / "orhurhu2019.yaml"
    line = _line_of(path, "rating: strong")
    path.write_text(path.read_text(encoding="utf-8").replace("rating: strong", "rating: excellent"),
                    encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_review(root)
    msg = str(err.value)
    assert f"orhurhu2019.yaml line {line}" in msg and "quality.rating" in msg
    assert "\n" not in msg


def test_events_above_total_are_located_by_line(tmp_path):
    root = _copy(tmp_path)
    arms = root / "arms.csv"
    line = _line_of(arms, "kapural2010,cardiovascular effects")
    arms.write_text(arms.read_text(encoding="utf-8").replace(
        "intervention,1,18,mixed,unclear,multi-day,immediate/24-48 h,during infusions,"
        "supraventricular", "intervention,19,18,mixed,unclear,multi-day,immediate/24-48 h,"
        "during infusions,supraventricular"), encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_review(root)
    msg = str(err.value)
    assert f"arms.csv line {line}" in msg and "exceed" in msg

    root = _copy(tmp_path / "second")
    outcomes = root / "outcomes.csv"
    line = _line_of(outcomes, ",890,1034,")
    outcomes.write_text(outcomes.read_text(encoding="utf-8").replace(",890,1034,", ",1890,1034,"),
                        encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_review(root)
    msg = str(err.value)
    assert f"outcomes.csv line {line}" in msg and "exceed" in msg


def test_unknown_document_in_a_source_is_located(tmp_path):
    root = _copy(tmp_path)
    outcomes = root / "outcomes.csv"
    text = outcomes.read_text(encoding="utf-8")
    target = ",evidence §1.2,V-2,"
    first = next(i for i, row in enumerate(text.splitlines(), start=1) if target in row)
    outcomes.write_text(text.replace(target, ",cochrane §1.2,V-2,", 1), encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_review(root)
    msg = str(err.value)
    assert f"outcomes.csv line {first}" in msg and "source" in msg
