"""The living review in the web app: an owner saves a PubMed search and presses "Update now"
(against a local stand-in PubMed: no network), the new records arrive de-duplicated, and the
page shows the change report; the forms refuse what they should."""

from __future__ import annotations

from pathlib import Path

from metareview.store.project import Project
from metareview.studies import load_folder
from tests.test_living_review import fill, pubmed  # noqa: F401  (the fixture)
from tests.test_web import Browser, workspace  # noqa: F401  (the fixture)

BCG = Path(__file__).resolve().parents[1] / "reviews" / "bcg-tuberculosis"


def test_an_owner_saves_a_search_and_updates_from_the_browser(workspace, pubmed):  # noqa: F811
    url, fake = pubmed
    fill(fake)
    workspace.config["METAREVIEW_EUTILS"] = url
    folder = workspace.extensions["metareview_site"].projects()["alpha"]
    with Project.open(folder) as p:
        before = len(p.records())
        p.import_review(load_folder(BCG), actor="alice")
    a = Browser(workspace)
    a.sign_in("alice")
    page = a.get("/p/alpha/living").text
    assert "No saved search yet." in page and "no update" in page.lower()
    r = a.post("/p/alpha/living/searches", {"query": "", "source": "PubMed"})
    assert r.status_code == 302 and "flash error" in a.get("/p/alpha/living").text
    a.post("/p/alpha/living/searches", {"query": "ketamine[tiab] AND pain[tiab]",
                                        "source": "PubMed"})
    page = a.get("/p/alpha/living").text
    assert "ketamine[tiab] AND pain[tiab]" in page and "pubmed-1" in page
    r = a.post("/p/alpha/living/update")
    assert r.status_code == 302
    page = a.get("/p/alpha/living").text
    assert "update 1 on" in page and "new record" in page
    # the change report compares the study data saved by the update with the data now
    changes = page.split("What changed since the last update")[1]
    assert "Tuberculosis cases" in changes and "no update" not in changes.lower()
    with Project.open(folder) as p:
        assert len(p.records()) > before  # PubMed's records arrived
        assert any(e["action"] == "update" or e["action"].startswith("update")
                   for e in p.audit_log())
    # a reviewer may not update or save searches; another project's member gets 404
    b = Browser(workspace)
    b.sign_in("bob")
    assert b.post("/p/alpha/living/update").status_code == 403
    assert b.post("/p/alpha/living/searches", {"query": "x"}).status_code == 403
    assert b.get("/p/beta/living").status_code == 404
    assert a.post("/p/alpha/living/update", token=False).status_code == 400
