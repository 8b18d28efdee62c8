"""The studies step through the command line: reports linked to studies at full text, a review
folder in and out of a project, extraction and rows checked against the protocol, the report
built from the project, and PRISMA's studies and reports counted from the links.

Runs on SQLite and, when a server is reachable, PostgreSQL (``db_url`` fixture).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from metareview.cli import app
from metareview.records.model import ImportBatch, Record
from metareview.screening.prisma import prisma_fields
from metareview.store.project import Project
from metareview.studies import load_folder

FLAGSHIP = Path(__file__).resolve().parents[1] / "reviews" / "ketamine-chronic-pain"
runner = CliRunner()


def cli(*args: object, code: int = 0) -> str:
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == code, res.output
    return res.stdout if code == 0 else res.stderr


@pytest.fixture
def project(tmp_path, db_url) -> Path:
    """A project with four records: 1 and 2 are reports of one trial, 3 of another, and all
    three are included at full text; 4 is excluded."""
    root = tmp_path / "rv"
    recs = tuple(Record(title=t, authors=(a,), year=2023, doi=f"10.1/{i}")
                 for i, (t, a) in enumerate((("Infusions for CRPS: trial", "Alvarez, M"),
                                             ("Infusions for CRPS: 1-year follow-up",
                                              "Alvarez, M"),
                                             ("Oral dosing in neuropathic pain", "Bauer, K"),
                                             ("A narrative review", "Chen, L"))))
    with Project.create(root, "studies", db_url=db_url, reviewers_required=1) as p:
        p.add_import(ImportBatch(recs, "PubMed", kind="database", format="ris",
                                 filename="p.ris", sha256="s"))
        for rid in (1, 2, 3, 4):
            p.decide(rid, "title_abstract", "ann", "include")
        for rid in (1, 2, 3):
            p.decide(rid, "full_text", "ann", "include")
        p.decide(4, "full_text", "ann", "exclude", reason="wrong study design")
    return root


def test_reports_of_one_study_are_one_study_in_prisma(project):
    out = json.loads(cli("study", "link", 1, 2, "--study", "Alvarez 2023", "--by", "ann",
                         "-r", project, "--json"))
    assert out == {"study": "alvarez-2023", "records": [1, 2]}
    # An existing study is found by its id; a name that makes the same id is the same study.
    cli("study", "link", 3, "--study", "Bauer 2023", "--label", "Bauer 2023", "--by", "ann",
        "-r", project)
    listed = json.loads(cli("study", "list", "-r", project, "--json"))["studies"]
    assert [(s["id"], s["label"], s["reports"], s["extracted"]) for s in listed] == [
        ("alvarez-2023", "Alvarez 2023", [1, 2], False), ("bauer-2023", "Bauer 2023", [3], False)]
    with Project.open(project) as p:
        counts = prisma_fields(p)
    assert (counts["new_studies"], counts["new_reports"]) == (2, 3)
    # Linking the follow-up report to the other trial instead: still 2 studies, 3 reports.
    cli("study", "link", 2, "--study", "bauer-2023", "--by", "ann", "-r", project)
    with Project.open(project) as p:
        counts = prisma_fields(p)
        assert p.studies() == {1: "alvarez-2023", 2: "bauer-2023", 3: "bauer-2023"}
    assert (counts["new_studies"], counts["new_reports"]) == (2, 3)


def test_folder_into_project_extract_rows_report_and_back_out(project, tmp_path):
    out = json.loads(cli("review", "import", FLAGSHIP, "--by", "ann", "-r", project, "--json"))
    data = load_folder(FLAGSHIP)
    assert out == {"review": "ketamine-chronic-pain", "studies": len(data.studies),
                   "outcomes": len(data.outcomes), "arms": len(data.arms),
                   "placebo_response": len(data.placebo_response), "judgements": 0}

    # A report linked to a new study; the study is then extracted and takes rows.
    cli("study", "link", 1, 2, "--study", "Alvarez 2023", "--by", "ann", "-r", project)
    study = (FLAGSHIP / "studies" / "noppers2011.yaml").read_text(encoding="utf-8")
    extracted = tmp_path / "alvarez-2023.yaml"
    extracted.write_text(study.replace("id: noppers2011", "id: alvarez-2023")
                         .replace("label: Noppers 2011", "label: Alvarez 2023"),
                         encoding="utf-8")
    assert "label: Alvarez 2023" in extracted.read_text(encoding="utf-8")
    cli("study", "extract", extracted, "--by", "ann", "-r", project)
    arms = tmp_path / "arms.csv"
    header = (FLAGSHIP / "arms.csv").read_text(encoding="utf-8").splitlines()[0]
    arms.write_text(header + "\n"
                    "alvarez-2023,any adverse event,any,infusion,intervention,6,20,CRPS,IV,"
                    "multi-day,1-2 weeks,day 14,,parallel,,iscrr2021 Table 8,V,\n"
                    "alvarez-2023,any adverse event,any,saline,control,2,20,CRPS,IV,"
                    "multi-day,1-2 weeks,day 14,,parallel,,iscrr2021 Table 8,V,\n",
                    encoding="utf-8")
    assert json.loads(cli("study", "rows", "--arms", arms, "--by", "ann", "-r", project,
                          "--json")) == {"added": {"arms": 2}}

    listed = {s["id"]: s for s in json.loads(cli("study", "list", "-r", project,
                                                  "--json"))["studies"]}
    assert listed["alvarez-2023"]["extracted"] and listed["alvarez-2023"]["rows"] == 2
    assert listed["alvarez-2023"]["reports"] == [1, 2]

    # The report from the project shows the new study's arms beside Pickering's: two trials,
    # drawn without a pooled estimate (issue 11: pooling needs three trials).
    html_path = tmp_path / "report.html"
    cli("report", project, "--out", html_path)
    html = html_path.read_text(encoding="utf-8")
    assert "Alvarez 2023" in html and "6/20" in html
    assert "Any adverse event: trials not pooled" in html
    assert "Any adverse event: risk ratio" not in html

    # And out again: the folder holds the flagship plus the new study and its two arm rows.
    cli("review", "export", tmp_path / "out", "-r", project)
    back = load_folder(tmp_path / "out")
    assert set(back.studies) == set(data.studies) | {"alvarez-2023"}
    assert back.arms[:len(data.arms)] == data.arms
    assert [(a.study, a.events, a.total) for a in back.arms[len(data.arms):]] == [
        ("alvarez-2023", 6, 20), ("alvarez-2023", 2, 20)]


def test_bad_rows_are_one_line_and_nothing_is_stored(project, tmp_path):
    cli("review", "import", FLAGSHIP, "--by", "ann", "-r", project)
    arms = tmp_path / "arms.csv"
    header = (FLAGSHIP / "arms.csv").read_text(encoding="utf-8").splitlines()[0]
    good = ("pickering2020,any adverse event,any,placebo,control,2,20,neuropathic,unclear,"
            "single,unclear,each period,,parallel,,iscrr2021 Table 8,I,\n")
    arms.write_text(header + "\n" + good + good.replace("neuropathic", "elbow"),
                    encoding="utf-8")
    err = cli("study", "rows", "--arms", arms, "--by", "ann", "-r", project, code=2)
    assert err.count("\n") == 1 and err.startswith("metareview: error: ")
    # The project's arm rows, then the two new ones (header = line 1): the second is bad.
    line = len(load_folder(FLAGSHIP).arms) + 3
    assert f"arms.csv line {line}, column population: 'elbow' is not in the protocol's pain " \
        "type vocabulary" in err
    with Project.open(project) as p:
        assert len(p.review_data().arms) == len(load_folder(FLAGSHIP).arms)
    err = cli("study", "link", 99, "--study", "x", "--by", "ann", "-r", project, code=2)
    assert "record 99" in err
    err = cli("review", "export", tmp_path / "o", "-r", tmp_path / "nowhere", code=2)
    assert "no review here" in err
