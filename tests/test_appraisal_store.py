"""Risk-of-bias appraisal in the project database: the forms' judgements are the instruments'
own functions; two appraisers answer blind; their disagreements are found and settled by the
owner; the agreed rating becomes the study's quality, which GRADE's risk-of-bias domain reads.
Runs on SQLite and PostgreSQL (``db_url``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from metareview.appraisal import (
    amstar2_rating,
    ephpp_rating,
    health_evidence_rating,
    rob2_overall,
    rob2_questions,
    robins_i_overall,
)
from metareview.appraisal import team as ap
from metareview.appraisal.forms import FORMS, form
from metareview.appraisal.rob2_questions import applicable, rob2_domains
from metareview.appraisal.team import AnswerInput
from metareview.errors import InputError
from metareview.records.model import ImportBatch, Record
from metareview.store.project import Project, load_review_data
from metareview.synthesis.review import synthesize

BCG = Path(__file__).resolve().parent.parent / "reviews" / "bcg-tuberculosis"

#: Answers to RoB 2's signalling questions that give each domain each judgement by the
#: guidance's algorithms (22 August 2019), e.g. D1 high: allocation not concealed (1.2 N).
ROB2_SETS: dict[str, dict[str, dict[str, str]]] = {
    "D1": {"low": {"1.1": "Y", "1.2": "Y", "1.3": "N"},
           "some concerns": {"1.1": "Y", "1.2": "Y", "1.3": "Y"},
           "high": {"1.1": "Y", "1.2": "N", "1.3": "N"}},
    "D2": {"low": {"2.1": "N", "2.2": "N", "2.6": "Y"},
           "some concerns": {"2.1": "N", "2.2": "N", "2.6": "N", "2.7": "N"},
           "high": {"2.1": "N", "2.2": "N", "2.6": "N", "2.7": "Y"}},
    "D3": {"low": {"3.1": "Y"},
           "some concerns": {"3.1": "N", "3.2": "N", "3.3": "Y", "3.4": "N"},
           "high": {"3.1": "N", "3.2": "N", "3.3": "Y", "3.4": "Y"}},
    "D4": {"low": {"4.1": "N", "4.2": "N", "4.3": "N"},
           "some concerns": {"4.1": "N", "4.2": "N", "4.3": "Y", "4.4": "Y", "4.5": "N"},
           "high": {"4.1": "Y", "4.2": "N"}},
    "D5": {"low": {"5.1": "Y", "5.2": "N", "5.3": "N"},
           "some concerns": {"5.1": "N", "5.2": "N", "5.3": "N"},
           "high": {"5.1": "Y", "5.2": "Y", "5.3": "N"}},
}


def rob2_answers(judgements: list[str]) -> dict[str, str]:
    """Signalling-question answers giving the five domain judgements in order."""
    out: dict[str, str] = {}
    for d, j in zip(ROB2_SETS, judgements, strict=True):
        out.update(ROB2_SETS[d][j])
    return out
SID = "ferguson1949"  # RoB 2 "some concerns" in the folder
ROB2 = "RoB 2"


# -- the forms' algorithms are the library's ----------------------------------------------------


@pytest.mark.parametrize(("answers", "overall"), [
    # Sterne et al. 2019, Table 2: any domain high -> high; all low -> low; else some concerns
    (["low", "low", "high", "low", "low"], "high"),
    (["low"] * 5, "low"),
    (["some concerns", "low", "low", "some concerns", "low"], "some concerns"),
    (["some concerns"] * 5, "some concerns"),  # the library applies no "many concerns" rule
])
def test_rob2_form_gives_the_published_overall_judgement(answers, overall):
    j = form("rob2").judge(rob2_answers(answers))
    assert list(j.columns.values()) == answers
    assert j.overall == overall == rob2_overall(answers).overall
    assert j.reason == rob2_overall(answers).reason


@pytest.mark.parametrize(("answers", "domain", "judgement"), [
    # the guidance's algorithms, one branch each (full guidance, 22 August 2019)
    ({"1.1": "N", "1.2": "Y", "1.3": "N"}, "D1", "some concerns"),  # sequence not random
    ({"1.1": "NI", "1.2": "NI", "1.3": "Y"}, "D1", "high"),  # concealment unknown, imbalance
    ({"1.1": "NI", "1.2": "NI", "1.3": "NI"}, "D1", "some concerns"),
    ({"2.1": "Y", "2.2": "N", "2.3": "NI", "2.6": "Y"}, "D2", "some concerns"),
    ({"2.1": "Y", "2.2": "Y", "2.3": "Y", "2.4": "Y", "2.5": "N", "2.6": "Y"}, "D2", "high"),
    ({"2.1": "Y", "2.2": "Y", "2.3": "N", "2.6": "PN", "2.7": "PN"}, "D2", "some concerns"),
    ({"3.1": "PN", "3.2": "PY"}, "D3", "low"),  # evidence the result is not biased
    ({"3.1": "N", "3.2": "N", "3.3": "PN"}, "D3", "low"),
    ({"3.1": "NI", "3.2": "N", "3.3": "NI", "3.4": "NI"}, "D3", "high"),
    ({"4.1": "N", "4.2": "NI", "4.3": "N"}, "D4", "some concerns"),  # 4.2 NI: not low
    ({"4.1": "N", "4.2": "N", "4.3": "Y", "4.4": "N"}, "D4", "low"),
    ({"4.1": "NI", "4.2": "N", "4.3": "Y", "4.4": "Y", "4.5": "Y"}, "D4", "high"),
    ({"5.1": "Y", "5.2": "NI", "5.3": "N"}, "D5", "some concerns"),
    ({"5.1": "N", "5.2": "N", "5.3": "PY"}, "D5", "high"),
])
def test_rob2_signalling_questions_give_the_guidance_domain_judgements(answers, domain,
                                                                       judgement):
    full = {**rob2_answers(["low"] * 5)}
    for k in [k for k in full if k[0] == domain[1]]:
        del full[k]
    full.update(answers)
    found = rob2_domains(full)
    assert found[domain].judgement == judgement
    assert all(v.judgement == "low" for k, v in found.items() if k != domain)


def test_rob2_questions_asked_only_when_they_apply():
    a = rob2_answers(["low"] * 5)
    assert "2.3" not in applicable(a) and "3.2" not in applicable(a)
    assert "2.3" in applicable({**a, "2.1": "Y"})
    f = form("rob2")
    assert f.missing({**a, "2.1": "Y"}) == ("2.3",)
    assert f.judge({**a, "2.1": "Y"}) is None  # 2.3 is now asked
    with pytest.raises(InputError, match=re.escape("RoB 2 1.1: 'NA' is not an option")):
        f.judge({**a, "1.1": "NA"})


@given(st.fixed_dictionaries({k: st.sampled_from(["Y", "PY", "PN", "N", "NI"])
                              for k in rob2_questions.KEYS}))
def test_rob2_form_equals_the_library_for_any_answers(answers):
    # 3.2 has no NI option: read NI there as N
    answers = {**answers, "3.2": "N" if answers["3.2"] == "NI" else answers["3.2"]}
    j = FORMS[ROB2].judge(answers)
    domains = {k: d.judgement for k, d in rob2_domains(answers).items()}
    assert j.columns == domains
    assert j.overall == rob2_overall(domains).overall
    assert (j.overall == "high") == ("high" in domains.values())
    assert (j.overall == "low") == (set(domains.values()) == {"low"})


def test_a_domain_override_needs_its_reason_and_changes_the_overall():
    f = form("rob2")
    j = f.judge(rob2_answers(["low"] * 5), {"D3": ("high", "most dropouts in one arm")})
    assert (j.columns["D3"], j.algorithm["D3"], j.overall) == ("high", "low", "high")
    assert j.overridden == {"D3": "most dropouts in one arm"}
    with pytest.raises(InputError, match="EPHPP selection_bias: not a judgement the algorithm"):
        form("ephpp").judge({}, {"selection_bias": ("weak", "x")})


def test_other_forms_give_their_instruments_ratings():
    robins = ["low", "moderate", "serious", "low", "low", "no information", "low"]
    f = form("ROBINS-I")
    assert f.judge(dict(zip([x.key for x in f.fields], robins, strict=True))).overall == \
        robins_i_overall(robins).overall == "serious"
    eph = {"selection_bias": "moderate", "study_design": "strong", "confounders": "weak",
           "blinding": "weak", "data_collection_methods": "strong",
           "withdrawals_and_dropouts": "strong"}
    j = form("ephpp").judge(eph)
    assert j.overall == ephpp_rating(eph).global_rating == "weak"
    assert j.components == eph
    items = ["yes"] * 6 + ["no"] + ["yes"] * 9  # item 7 is critical: one critical flaw
    j = form("amstar2").judge({str(i): v for i, v in enumerate(items, 1)})
    assert j.overall == amstar2_rating(items).confidence == "low"
    he = ["yes"] * 7 + ["no"] * 3
    f = form("health-evidence")
    j = f.judge(dict(zip([x.key for x in f.fields], he, strict=True)))
    assert (j.overall, j.score) == ("moderate", 7)
    assert health_evidence_rating(7).rating == "moderate"


def test_form_refuses_options_the_instrument_lacks():
    with pytest.raises(InputError, match=r"AMSTAR 2 Q1: 'partial yes' is not an option"):
        form("amstar2").check("1", "partial yes")
    with pytest.raises(InputError, match="no appraisal form"):
        form("Jadad")
    assert form("rob2").judge({"1.1": "Y"}) is None  # incomplete: no judgement yet


# -- the store --------------------------------------------------------------------------------


@pytest.fixture
def bcg(tmp_path, db_url):
    p = Project.create(tmp_path / "rv", "bcg", db_url=db_url)
    p.import_review(load_review_data(BCG))
    yield p
    p.close()


def _answer(p: Project, who: str, judgements: list[str], *, support: str = "") -> int:
    return ap.save_answers(p.engine, SID, ROB2, who, [
        AnswerInput(k, v, support or f"{who} read it so", f"Table {k[0]}")
        for k, v in rob2_answers(judgements).items()])


def test_appraisers_are_blind_until_both_submit(bcg):
    assert _answer(bcg, "bob", ["high", "low", "low", "low", "low"]) == 13
    _answer(bcg, "carol", ["low", "low", "low", "some concerns", "low"])
    with pytest.raises(InputError, match="bob's answers are hidden until both"):
        ap.answers(bcg.engine, SID, ROB2, "bob", viewer="carol")
    assert [h.appraiser for h in ap.history(bcg.engine, SID, ROB2, "1.2", viewer="carol")] == \
        ["carol"]
    with pytest.raises(InputError, match="already has two appraisers"):
        _answer(bcg, "dan", ["low"] * 5)
    with pytest.raises(InputError, match="both appraisers must submit"):
        ap.compare(bcg.engine, SID, ROB2)
    ap.submit(bcg.engine, SID, ROB2, "bob")
    with pytest.raises(InputError, match="bob has submitted; reopen"):
        _answer(bcg, "bob", ["low"] * 5)
    ap.submit(bcg.engine, SID, ROB2, "carol")
    seen = ap.answers(bcg.engine, SID, ROB2, "bob", viewer="carol")
    assert seen["1.2"].value == "N" and seen["1.2"].location == "Table 1"
    assert ap.appraisal_state(bcg.engine, SID, ROB2).both_submitted


def test_submit_names_unanswered_fields_and_an_override_needs_a_reason(bcg):
    ap.save_answers(bcg.engine, SID, ROB2, "bob", [AnswerInput("1.1", "Y")])
    unanswered = "not answered yet: 1.2, 1.3, 2.1, 2.2, 2.6, 3.1, 4.1, 4.2, 5.1, 5.2, 5.3"
    with pytest.raises(InputError, match=re.escape(unanswered)):
        ap.submit(bcg.engine, SID, ROB2, "bob")
    with pytest.raises(InputError, match=re.escape("RoB 2 1.2: 'moderate' is not an option")):
        ap.save_answers(bcg.engine, SID, ROB2, "bob", [AnswerInput("1.2", "moderate")])
    with pytest.raises(InputError, match="needs a reason"):
        ap.set_override(bcg.engine, SID, ROB2, "bob", "high", "  ", field="D3")
    with pytest.raises(InputError, match=re.escape("1.1: not a judgement the algorithm gives")):
        ap.set_override(bcg.engine, SID, ROB2, "bob", "N", "why", field="1.1")
    ap.set_override(bcg.engine, SID, ROB2, "bob", "high", "concerns in 3 domains")
    ap.set_override(bcg.engine, SID, ROB2, "bob", "high", "dropouts all in one arm", field="D3")
    over = ap.overrides(bcg.engine, SID, ROB2, "bob", viewer="bob")
    assert {k: o.reason for k, o in over.items()} == {
        "overall": "concerns in 3 domains", "D3": "dropouts all in one arm"}
    _answer(bcg, "bob", ["low"] * 5)
    j = ap.judgement(form("rob2"), ap.answers(bcg.engine, SID, ROB2, "bob", viewer="bob"),
                     over)
    assert (j.algorithm["D3"], j.columns["D3"], j.overall) == ("low", "high", "high")


def test_disagreements_found_settled_and_applied_to_grade(bcg):
    before = synthesize(bcg.review_data()).grades[0].certainty.to_dict()["domains"]
    rob_before = before["risk_of_bias"]["values"]["share_high"]
    _answer(bcg, "bob", ["high", "low", "low", "low", "low"])
    _answer(bcg, "carol", ["low", "low", "low", "some concerns", "low"])
    ap.submit(bcg.engine, SID, ROB2, "bob")
    ap.submit(bcg.engine, SID, ROB2, "carol")
    cmp = ap.compare(bcg.engine, SID, ROB2)
    assert cmp.appraisers == ("bob", "carol")
    # D1: concealment (1.2) differs; D4: bob's assessors unaware (4.3 N), carol's aware; 4.4
    # and 4.5 are asked only once 4.3 is agreed Y/PY/NI
    assert [c.field for c in cmp.disagreements] == ["1.2", "4.3"]
    assert [c.status for c in cmp.fields if c.field in ("4.4", "4.5")] == ["not applicable"] * 2
    assert (cmp.judged_a.overall, cmp.judged_b.overall) == ("high", "some concerns")
    assert cmp.agreed is None
    with pytest.raises(InputError, match=re.escape("settle 1.2, 4.3 first")):
        ap.apply(bcg.engine, SID, ROB2, by="alice")
    ap.resolve(bcg.engine, SID, ROB2, "1.2", by="alice", choice="A")
    with pytest.raises(InputError, match="an entered answer needs a reason"):
        ap.resolve(bcg.engine, SID, ROB2, "4.3", by="alice", choice="entered", value="N")
    ap.resolve(bcg.engine, SID, ROB2, "4.3", by="alice", choice="entered", value="N",
               reason="blinded assessors, Methods p. 3")
    cmp = ap.compare(bcg.engine, SID, ROB2)
    assert cmp.agreed.judgement.columns == {"D1": "high", "D2": "low", "D3": "low",
                                            "D4": "low", "D5": "low"}
    assert cmp.agreed.overall == "high" and cmp.agreed.override_reason is None
    assert cmp.fields[1].consensus.location == "Table 1"  # A's answer, with its source
    study = ap.apply(bcg.engine, SID, ROB2, by="alice")
    q = bcg.review_data().studies[SID].quality
    assert q == study.quality
    assert (q.instrument, q.rating) == ("RoB 2", "high")
    assert q.source.document == "metadat"
    assert q.source.location.startswith("appraisal RoB 2: consensus of bob and carol, applied "
                                        "by alice on ")
    after = synthesize(bcg.review_data()).grades[0].certainty.to_dict()["domains"]
    assert after["risk_of_bias"]["values"]["share_high"] > rob_before
    assert after["risk_of_bias"]["rationale"] != before["risk_of_bias"]["rationale"]
    with pytest.raises(InputError, match="applied already"):
        ap.apply(bcg.engine, SID, ROB2, by="alice")
    plot = ap.agreed_appraisals(bcg.engine, ROB2)
    assert [(a.study, a.overall) for a in plot] == [("Ferguson & Simes 1949", "high")]
    assert plot[0].categories()["D1"] == "high"


def test_owner_override_of_the_overall_rating_needs_a_reason_and_is_shown(bcg):
    _answer(bcg, "bob", ["some concerns"] * 3 + ["low"] * 2)
    _answer(bcg, "carol", ["some concerns"] * 3 + ["low"] * 2)
    ap.submit(bcg.engine, SID, ROB2, "bob")
    ap.submit(bcg.engine, SID, ROB2, "carol")
    cmp = ap.compare(bcg.engine, SID, ROB2)
    assert cmp.disagreements == () and cmp.agreed.overall == "some concerns"
    with pytest.raises(InputError, match="needs a reason"):
        ap.resolve(bcg.engine, SID, ROB2, "overall", by="alice", choice="entered",
                   value="high")
    ap.resolve(bcg.engine, SID, ROB2, "overall", by="alice", choice="entered", value="high",
               reason="some concerns in three domains lower confidence substantially")
    ap.resolve(bcg.engine, SID, ROB2, "D5", by="alice", choice="entered", value="some concerns",
               reason="trial registered after enrolment")
    ag = ap.compare(bcg.engine, SID, ROB2).agreed
    assert (ag.judgement.overall, ag.overall) == ("some concerns", "high")
    assert ag.judgement.overridden == {"D5": "trial registered after enrolment"}
    assert (ag.judgement.algorithm["D5"], ag.judgement.columns["D5"]) == ("low",
                                                                          "some concerns")
    q = ap.apply(bcg.engine, SID, ROB2, by="alice").quality
    assert q.rating == "high" and "overridden by alice" in q.source.location
    assert "D5 overridden" in q.source.location


def test_history_is_kept_and_rows_are_append_only(bcg):
    ap.save_answers(bcg.engine, SID, ROB2, "bob", [AnswerInput("1.2", "Y", "", "p. 2")])
    ap.save_answers(bcg.engine, SID, ROB2, "bob", [AnswerInput("1.2", "Y", "", "p. 2")])
    ap.save_answers(bcg.engine, SID, ROB2, "bob", [AnswerInput("1.2", "N", "no concealment",
                                                               "p. 4")])
    hist = ap.history(bcg.engine, SID, ROB2, "1.2", viewer="bob")
    assert [(h.value, h.location) for h in hist] == [("Y", "p. 2"), ("N", "p. 4")]
    with pytest.raises(Exception, match="append-only"), bcg.engine.begin() as c:
        c.execute(text("UPDATE appraisal_answer SET value = 'low'"))
    with pytest.raises(Exception, match="append-only"), bcg.engine.begin() as c:
        c.execute(text("DELETE FROM appraisal_answer"))


def test_traffic_light_rows_columns_and_colours():
    from metareview.appraisal.forms import AgreedAppraisal
    from metareview.report.traffic_light import STYLE, traffic_light

    f = form("rob2")
    keys = [x.key for x in f.columns]
    rows = [("Aronson 1948", ["low", "some concerns", "low", "low", "low"]),
            ("Hart 1977", ["high", "low", "low", "low", "low"])]
    agreed = [AgreedAppraisal(s, f.judge(rob2_answers(a)), rob2_overall(a).overall)
              for s, a in rows]
    fig = traffic_light(agreed, f)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Aronson 1948", "Hart 1977"]
    assert [t.get_text() for t in ax.get_xticklabels()] == [*keys, "Overall"]
    # one dot per cell, coloured by its judgement: row 2's D1 and overall are high (red)
    colours = [tuple(c.get_facecolor()[0]) for c in ax.collections]
    assert len(colours) == 12
    from matplotlib.colors import to_rgba

    assert colours[6] == colours[11] == to_rgba(STYLE["high"][0])
    assert colours[1] == colours[5] == to_rgba(STYLE["some concerns"][0])
    with pytest.raises(ValueError, match="its RoB 2 appraisal cannot go in the EPHPP plot"):
        traffic_light(agreed, form("ephpp"))


@given(st.fixed_dictionaries({k: st.sampled_from(["Y", "PY", "PN", "N", "NI"])
                              for k in rob2_questions.KEYS}),
       st.sampled_from(["Y", "PY", "PN", "N", "NI", "NA"]))
def test_answers_to_questions_not_asked_change_nothing(answers, other):
    answers = {**answers, "3.2": "N" if answers["3.2"] == "NI" else answers["3.2"]}
    asked = applicable(answers)
    changed = {k: (v if k in asked else other if other != "NI" or k != "3.2" else "N")
               for k, v in answers.items()}
    assert applicable(changed) == asked
    assert rob2_domains(changed) == rob2_domains(answers)


def test_apply_needs_an_extracted_study(bcg):
    bcg.add_import(ImportBatch((Record(title="A new trial", year=2001),), "PubMed",
                               kind="database", format="ris", filename="n.ris", sha256="n"))
    sid = bcg.link_study(1, "Newman 2001", by="alice")
    for who in ("bob", "carol"):
        ap.save_answers(bcg.engine, sid, ROB2, who,
                        [AnswerInput(k, v) for k, v in rob2_answers(["low"] * 5).items()])
        ap.submit(bcg.engine, sid, ROB2, who)
    assert ap.compare(bcg.engine, sid, ROB2).agreed.overall == "low"
    with pytest.raises(InputError, match="study newman-2001: not extracted yet"):
        ap.apply(bcg.engine, sid, ROB2, by="alice")
