"""Risk-of-bias appraisal in the project database: the forms' judgements are the instruments'
own functions; two appraisers answer blind; their disagreements are found and settled by the
owner; the agreed rating becomes the study's quality, which GRADE's risk-of-bias domain reads.
Runs on SQLite and PostgreSQL (``db_url``)."""

from __future__ import annotations

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
    robins_i_overall,
)
from metareview.appraisal import team as ap
from metareview.appraisal.forms import FORMS, form
from metareview.appraisal.team import AnswerInput
from metareview.errors import InputError
from metareview.store.project import Project, load_review_data
from metareview.synthesis.review import synthesize

BCG = Path(__file__).resolve().parent.parent / "reviews" / "bcg-tuberculosis"
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
    f = form("rob2")
    j = f.judge(dict(zip([x.key for x in f.fields], answers, strict=True)))
    assert j.overall == overall == rob2_overall(answers).overall
    assert j.reason == rob2_overall(answers).reason


@given(st.lists(st.sampled_from(["low", "some concerns", "high"]), min_size=5, max_size=5))
def test_rob2_form_equals_rob2_overall_for_any_answers(answers):
    f = FORMS[ROB2]
    j = f.judge(dict(zip([x.key for x in f.fields], answers, strict=True)))
    assert j.overall == rob2_overall(answers).overall
    assert (j.overall == "high") == ("high" in answers)
    assert (j.overall == "low") == (set(answers) == {"low"})


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
    assert form("rob2").judge({"D1": "low"}) is None  # incomplete: no judgement yet


# -- the store --------------------------------------------------------------------------------


@pytest.fixture
def bcg(tmp_path, db_url):
    p = Project.create(tmp_path / "rv", "bcg", db_url=db_url)
    p.import_review(load_review_data(BCG))
    yield p
    p.close()


def _answer(p: Project, who: str, judgements: list[str], *, support: str = "") -> int:
    return ap.save_answers(p.engine, SID, ROB2, who, [
        AnswerInput(f"D{i}", v, support or f"{who} read it so", f"Table {i}")
        for i, v in enumerate(judgements, 1)])


def test_appraisers_are_blind_until_both_submit(bcg):
    assert _answer(bcg, "bob", ["high", "low", "low", "low", "low"]) == 5
    _answer(bcg, "carol", ["low", "low", "low", "some concerns", "low"])
    with pytest.raises(InputError, match="bob's answers are hidden until both"):
        ap.answers(bcg.engine, SID, ROB2, "bob", viewer="carol")
    assert [h.appraiser for h in ap.history(bcg.engine, SID, ROB2, "D1", viewer="carol")] == \
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
    assert seen["D1"].value == "high" and seen["D1"].location == "Table 1"
    assert ap.appraisal_state(bcg.engine, SID, ROB2).both_submitted


def test_submit_names_unanswered_fields_and_an_override_needs_a_reason(bcg):
    ap.save_answers(bcg.engine, SID, ROB2, "bob", [AnswerInput("D1", "low")])
    with pytest.raises(InputError, match="not answered yet: D2, D3, D4, D5"):
        ap.submit(bcg.engine, SID, ROB2, "bob")
    with pytest.raises(InputError, match="RoB 2 D2: 'moderate' is not an option"):
        ap.save_answers(bcg.engine, SID, ROB2, "bob", [AnswerInput("D2", "moderate")])
    with pytest.raises(InputError, match="needs a reason"):
        ap.set_override(bcg.engine, SID, ROB2, "bob", "high", "  ")
    ap.set_override(bcg.engine, SID, ROB2, "bob", "high", "concerns in 3 domains")
    assert ap.answers(bcg.engine, SID, ROB2, "bob", viewer="bob")["overall"].reason == \
        "concerns in 3 domains"


def test_disagreements_found_settled_and_applied_to_grade(bcg):
    before = synthesize(bcg.review_data()).grades[0].certainty.to_dict()["domains"]
    rob_before = before["risk_of_bias"]["values"]["share_high"]
    _answer(bcg, "bob", ["high", "low", "low", "low", "low"])
    _answer(bcg, "carol", ["low", "low", "low", "some concerns", "low"])
    ap.submit(bcg.engine, SID, ROB2, "bob")
    ap.submit(bcg.engine, SID, ROB2, "carol")
    cmp = ap.compare(bcg.engine, SID, ROB2)
    assert cmp.appraisers == ("bob", "carol")
    assert [c.field for c in cmp.disagreements] == ["D1", "D4"]
    assert (cmp.judged_a.overall, cmp.judged_b.overall) == ("high", "some concerns")
    assert cmp.agreed is None
    with pytest.raises(InputError, match="settle D1, D4 first"):
        ap.apply(bcg.engine, SID, ROB2, by="alice")
    ap.resolve(bcg.engine, SID, ROB2, "D1", by="alice", choice="A")
    with pytest.raises(InputError, match="an entered answer needs a reason"):
        ap.resolve(bcg.engine, SID, ROB2, "D4", by="alice", choice="entered", value="low")
    ap.resolve(bcg.engine, SID, ROB2, "D4", by="alice", choice="entered", value="low",
               reason="blinded assessors, Methods p. 3")
    cmp = ap.compare(bcg.engine, SID, ROB2)
    assert cmp.agreed.judgement.columns == {"D1": "high", "D2": "low", "D3": "low",
                                            "D4": "low", "D5": "low"}
    assert cmp.agreed.overall == "high" and cmp.agreed.override_reason is None
    assert cmp.fields[0].consensus.location == "Table 1"  # A's answer, with its source
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
    ag = ap.compare(bcg.engine, SID, ROB2).agreed
    assert (ag.judgement.overall, ag.overall) == ("some concerns", "high")
    q = ap.apply(bcg.engine, SID, ROB2, by="alice").quality
    assert q.rating == "high" and "overridden by alice" in q.source.location


def test_history_is_kept_and_rows_are_append_only(bcg):
    ap.save_answers(bcg.engine, SID, ROB2, "bob", [AnswerInput("D1", "low", "", "p. 2")])
    ap.save_answers(bcg.engine, SID, ROB2, "bob", [AnswerInput("D1", "low", "", "p. 2")])
    ap.save_answers(bcg.engine, SID, ROB2, "bob", [AnswerInput("D1", "high", "no concealment",
                                                               "p. 4")])
    hist = ap.history(bcg.engine, SID, ROB2, "D1", viewer="bob")
    assert [(h.value, h.location) for h in hist] == [("low", "p. 2"), ("high", "p. 4")]
    with pytest.raises(Exception, match="append-only"), bcg.engine.begin() as c:
        c.execute(text("UPDATE appraisal_answer SET value = 'low'"))
    with pytest.raises(Exception, match="append-only"), bcg.engine.begin() as c:
        c.execute(text("DELETE FROM appraisal_answer"))


def test_traffic_light_rows_columns_and_colours():
    from metareview.appraisal.forms import AgreedAppraisal
    from metareview.report.traffic_light import STYLE, traffic_light

    f = form("rob2")
    keys = [x.key for x in f.fields]
    rows = [("Aronson 1948", ["low", "some concerns", "low", "low", "low"]),
            ("Hart 1977", ["high", "low", "low", "low", "low"])]
    agreed = [AgreedAppraisal(s, f.judge(dict(zip(keys, a, strict=True))),
                              rob2_overall(a).overall) for s, a in rows]
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
