"""GRADE and the Summary of Findings in the web app (issue 15): each domain's suggestion with
its numbers, a reviewer's override with a required reason kept in the study data and the audit
log, the panel's own SoF; and the attacks: no session, another project, no CSRF, a viewer."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from markupsafe import escape

from metareview.store.project import Project
from metareview.studies import load_folder
from metareview.synthesis.panel import panel_sof
from metareview.synthesis.review import synthesize
from tests.test_web import Browser, workspace  # noqa: F401  (the fixture)

BCG = Path(__file__).resolve().parents[1] / "reviews" / "bcg-tuberculosis"


@pytest.fixture
def app(workspace):  # noqa: F811
    """``alpha`` holds the BCG review's study data; ``beta`` has none."""
    folder = workspace.extensions["metareview_site"].projects()["alpha"]
    with Project.open(folder) as p:
        p.import_review(load_folder(BCG), actor="alice")
    return workspace


def _syn(app):
    with Project.open(app.extensions["metareview_site"].projects()["alpha"]) as p:
        return synthesize(p.review_data()), p.audit_log()


def test_each_domain_shows_the_engines_suggestion_with_its_numbers(app):
    b = Browser(app)
    b.sign_in("vera")  # a viewer reads, and gets no forms
    page = b.get("/p/alpha/grade").text
    syn, _ = _syn(app)
    outcome = syn.grades[0]
    assert str(escape(outcome.name)) in page
    for d in outcome.certainty.domains.values():
        assert str(escape(d.rationale)) in page
    assert f'cert-{outcome.level.replace(" ", "-")}">{outcome.level}<' in page
    assert "grade/override" not in page
    assert b.post("/p/alpha/grade/override", {"outcome": "0", "domain": "imprecision",
                                              "change": "-1", "reason": "x"}).status_code == 403


def test_an_override_needs_a_reason_counts_and_is_logged(app):
    b = Browser(app)
    b.sign_in("bob")
    before, _ = _syn(app)
    level = before.grades[0].level
    r = b.post("/p/alpha/grade/override", {"outcome": "0", "domain": "inconsistency",
                                           "change": "-2", "reason": "   "})
    assert r.status_code == 302
    assert "give the reason" in b.get("/p/alpha/grade").text
    assert _syn(app)[0].grades[0].level == level  # nothing stored
    for bad in ({"domain": "imprecision", "change": "2"}, {"domain": "made_up", "change": "0"},
                {"domain": "imprecision", "change": "x"}):
        b.post("/p/alpha/grade/override", {"outcome": "0", "reason": "r", **bad})
        assert len(_syn(app)[0].data.judgements) == 0
    r = b.post("/p/alpha/grade/override", {
        "outcome": "0", "domain": "inconsistency", "change": "-2",
        "reason": "I² of 92% <b>and</b> trials on both sides of the null"})
    assert r.status_code == 302 and r.headers["Location"].endswith("#outcome-0")
    after, log = _syn(app)
    d = after.grades[0].certainty.domains["inconsistency"]
    assert (d.overridden, d.change, d.by) == (True, -2, "bob")
    assert d.proposed.change == before.grades[0].certainty.domains["inconsistency"].change
    page = b.get("/p/alpha/grade").text
    assert "trials on both sides of the null" in page and "<b>and</b>" not in page
    assert f">{after.grades[0].level}<" in page
    entry = log[-1]
    assert entry["action"] == "study-rows" and entry["actor"] == "bob"
    assert entry["detail"]["values"][0]["reason"].startswith("I² of 92%")
    assert entry["detail"]["values"][0]["change"] == -2
    # the newest judgement counts; the earlier one stays in the data
    b.post("/p/alpha/grade/override", {"outcome": "0", "domain": "inconsistency",
                                       "change": "-1", "reason": "on reflection, serious"})
    again, _ = _syn(app)
    assert again.grades[0].certainty.domains["inconsistency"].change == -1
    assert [j.change for j in again.data.judgements] == [-2, -1]


def test_the_panel_chooses_outcomes_and_an_assumed_risk(app):
    b = Browser(app)
    b.sign_in("vera")
    syn, _ = _syn(app)
    page = b.get("/p/alpha/sof").text
    assert str(escape(syn.grades[0].sof_row.outcome)) in page
    page = b.get("/p/alpha/sof?o=0&at0=1&risk0=50").text
    assert "set by the panel: 50 per 1,000" in page
    rr = syn.grades[0].sof_row.estimate
    # the risk difference with the vaccine from the pooled RR: 50 × (RR − 1) per 1,000
    assert f"{abs(round(50 * (rr - 1)))} fewer per 1,000" in page
    assert panel_sof(syn, [0], {0: 0.05}).to_html() in page  # the library's table, as is
    page = b.get("/p/alpha/sof?o=0&risk0=2000").text
    assert "between 0 and 1" in page and "showing every outcome instead" in page


def test_no_study_data_is_a_message_not_an_error(app):
    b = Browser(app)
    b.sign_in("alice")
    for path in ("/p/beta/grade", "/p/beta/sof"):
        r = b.get(path)
        assert r.status_code == 200 and "no study data yet" in r.text


def test_other_projects_sessions_and_tokens(app):
    b = Browser(app)
    b.sign_in("bob")  # a reviewer of alpha only
    assert b.get("/p/beta/grade").status_code == 404
    assert b.get("/p/beta/sof").status_code == 404
    assert b.post("/p/beta/grade/override", {"outcome": "0", "domain": "imprecision",
                                             "change": "0", "reason": "r"}).status_code == 404
    r = b.post("/p/alpha/grade/override", {"outcome": "0", "domain": "imprecision",
                                           "change": "0", "reason": "r"}, token=False)
    assert r.status_code == 400
    anon = Browser(app)
    assert anon.get("/p/alpha/grade").status_code == 302
    assert len(_syn(app)[0].data.judgements) == 0


def test_an_analysis_defined_in_the_app_is_the_engines(app):
    """The BCG trials pooled in the app give metafor's numbers (the same engine as
    ``metareview analyze``), the plots are drawn, and the sensitivity analysis leaves out the
    trials rated at high risk of bias, one click away."""
    from metareview.effects.escalc import effect_sizes
    from metareview.effects.io import read_study_table
    from metareview.models.rma import meta_analysis

    b = Browser(app)
    b.sign_in("vera")
    page = b.get("/p/alpha/analysis").text
    # reference: metafor 3.8-1, rma(measure="RR", ai=tpos, ..., data=dat.bcg, method="REML")
    assert "0.489 (0.344 to 0.696)" in page and ">13<" in page and "0.3132" in page
    bcg = read_study_table(Path(__file__).resolve().parents[1] / "src" / "metareview" / "data"
                           / "bcg.csv")
    direct = meta_analysis(effect_sizes(bcg, "RR"),
                           method="DL", test="knha")
    page = b.get("/p/alpha/analysis?outcome=tb&measure=RR&method=DL&test=knha").text
    bt = direct.back_transformed
    assert (f"{bt['estimate']:.3f} ({bt['ci_low']:.3f} to {bt['ci_high']:.3f})") in page
    for kind in ("forest", "funnel"):
        r = b.get(f"/p/alpha/analysis/{kind}.svg?outcome=tb&method=DL&test=knha")
        assert r.status_code == 200 and r.mimetype == "image/svg+xml" and b"<svg" in r.data
    # one click: the link flips the sensitivity analysis on
    link = re.search(r'href="([^"]*sensitivity=1[^"]*)"', page).group(1).replace("&amp;", "&")
    page = b.get(link).text
    syn, _ = _syn(app)
    high = sorted(s.label for s in syn.data.studies.values()
                  if s.quality is not None and s.quality.rating == "high")
    assert len(high) == 6 and all(str(escape(h)) in page.split("Left out")[1] for h in high)
    assert ">7<" in page  # 13 trials less the 6 at high risk
    assert "Show all studies" in page
    bad = b.get("/p/alpha/analysis?outcome=tb&measure=XYZ").text
    assert "measure &#39;XYZ&#39;: one of RR, OR, RD" in bad
    assert b.get("/p/alpha/analysis/forest.svg?outcome=tb&measure=XYZ").status_code == 404
    assert b.get("/p/alpha/analysis/forest.svg").status_code == 404  # the page names it all
    page = b.get("/p/alpha/analysis").text  # the default analysis: its images name it in full
    assert "forest.svg?outcome=tb&amp;measure=RR&amp;method=REML&amp;test=z" in page
    assert b.get("/p/beta/analysis").status_code == 404  # vera is not on beta


def test_the_flagship_opened_in_the_app_is_the_folders(workspace, tmp_path):  # noqa: F811
    """The ketamine review imported into a project: the app's GRADE levels, Summary of
    Findings and pooled analyses equal those of the folder, and exporting the project gives
    the folder's data back."""
    flagship = BCG.parent / "ketamine-chronic-pain"
    folder = workspace.extensions["metareview_site"].projects()["alpha"]
    with Project.open(folder) as p:
        p.import_review(load_folder(flagship), actor="alice")
        exported = load_folder(p.export_review(tmp_path / "back"))
    data = load_folder(flagship)
    assert exported.fingerprint() == data.fingerprint()
    syn = synthesize(data)
    b = Browser(workspace)
    b.sign_in("alice")
    grade = b.get("/p/alpha/grade").text
    levels = re.findall(r'Certainty: <span class="cert cert-[a-z-]+">([a-z ]+)<', grade)
    assert levels == [g.level for g in syn.grades]
    assert panel_sof(syn).to_html() in b.get("/p/alpha/sof").text
    for p in syn.pooled:
        if p.ratio is None:
            continue
        bt = p.ratio.back_transformed
        page = b.get(f"/p/alpha/analysis?outcome={p.category}").text
        assert f"{bt['estimate']:.3f} ({bt['ci_low']:.3f} to {bt['ci_high']:.3f})" in page


def test_the_flagships_report_from_the_app_is_the_folders(workspace):  # noqa: F811
    """A project made only from the review folder (no records of its own) reports the flow the
    review itself reported, so its report is the folder's report, byte for byte."""
    from metareview.report.review_report import build_report, render_html

    site = workspace.extensions["metareview_site"]
    alice = next(u for u in [site.authenticate("alice", "correct horse battery", "t")] if u)
    site.create_project(alice, "flagship", "Flagship")
    flagship = BCG.parent / "ketamine-chronic-pain"
    with Project.open(site.projects()["flagship"]) as p:
        p.import_review(load_folder(flagship), actor="alice")
    b = Browser(workspace)
    b.sign_in("alice")
    r = b.get("/p/flagship/report.html")
    assert r.status_code == 200
    assert r.text == render_html(build_report(synthesize(load_folder(flagship)), None))
